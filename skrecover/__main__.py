"""Command line: ``python -m skrecover demo``.

``demo`` draws data from a teacher network with known weights, fits TensorInitGD,
MLPRegressor and Ridge on the same training set, and prints one table: how far the
fitted hidden weights are from the true ones, the test R^2, and the fit time.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import time
import warnings

from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

from . import TensorInitGD
from .datasets import make_teacher_regression
from .metrics import recovery_error

# MLPRegressor's name for each teacher activation it also offers.
_MLP_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


class _MLPWeights:
    """The first layer of a fitted MLPRegressor in skrecover's layout.

    MLPRegressor adds a bias to every hidden unit; the comparison ignores them.
    """

    def __init__(self, mlp):
        self.hidden_weights_ = mlp.coefs_[0].T
        self.output_weights_ = mlp.coefs_[1][:, 0]
        self.intercept_ = float(mlp.intercepts_[1][0])


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
        return f"{recovery_error(teacher, _MLPWeights(model)):.2e}"
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
        "after matching units (MLP hidden biases ignored); n/a where the model has "
        "no comparable hidden layer."
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = {"demo": demo}
    if not argv or argv[0] not in commands:
        print("usage: python -m skrecover demo [--help]", file=sys.stderr)
        return 2
    commands[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
