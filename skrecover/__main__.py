"""Command line: ``python -m skrecover demo`` and ``python -m skrecover bench``.

``demo`` draws data from a teacher network with known weights, fits TensorInitGD,
MLPRegressor and Ridge on the same training set, and prints one table: how far the
fitted hidden weights are from the true ones, the test R^2, and the fit time.
With ``--dask`` it also fits TensorInitGD on dask arrays on a two-worker local
cluster (every pass over the data runs on the workers).

``bench`` runs the scripts of ``benchmarks/`` (in a source checkout) at their small
``--quick`` sizes, one after the other, showing their rows as they come with the
elapsed time, then prints their tables.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

from sklearn.base import clone
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


def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive_int(text):
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text):
    value = _number(float, text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be finite and >= 0, got {text}")
    return value


def _condition_number(text):
    value = _number(float, text)
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be finite and >= 1, got {text}")
    return value


def demo_parser(parser=None):
    """The arguments of ``demo`` (on ``parser``, or a new one)."""
    parser = parser or argparse.ArgumentParser(prog="python -m skrecover demo")
    parser.description = (
        "Draw data from a teacher network with known weights, recover it with "
        "TensorInitGD, and compare with MLPRegressor and Ridge on the same data: "
        "one table of recovery error, test R^2 and fit time."
    )
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=20_000,
        help="training samples (10 000 more are drawn for testing)",
    )
    parser.add_argument(
        "--n-features", type=_positive_int, default=10, help="Gaussian input features"
    )
    parser.add_argument(
        "--n-hidden",
        type=_positive_int,
        default=5,
        help="hidden units of the teacher (at most --n-features)",
    )
    parser.add_argument(
        "--activation",
        default="squared_relu",
        choices=["relu", "leaky_relu", "squared_relu", "sigmoid", "tanh"],
        help="activation of the teacher and of the fitted networks",
    )
    parser.add_argument(
        "--hidden-biases",
        type=_non_negative_float,
        default=0.0,
        help="standard deviation of the teacher's hidden biases",
    )
    parser.add_argument(
        "--noise",
        type=_non_negative_float,
        default=0.0,
        help="standard deviation of Gaussian noise on the targets",
    )
    parser.add_argument(
        "--condition-number",
        type=_condition_number,
        default=2.0,
        help="ratio of the largest to the smallest singular value of the teacher's "
        "hidden weights",
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of the data and the fits"
    )
    parser.add_argument(
        "--dask",
        action="store_true",
        help="also fit TensorInitGD on dask arrays on a two-worker local cluster "
        "(needs dask and distributed)",
    )
    return parser


def demo(argv=None, parser=None):
    """Fit TensorInitGD and baselines on a teacher network; print one table."""
    parser = demo_parser(parser)
    args = parser.parse_args(argv)
    if args.n_hidden > args.n_features:
        parser.error(
            f"--n-hidden {args.n_hidden} is larger than --n-features "
            f"{args.n_features}: the tensor method needs linearly independent units."
        )
    X, y, teacher = make_teacher_regression(
        n_samples=args.n_samples + 10_000,
        n_features=args.n_features,
        n_hidden=args.n_hidden,
        activation=args.activation,
        hidden_biases=args.hidden_biases or None,
        condition_number=args.condition_number,
        noise=args.noise,
        random_state=args.random_state,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=10_000, random_state=args.random_state
    )
    biases = (
        f", hidden biases of standard deviation {args.hidden_biases:g}"
        if args.hidden_biases
        else ""
    )
    print(
        f"Teacher: {args.n_hidden} {args.activation} units on {args.n_features} "
        f"Gaussian features, condition number {args.condition_number:g}{biases}, "
        f"noise {args.noise:g}; {len(X_train)} training and {len(X_test)} test "
        "samples.\n"
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
    data = [(X_train, y_train)] * len(models)
    with contextlib.ExitStack() as stack:
        if args.dask:
            models.insert(1, ("TensorInitGD, dask (2 workers)", clone(models[0][1])))
            data.insert(1, _on_local_cluster(parser, stack, X_train, y_train))
        rows = _fit_all(models, data, teacher, X_test, y_test)
    print()
    _print_table(rows)
    return rows


def _on_local_cluster(parser, stack, X, y):
    """``X`` and ``y`` as dask arrays (4 chunks) on a two-worker local cluster that
    lives as long as ``stack``."""
    try:
        import dask.array as da
        from distributed import Client, LocalCluster
    except ImportError:
        parser.error("--dask needs dask and distributed: pip install 'skrecover[dask]'")
    print("Starting a local dask cluster (2 workers) ...", flush=True)
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    )
    stack.enter_context(Client(cluster))
    rows = -(-len(X) // 4)
    return da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)


def _fit_all(models, data, teacher, X_test, y_test):
    rows = []
    for index, ((name, model), (X_train, y_train)) in enumerate(
        zip(models, data, strict=True), 1
    ):
        print(f"[{index}/{len(models)}] fitting {name} ...", flush=True)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        print(f"[{index}/{len(models)}] {name}: {elapsed:.2f} s", flush=True)
        rows.append(
            (
                name,
                _recovery(teacher, name, model),
                model.score(X_test, y_test),
                elapsed,
            )
        )
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
        "\nrecovery error: max over hidden units of ||(w, b)_fit - (w, b)_true|| / "
        "||(w, b)_true|| after matching units (w: weights, b: hidden bias); n/a "
        "where the model has no comparable hidden layer."
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


_COMMANDS = {
    "demo": "recover a teacher network with TensorInitGD beside MLPRegressor and "
    "Ridge, and print one table",
    "bench": "run the benchmark scripts at small sizes and print their tables",
}


def main(argv=None):
    """``python -m skrecover {demo,bench}``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m skrecover",
        description="skrecover: provable algorithms for learning shallow neural "
        "networks, as scikit-learn estimators.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{demo,bench}")
    for name, summary in _COMMANDS.items():
        commands.add_parser(name, help=summary, description=summary, add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    if argv[0] not in _COMMANDS:
        # Let argparse print the usage and a one-line error (exit code 2).
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            return exit.code
    prog = f"python -m skrecover {argv[0]}"
    if argv[0] == "demo":
        demo(argv[1:], argparse.ArgumentParser(prog=prog))
        return 0
    outcomes = bench(argv[1:])
    return 1 if any(code for _, code in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
