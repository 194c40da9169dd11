"""Calibration of confidence_intervals, and the cost of certify=True.

1. Coverage: for each teacher family, 30 noisy held-out teachers (new weights and
   data per teacher); the share of the true canonical weights (every trained
   hidden weight, bias, output weight and intercept, units matched) inside their
   95% intervals, pooled, with the range over the teachers. The target of the
   issue: 90-98%.
2. Cost: fit time with certify=False and certify=True, the certificate's passes
   over the training rows, at n = 100 000.

Run ``python benchmarks/bench_intervals.py`` (about 10 minutes) or ``--quick``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import markdown, print_row, write_report

from skrecover import MomentRecovery, TensorInitGD, TensorInitGDClassifier
from skrecover._network import canonicalize
from skrecover.activations import ReLU
from skrecover.datasets import (
    make_teacher_classification,
    make_teacher_regression,
    make_teacher_two_layer,
)
from skrecover.metrics import match_hidden_units

FAMILIES = [
    # (label, activation, hidden biases, n, d, k, noise)
    ("relu", "relu", None, 20_000, 5, 3, 0.3),
    ("relu, biases N(0, 0.5^2)", "relu", 0.5, 20_000, 5, 3, 0.3),
    ("leaky relu", "leaky_relu", None, 20_000, 5, 3, 0.3),
    ("squared relu", "squared_relu", None, 20_000, 5, 3, 0.3),
    ("tanh", "tanh", None, 20_000, 5, 3, 0.3),
    ("tanh, biases N(0, 0.5^2)", "tanh", 0.5, 20_000, 5, 3, 0.3),
    ("sigmoid", "sigmoid", None, 20_000, 5, 3, 0.3),
    ("relu, n=5000, noise 0.5", "relu", None, 5_000, 5, 3, 0.5),
    ("tanh, n=1e5, d=10, k=4, noise 0.1", "tanh", None, 100_000, 10, 4, 0.1),
]


def inside(true, bounds, match=None, axis=0):
    low, high = bounds
    if match is not None:
        low, high = np.take(low, match, axis=axis), np.take(high, match, axis=axis)
    trained = high > low
    return list(((true >= low) & (true <= high))[trained].ravel())


def tensor_coverage(activation, biases, n, d, k, noise, n_teachers):
    per_teacher = []
    for seed in range(n_teachers):
        X, y, teacher = make_teacher_regression(
            n_samples=n, n_features=d, n_hidden=k, activation=activation,
            noise=noise, hidden_biases=biases, random_state=1000 + seed,
        )  # fmt: skip
        model = TensorInitGD(
            activation=activation, n_hidden=k, fit_hidden_bias=biases is not None,
            certify=True, random_state=seed,
        ).fit(X, y)  # fmt: skip
        intervals = model.confidence_intervals(0.95)
        true = canonicalize(teacher.params, teacher.activation)
        _, match, _ = match_hidden_units(true.hidden_weights, model.hidden_weights_)
        hits = inside(true.hidden_weights, intervals.hidden_weights, match)
        hits += inside(true.output_weights[0], intervals.output_weights, match)
        hits += inside(true.intercept, intervals.intercept.reshape(2, 1))
        if biases is not None:
            hits += inside(true.hidden_biases, intervals.hidden_biases, match)
        per_teacher.append(hits)
    return per_teacher


def moment_coverage(n_teachers):
    per_teacher = []
    for seed in range(n_teachers):
        X, y, teacher = make_teacher_two_layer(
            n_samples=50_000, n_features=5, n_hidden=3, n_outputs=6, noise=0.3,
            random_state=2000 + seed,
        )  # fmt: skip
        model = MomentRecovery(
            n_hidden=3, refine=True, certify=True, random_state=seed
        ).fit(X, y)
        intervals = model.confidence_intervals(0.95)
        true = canonicalize(teacher.params, ReLU(), scale_to="hidden")
        _, match, _ = match_hidden_units(true.hidden_weights, model.hidden_weights_)
        hits = inside(true.hidden_weights, intervals.hidden_weights, match)
        hits += inside(true.output_weights, intervals.output_weights, match, axis=1)
        hits += inside(true.intercept, intervals.intercept)
        per_teacher.append(hits)
    return per_teacher


def classifier_coverage(n_teachers):
    per_teacher = []
    for seed in range(n_teachers):
        X, y, teacher = make_teacher_classification(
            n_samples=50_000, n_features=5, n_hidden=2, random_state=3000 + seed
        )
        model = TensorInitGDClassifier(
            n_hidden=2, fit_hidden_bias=False, certify=True, random_state=seed
        ).fit(X, y)
        intervals = model.confidence_intervals(0.95)
        _, match, _ = match_hidden_units(teacher.hidden_weights, model.hidden_weights_)
        per_teacher.append(
            inside(teacher.hidden_weights, intervals.hidden_weights, match)
        )
    return per_teacher


def coverage_row(label, per_teacher):
    shares = [np.mean(hits) for hits in per_teacher]
    row = {
        "family": label,
        "teachers": len(per_teacher),
        "weights": sum(len(hits) for hits in per_teacher),
        "coverage of 95% intervals": float(np.mean(np.concatenate(per_teacher))),
        "per teacher, min": float(np.min(shares)),
        "per teacher, max": float(np.max(shares)),
    }
    print_row(row)
    return row


def cost_rows(n, repeats):
    rows = []
    for activation, d, k in [("relu", 10, 5), ("tanh", 10, 5), ("relu", 50, 10)]:
        X, y, _ = make_teacher_regression(
            n_samples=n, n_features=d, n_hidden=k, activation=activation,
            noise=0.1, random_state=0,
        )  # fmt: skip
        times = {}
        for certify in (False, True):
            runs = []
            for _ in range(repeats):
                model = TensorInitGD(
                    activation=activation, n_hidden=k, certify=certify, random_state=0
                )
                start = time.perf_counter()
                model.fit(X, y)
                runs.append(time.perf_counter() - start)
            times[certify] = float(np.median(runs))
        row = {
            "activation": activation,
            "n, d, k": f"{n}, {d}, {k}",
            "parameters": model.certificate_.n_parameters,
            "certificate passes": model.certificate_.n_passes,
            "fit (s)": times[False],
            "fit with certify (s)": times[True],
            "certify / fit": times[True] / times[False],
        }
        print_row(row)
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--name", default="intervals")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    n_teachers = 5 if args.quick else 30
    families = FAMILIES[:2] if args.quick else FAMILIES
    coverage = [
        coverage_row(label, tensor_coverage(*setting, n_teachers))
        for label, *setting in families
    ]
    coverage.append(
        coverage_row(
            "MomentRecovery (refine), n=5e4, d=5, k=3, l=6",
            moment_coverage(n_teachers),
        )
    )
    coverage.append(
        coverage_row(
            "TensorInitGDClassifier (Bernoulli labels), n=5e4, d=5, k=2",
            classifier_coverage(n_teachers),
        )
    )
    cost = cost_rows(20_000 if args.quick else 100_000, 1 if args.quick else 3)
    write_report(
        args.name,
        "Confidence intervals: calibration and cost"
        + (" (quick run)" if args.quick else ""),
        [
            markdown(
                "Coverage of the 95% intervals over noisy held-out teachers "
                "(TensorInitGD unless named; n=20000, d=5, k=3, noise 0.3 unless "
                "named)",
                coverage,
            ),
            markdown("Cost of certify=True (medians of 3 fits)", cost),
        ],
        timing="fit times are medians of 3 fits",
    )


if __name__ == "__main__":
    main()
