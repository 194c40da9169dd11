"""Passes over the data per fit, float32 against float64, races with matched MLPs.

A pass is one forward pass of the fitted model over the training rows
(``predict``), timed in the same process on the same array, so ``passes = fit
time / one pass`` does not depend on the machine. Each configuration is fitted
``--repeats`` times: medians, with the range over the repeats. Sections:

- ``tensor``: TensorInitGD at n = 1e6, d = 100, k = 10 on well-conditioned
  teachers (``make_teacher_regression``), noise-free unless stated, float64 and
  float32; test R^2 on 100 000 fresh rows of the same teacher. float32 against
  float64 is timed in interleaved pairs of fits (relu and tanh).
- ``moments``: MomentRecovery at n = 1e6, d = 50, k = 10, l = 20 (Gaussian inputs).
- ``convotron``: Convotron's batch solver at n = 20 000, patch 16 of d = 160, strides
  16, 9 and 1 (a pass reads every patch once).
- ``race``: time to test R^2 >= max(MLP's, 0.9999) against
  ``MLPRegressor(hidden_layer_sizes=(k,), activation, max_iter=200)`` at n = 1e5,
  d = 20, k = 5 (relu, tanh with output weights +-1 and all +1, sigmoid).
- ``memory``: peak memory a fit allocates (tracemalloc), relative to X.

Run ``python benchmarks/bench_passes.py`` (about 10 minutes on 2 cores), or
``--quick`` (smaller sizes, one fit each), or ``--sections tensor,race``, or
``--activations relu,tanh``. Tables go to stdout and to
``benchmarks/results/passes.md``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import fit_peak_memory, markdown, print_row, write_report
from sklearn.neural_network import MLPRegressor

from skrecover import Convotron, MomentRecovery, TensorInitGD
from skrecover.datasets import (
    make_teacher_convolution,
    make_teacher_regression,
    make_teacher_two_layer,
)

N_TEST = 100_000
SECTIONS = ("tensor", "moments", "convotron", "race", "memory")


def one_pass_seconds(model, X, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fit_passes(make_model, X, y, repeats):
    """Median fit time and passes (with their ranges) of ``repeats`` fresh fits."""
    fits, passes = [], []
    for _ in range(repeats):
        model = make_model()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        fits.append(time.perf_counter() - start)
        passes.append(fits[-1] / one_pass_seconds(model, X))
    return model, {
        "fit_s": float(np.median(fits)),
        "fit_range_s": f"{min(fits):.3g}-{max(fits):.3g}",
        "passes": float(np.median(passes)),
        "passes_range": f"{min(passes):.3g}-{max(passes):.3g}",
    }


def split(X, y, n_samples):
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def tensor_rows(activations, n_samples, repeats):
    configs = [(a, 0.0, "float64") for a in activations]
    configs += [("relu", 0.1, "float64"), ("relu", 0.0, "float32")] * (
        "relu" in activations
    )
    configs += [("tanh", 0.0, "float32")] * ("tanh" in activations)
    rows = []
    for activation, noise, dtype in configs:
        X, y, _ = make_teacher_regression(
            n_samples=n_samples + N_TEST,
            n_features=100,
            n_hidden=10,
            activation=activation,
            noise=noise,
            random_state=0,
        )
        X, y, X_test, y_test = split(X.astype(dtype), y, n_samples)
        model, timing = fit_passes(
            lambda a=activation: TensorInitGD(
                n_hidden=10, activation=a, random_state=0
            ),
            X,
            y,
            repeats,
        )
        rows.append(
            {
                "activation": activation,
                "noise": noise,
                "dtype": dtype,
                **timing,
                "n_iter": model.n_iter_,
                "moment_rows": model.diagnostics_.get("moment_rows"),
                "test_r2": float(model.score(X_test, y_test)),
                "1-test_r2": float(1 - model.score(X_test, y_test)),
            }
        )
        print_row(rows[-1])
    return rows


def float32_pairs(activations, n_samples, repeats):
    """float32 fit time over float64's in interleaved pairs of fits on the same
    data (a shared machine's speed drifts between the configurations of the
    passes table): the median and range of the pairs' ratios, and the difference
    of their test R^2."""
    rows = []
    for activation in [a for a in ("relu", "tanh") if a in activations]:
        X, y, _ = make_teacher_regression(
            n_samples=n_samples + N_TEST,
            n_features=100,
            n_hidden=10,
            activation=activation,
            random_state=0,
        )
        X, y, X_test, y_test = split(X, y, n_samples)
        ratios, scores = [], {}
        for _ in range(repeats):
            seconds = {}
            for data in (X, X.astype(np.float32)):
                model = TensorInitGD(n_hidden=10, activation=activation, random_state=0)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(data, y)
                seconds[data.dtype.name] = time.perf_counter() - start
                test = X_test.astype(data.dtype)
                scores[data.dtype.name] = model.score(test, y_test)
            ratios.append(seconds["float32"] / seconds["float64"])
        rows.append(
            {
                "activation": activation,
                "float32_over_float64_time": float(np.median(ratios)),
                "ratio_range": f"{min(ratios):.3g}-{max(ratios):.3g}",
                "test_r2_difference": float(scores["float32"] - scores["float64"]),
            }
        )
        print_row(rows[-1])
    return rows


def moment_rows(n_samples, repeats):
    X, y, teacher = make_teacher_two_layer(
        n_samples + N_TEST, 50, 10, 20, random_state=0
    )
    X, y, X_test, _ = split(X, y, n_samples)
    model, timing = fit_passes(lambda: MomentRecovery(random_state=0), X, y, repeats)
    y_test = teacher.predict(X_test)
    row = {
        "n": n_samples,
        "d": 50,
        "k": 10,
        "l": 20,
        **timing,
        "1-test_r2": float(1 - model.score(X_test, y_test)),
    }
    print_row(row)
    return [row]


def convotron_rows(n_samples, repeats):
    rows = []
    for stride in (16, 9, 1):
        X, y, teacher = make_teacher_convolution(
            n_samples=n_samples + 5000,
            n_features=160,
            patch_size=16,
            stride=stride,
            random_state=0,
        )
        X, y, *_ = split(X, y, n_samples)
        model, timing = fit_passes(
            lambda s=stride: Convotron(patch_size=16, stride=s, max_iter=2000),
            X,
            y,
            repeats,
        )
        rows.append(
            {
                "stride": stride,
                "n": n_samples,
                **timing,
                "n_iter": model.n_iter_,
                "filter_error": float(
                    np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights)
                ),
            }
        )
        print_row(rows[-1])
    return rows


RACE_TEACHERS = [
    ("relu", "sign"),
    ("tanh", "sign"),
    ("tanh", "positive"),
    ("logistic", "sign"),
]


def race_rows(n_samples, repeats):
    """Our fit against MLPRegressor of the teacher's width and activation: time to
    a test R^2 of max(MLP's final one, 0.9999) (MLP: its whole fit; None when a
    model never gets there)."""
    rows = []
    for activation, output_weights in RACE_TEACHERS:
        ours_activation = "sigmoid" if activation == "logistic" else activation
        X, y, _ = make_teacher_regression(
            n_samples=n_samples + N_TEST,
            n_features=20,
            n_hidden=5,
            activation=ours_activation,
            output_weights=output_weights,
            random_state=0,
        )
        X, y, X_test, y_test = split(X, y, n_samples)
        mlp, mlp_timing = fit_passes(
            lambda a=activation: MLPRegressor(
                hidden_layer_sizes=(5,), activation=a, max_iter=200, random_state=0
            ),
            X,
            y,
            1,
        )
        ours, our_timing = fit_passes(
            lambda a=ours_activation: TensorInitGD(
                n_hidden=5, activation=a, random_state=0
            ),
            X,
            y,
            repeats,
        )
        mlp_r2, our_r2 = mlp.score(X_test, y_test), ours.score(X_test, y_test)
        target = max(mlp_r2, 0.9999)
        mlp_time = mlp_timing["fit_s"] if mlp_r2 >= target else None
        our_time = our_timing["fit_s"] if our_r2 >= target else None
        rows.append(
            {
                "activation": ours_activation,
                "output_weights": output_weights,
                "target_1-r2": float(1 - target),
                "ours_s": our_timing["fit_s"],
                "ours_range_s": our_timing["fit_range_s"],
                "ours_1-r2": float(1 - our_r2),
                "mlp_s": mlp_timing["fit_s"],
                "mlp_1-r2": float(1 - mlp_r2),
                "mlp_to_target_s": mlp_time,
                "ours_to_target_s": our_time,
                "mlp_over_ours": (
                    mlp_timing["fit_s"] / our_time if our_time is not None else None
                ),
            }
        )
        print_row(rows[-1])
    return rows


def memory_rows(n_samples):
    rows, fits = [], []
    for activation in ("relu", "squared_relu"):
        X, y, _ = make_teacher_regression(
            n_samples=n_samples,
            n_features=100,
            n_hidden=10,
            activation=activation,
            random_state=0,
        )
        model = TensorInitGD(n_hidden=10, activation=activation, random_state=0)
        fits.append((f"TensorInitGD {activation}", model, X, y))
    X2, y2, _ = make_teacher_two_layer(n_samples, 50, 10, 20, random_state=0)
    fits.append(("MomentRecovery", MomentRecovery(random_state=0), X2, y2))
    X3, y3, _ = make_teacher_convolution(
        n_samples=n_samples // 10, n_features=160, patch_size=16, stride=9
    )
    fits.append(("Convotron stride 9", Convotron(patch_size=16, stride=9), X3, y3))
    for name, model, X_, y_ in fits:
        peak = fit_peak_memory(model, X_, y_)
        rows.append(
            {
                "estimator": name,
                "X_bytes": X_.nbytes,
                "fit_peak_bytes": peak,
                "ratio": peak / X_.nbytes,
            }
        )
        print_row(rows[-1])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--activations",
        default="relu,leaky_relu,squared_relu,tanh,sigmoid",
        help="comma-separated activations of the tensor section",
    )
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n / 10, one fit")
    parser.add_argument("--name", default="passes")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    repeats = 1 if args.quick else args.repeats
    sections = args.sections.split(",")
    tables = []
    if "tensor" in sections:
        n = 1_000_000 // scale
        rows = tensor_rows(args.activations.split(","), n, repeats)
        title = f"TensorInitGD, n = {n:.0e}, d = 100, k = 10: passes = fit / one pass"
        tables.append(markdown(title, rows))
        pairs = float32_pairs(args.activations.split(","), n, repeats)
        tables.append(markdown("float32 against float64, interleaved pairs", pairs))
    if "moments" in sections:
        n = 1_000_000 // scale
        rows = moment_rows(n, repeats)
        tables.append(markdown(f"MomentRecovery, n = {n:.0e}, d = 50, k = 10", rows))
    if "convotron" in sections:
        n = 20_000 // scale
        tables.append(
            markdown(f"Convotron batch solver, n = {n}", convotron_rows(n, repeats))
        )
    if "race" in sections:
        n = 100_000 // scale
        tables.append(
            markdown(
                f"Race with MLPRegressor of the teacher's width, n = {n:.0e}, d = 20, "
                "k = 5 (times in seconds)",
                race_rows(n, repeats),
            )
        )
    if "memory" in sections:
        n = 1_000_000 // scale
        tables.append(markdown("Peak memory of a fit", memory_rows(n)))
    write_report(
        args.name,
        "Passes over the data, float32, races and memory",
        tables,
        timing=f"medians of {repeats} fits, with their range (MLPs: one fit)",
    )


if __name__ == "__main__":
    main()
