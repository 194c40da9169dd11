"""Passes over the data per TensorInitGD fit at n = 1e6, d = 100, k = 10.

A pass is one forward pass of the fitted network over the training rows
(``predict``), timed in the same process on the same array, so ``passes = fit
time / one pass`` does not depend on the machine. Teachers are well conditioned
(``make_teacher_regression``), noise-free unless stated; the test R^2 is on
100 000 fresh rows of the same teacher. Each configuration is fitted ``--repeats``
times: medians, with the range over the repeats.

Run ``python benchmarks/bench_passes.py`` (about 6 minutes on 2 cores with the
default activations; sigmoid, much slower today, with ``--activations sigmoid``),
or ``--quick`` (n = 1e5, one fit each). Tables go to stdout and to
``benchmarks/results/passes.md``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import markdown, print_row, write_report

from skrecover import TensorInitGD
from skrecover.datasets import make_teacher_regression

N_TEST, N_FEATURES, N_HIDDEN = 100_000, 100, 10


def one_pass_seconds(model, X, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(activation, noise, dtype, n_samples, repeats):
    X, y, _ = make_teacher_regression(
        n_samples=n_samples + N_TEST,
        n_features=N_FEATURES,
        n_hidden=N_HIDDEN,
        activation=activation,
        noise=noise,
        random_state=0,
    )
    X = X.astype(dtype)
    X_test, y_test, X, y = X[n_samples:], y[n_samples:], X[:n_samples], y[:n_samples]
    fits, passes = [], []
    for _ in range(repeats):
        model = TensorInitGD(n_hidden=N_HIDDEN, activation=activation, random_state=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        fits.append(time.perf_counter() - start)
        passes.append(fits[-1] / one_pass_seconds(model, X))
    return {
        "activation": activation,
        "noise": noise,
        "dtype": dtype,
        "fit_s": float(np.median(fits)),
        "fit_range_s": f"{min(fits):.3g}-{max(fits):.3g}",
        "passes": float(np.median(passes)),
        "passes_range": f"{min(passes):.3g}-{max(passes):.3g}",
        "n_iter": model.n_iter_,
        "moment_rows": model.diagnostics_.get("moment_rows"),
        "test_r2": float(model.score(X_test, y_test)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--activations",
        default="relu,leaky_relu,squared_relu,tanh",
        help="comma-separated activations (noise-free, float64)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n = 1e5, one fit")
    parser.add_argument("--name", default="passes")
    args = parser.parse_args()
    n_samples = 100_000 if args.quick else 1_000_000
    repeats = 1 if args.quick else args.repeats
    configs = [(a, 0.0, "float64") for a in args.activations.split(",")]
    configs += [("relu", 0.1, "float64"), ("relu", 0.0, "float32")]
    rows = []
    for activation, noise, dtype in configs:
        rows.append(measure(activation, noise, dtype, n_samples, repeats))
        print_row(rows[-1])
    write_report(
        args.name,
        f"Passes over the data per TensorInitGD fit (n = {n_samples:.0e}, d = 100, "
        "k = 10)",
        [markdown("Passes = fit time / one forward pass, same process", rows)],
        timing=f"medians of {repeats} fits, with their range",
    )


if __name__ == "__main__":
    main()
