"""Command line: ``python -m skrecover demo`` and ``python -m skrecover bench``.

``demo`` draws data from a teacher network with known weights, fits TensorInitGD,
MLPRegressor and Ridge on the same training set, and prints one table: how far the
fitted hidden weights are from the true ones, the test R^2, and the fit time.

``bench`` runs the scripts of ``benchmarks/`` (in a source checkout) at their small
``--quick`` sizes, one after the other, showing their rows as they come with the
elapsed time, then prints their tables.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

from . import Network, TensorInitGD
from .activations import get_activation
from .datasets import make_teacher_regression
from .metrics import recovery_error

# MLPRegressor's name for each teacher activation it also offers.
_MLP_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def _mlp_network(mlp, activation):
    """A fitted one-hidden-layer MLPRegressor as a :class:`~skrecover.Network`."""
    return Network(
        mlp.coefs_[0].T,
        mlp.coefs_[1][:, 0],
        get_activation(activation),
        intercept=float(mlp.intercepts_[1][0]),
        hidden_biases=mlp.intercepts_[0],
    )


def demo(argv=None):
    """Fit TensorInitGD and baselines on a teacher network; print one table."""
    parser = argparse.ArgumentParser(
        prog="python -m skrecover demo",
        description="Recover a teacher network with TensorInitGD and compare it with "
        "MLPRegressor and Ridge on the same data.",
    )
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-hidden", type=int, default=5)
    parser.add_argument(
        "--activation",
        default="squared_relu",
        choices=["relu", "leaky_relu", "squared_relu", "sigmoid", "tanh"],
    )
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--condition-number", type=float, default=2.0)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, teacher = make_teacher_regression(
        n_samples=args.n_samples + 10_000,
        n_features=args.n_features,
        n_hidden=args.n_hidden,
        activation=args.activation,
        condition_number=args.condition_number,
        noise=args.noise,
        random_state=args.random_state,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=10_000, random_state=args.random_state
    )
    print(
        f"Teacher: {args.n_hidden} {args.activation} units on {args.n_features} "
        f"Gaussian features, condition number {args.condition_number:g}, noise "
        f"{args.noise:g}; {len(X_train)} training and {len(X_test)} test samples.\n"
    )
    models = [
        (
            "TensorInitGD",
            TensorInitGD(
                n_hidden=args.n_hidden,
                activation=args.activation,
                random_state=args.random_state,
            ),
        )
    ]
    if args.activation in _MLP_ACTIVATIONS:
        models.append(
            (
                f"MLPRegressor({args.n_hidden} units)",
                MLPRegressor(
                    hidden_layer_sizes=(args.n_hidden,),
                    activation=_MLP_ACTIVATIONS[args.activation],
                    random_state=args.random_state,
                ),
            )
        )
    models += [
        ("MLPRegressor(100 units)", MLPRegressor(random_state=args.random_state)),
        ("Ridge", Ridge()),
    ]
    rows = []
    for name, model in models:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        rows.append(
            (
                name,
                _recovery(teacher, name, model),
                model.score(X_test, y_test),
                elapsed,
            )
        )
    _print_table(rows)
    return rows


def _recovery(teacher, name, model):
    if isinstance(model, TensorInitGD):
        return f"{recovery_error(teacher, model):.2e}"
    if (
        name.startswith("MLPRegressor(")
        and model.coefs_[0].shape[1] == teacher.n_hidden
    ):
        network = _mlp_network(model, teacher.activation)
        return f"{recovery_error(teacher, network):.2e}"
    return "n/a"


def _print_table(rows):
    header = ("model", "recovery error", "test R^2", "fit time (s)")
    lines = [header] + [
        (name, error, f"{r2:.6f}", f"{seconds:.2f}")
        for name, error, r2, seconds in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = zip(line, widths, strict=True)
        print("  ".join(cell.ljust(width) for cell, width in cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(
        "\nrecovery error: max over hidden units of ||w_fit - w_true|| / ||w_true|| "
        "after matching units (hidden biases not compared); n/a where the model has "
        "no comparable hidden layer."
    )


_BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def bench(argv=None):
    """Run the benchmark scripts at small sizes; return their names and exit codes."""
    parser = argparse.ArgumentParser(
        prog="python -m skrecover bench",
        description="Run benchmarks/bench_*.py at small sizes (--quick) and print "
        "their tables; results go to benchmarks/results/<name>_quick.md.",
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list them and exit")
    parser.add_argument(
        "--dir", type=Path, default=_BENCHMARKS, help="the benchmarks directory"
    )
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(
            f"no benchmarks directory at {args.dir}: the benchmarks live in the "
            "source repository (pip install -e . from a checkout), or pass --dir."
        )
    scripts = {
        p.stem.removeprefix("bench_"): p for p in sorted(args.dir.glob("bench_*.py"))
    }
    if args.list:
        print("\n".join(scripts))
        return []
    unknown = sorted(set(args.names) - set(scripts))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; available: {sorted(scripts)}")
    chosen = args.names or list(scripts)
    outcomes = []
    for index, name in enumerate(chosen, 1):
        outcomes.append((name, _run_benchmark(scripts[name], index, len(chosen))))
    failed = [name for name, code in outcomes if code]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} benchmarks ran", end="")
    print(f"; failed: {', '.join(failed)}" if failed else ".")
    return outcomes


def _run_benchmark(script, index, total):
    """Run one script, echoing its lines with a progress prefix; print its report."""
    name = script.stem.removeprefix("bench_")
    report_name = f"{name}_quick"
    start = time.perf_counter()
    print(f"[{index}/{total}] {name}: running", flush=True)
    process = subprocess.Popen(
        [sys.executable, str(script), "--quick", "--name", report_name],
        cwd=script.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:
        elapsed = time.perf_counter() - start
        print(f"[{index}/{total} {name} {elapsed:5.0f} s] {line.rstrip()}", flush=True)
    code = process.wait()
    elapsed = time.perf_counter() - start
    status = "done" if code == 0 else f"FAILED (exit {code})"
    print(f"[{index}/{total}] {name}: {status} in {elapsed:.0f} s", flush=True)
    report = script.parent / "results" / f"{report_name}.md"
    if code == 0 and report.exists():
        print(report.read_text(), flush=True)
    return code


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = {"demo": demo, "bench": bench}
    if not argv or argv[0] not in commands:
        print("usage: python -m skrecover {demo,bench} [--help]", file=sys.stderr)
        return 2
    result = commands[argv[0]](argv[1:])
    if argv[0] == "bench" and any(code for _, code in result):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
