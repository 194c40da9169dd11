"""TensorInitGD against MLPRegressor: same data, same process, ratios.

Four measurements:

1. race: time until the test R^2 reaches 0.999 and 0.99999 (or, when
   MLPRegressor never does within its budget, its time to its best R^2), for
   TensorInitGD (the cheapest max_iter that gets there) and for MLPRegressor
   trained epoch by epoch with partial_fit (adam), with the teacher's
   architecture (matched activation) and with the default 100 ReLU units;
2. scaling: TensorInitGD fit time over n = 1e4 ... 1e6 at d = 100, k = 10, and the
   slope of log(time) against log(n) (1 = linear);
3. big: n = 1e6, d = 100, k = 10, noise-free and noisy: fit time and recovery error;
4. memory: the peak memory a fit allocates (tracemalloc), relative to the size of X.

Run ``python benchmarks/bench_tensor_init_gd.py`` (about 15 minutes on 2 cores), or
``--quick`` for small sizes. Tables go to stdout and to
``benchmarks/results/tensor_init_gd.md``.
"""

import argparse
from functools import partial

import numpy as np
from _common import (
    epoch_race,
    fit_peak_memory,
    markdown,
    print_row,
    timed_fit,
    write_report,
)
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor

from skrecover import TensorInitGD
from skrecover.datasets import make_teacher_regression
from skrecover.metrics import recovery_error

MLP_ACTIVATION = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def teacher(activation, n_samples, n_features, n_hidden, noise, seed, n_test=20_000):
    X, y, net = make_teacher_regression(
        n_samples=n_samples + n_test,
        n_features=n_features,
        n_hidden=n_hidden,
        activation=activation,
        noise=noise,
        random_state=seed,
    )
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:], net


def fit_ours(X, y, n_hidden, activation, seed, repeats=3, max_iter=200):
    """Median fit time over ``repeats`` fits; the last model."""
    return timed_fit(
        partial(
            TensorInitGD,
            n_hidden=n_hidden,
            activation=activation,
            max_iter=max_iter,
            random_state=seed,
        ),
        X,
        y,
        repeats,
    )


def ours_time_to(X, y, X_test, y_test, n_hidden, activation, targets):
    """For each target R^2, the fit time with the smallest max_iter (0, 1, 2, 4, ...)
    whose model reaches it: what a user who stops early pays."""
    found = {}
    for max_iter in [0] + [2**i for i in range(11)]:
        model, seconds = fit_ours(X, y, n_hidden, activation, 0, max_iter=max_iter)
        score = model.score(X_test, y_test)
        for target in targets:
            if target not in found and score >= target:
                found[target] = seconds
        if len(found) == len(targets) or model.n_iter_ < max_iter:
            break
    return [found.get(target) for target in targets]


def test_r2(X_test, y_test, model):
    return r2_score(y_test, model.predict(X_test))


def race(configs, budget, targets=(0.999, 0.99999)):
    rows = []
    for activation, n, d, k, noise in configs:
        X, y, X_test, y_test, net = teacher(activation, n, d, k, noise, seed=0)
        ours, ours_full = fit_ours(X, y, k, activation, seed=0)
        ours_targets = [
            None if t is None else min(t, ours_full)
            for t in ours_time_to(X, y, X_test, y_test, k, activation, targets)
        ]
        baselines = []
        if activation in MLP_ACTIVATION:
            baselines.append(
                (
                    f"MLP({k} {MLP_ACTIVATION[activation]})",
                    MLPRegressor(
                        hidden_layer_sizes=(k,),
                        activation=MLP_ACTIVATION[activation],
                        random_state=0,
                    ),
                )
            )
        baselines.append(("MLP(100 relu)", MLPRegressor(random_state=0)))
        for name, mlp in baselines:
            reached, best, at_best, epochs = epoch_race(
                mlp, X, y, partial(test_r2, X_test, y_test), targets, budget
            )
            row = dict(
                setting=f"{activation} n={n:.0e} d={d} k={k} noise={noise}",
                baseline=name,
                ours_fit=ours_full,
                ours_test_r2=ours.score(X_test, y_test),
                ours_recovery=recovery_error(net, ours),
                mlp_best_r2=best,
                mlp_epochs=epochs,
            )
            for target, mine, theirs in zip(
                targets, ours_targets, reached, strict=True
            ):
                # Missed targets compare at the best R^2 the MLP reached (its time).
                theirs_or_best = at_best if theirs is None else theirs
                label = f"R2>={target}"
                row[f"ours_to_{label}"] = mine
                row[f"mlp_to_{label}"] = (
                    theirs
                    if theirs is not None
                    else f">{budget:.0f} (best at {at_best:.3g})"
                )
                row[f"ratio_{label}"] = theirs_or_best / mine if mine else None
            rows.append(row)
            print_row(rows[-1])
    return rows


def scaling(sizes, d, k, activation, noise):
    X_all, y_all, X_test, y_test, net = teacher(activation, max(sizes), d, k, noise, 1)
    X_all = X_all[: max(sizes)]
    rows = []
    for n in sizes:
        X, y = np.ascontiguousarray(X_all[:n]), y_all[:n]
        model, seconds = fit_ours(X, y, k, activation, seed=0, repeats=2)
        rows.append(fit_row(model, seconds, X_test, y_test, net, n=n))
    slope = np.polyfit(
        np.log([r["n"] for r in rows]), np.log([r["fit_time"] for r in rows]), 1
    )[0]
    return rows, float(slope)


def fit_row(model, seconds, X_test, y_test, net, **setting):
    """One printed table row for a fitted TensorInitGD."""
    row = dict(
        **setting,
        fit_time=seconds,
        iterations=model.n_iter_,
        test_r2=model.score(X_test, y_test),
        recovery_error=recovery_error(net, model),
    )
    print_row(row)
    return row


def memory(n, d, k, activation):
    X, y, _, _, _ = teacher(activation, n, d, k, 0.0, 2, n_test=10)
    peak = fit_peak_memory(
        TensorInitGD(n_hidden=k, activation=activation, random_state=0), X, y
    )
    return dict(n=n, d=d, X_bytes=X.nbytes, fit_peak_bytes=peak, ratio=peak / X.nbytes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument(
        "--name", default="tensor_init_gd", help="results/<name>.md is written"
    )
    args = parser.parse_args(argv)
    if args.quick:
        race_configs = [("relu", 20_000, 10, 5, 0.0)]
        sizes, big, budget = [10_000, 30_000, 100_000], [], 20
        memory_sizes = [(100_000, 50, 5)]
    else:
        race_configs = [
            ("squared_relu", 100_000, 20, 5, 0.0),
            ("relu", 100_000, 20, 5, 0.0),
            ("tanh", 100_000, 20, 5, 0.0),
            ("relu", 100_000, 20, 5, 0.05),
        ]
        sizes, budget = [10_000, 30_000, 100_000, 300_000, 1_000_000], 120
        big = [("squared_relu", 0.0), ("relu", 0.0), ("relu", 0.1), ("tanh", 0.0)]
        memory_sizes = [(1_000_000, 100, 10)]

    report = []
    print("1. Race to test R^2 >= 0.999 (ratio = MLP time / TensorInitGD time)")
    report.append(markdown("Race to test R^2 >= 0.999", race(race_configs, budget)))
    print("2. Scaling in n (d=100, k=10, squared ReLU, noise 0.1)")
    scale_rows, slope = scaling(sizes, 100, 10, "squared_relu", 0.1)
    report.append(
        markdown(f"Scaling in n (slope of log time vs log n: {slope:.2f})", scale_rows)
    )
    print(f"   slope of log(time) against log(n): {slope:.2f}")
    big_rows = []
    for activation, noise in big:
        X, y, X_test, y_test, net = teacher(activation, 1_000_000, 100, 10, noise, 3)
        model, seconds = fit_ours(X, y, 10, activation, seed=0, repeats=1)
        big_rows.append(
            fit_row(
                model, seconds, X_test, y_test, net, activation=activation, noise=noise
            )
        )
        del X, y
    if big_rows:
        report.append(markdown("n = 1e6, d = 100, k = 10", big_rows))
    memory_rows = [memory(n, d, k, "relu") for n, d, k in memory_sizes]
    for row in memory_rows:
        print_row(row)
    report.append(
        markdown(
            "Peak memory allocated by fit (tracemalloc), relative to X", memory_rows
        )
    )
    write_report(args.name, "TensorInitGD benchmark", report)


if __name__ == "__main__":
    main()
