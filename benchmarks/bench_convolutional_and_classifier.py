"""Convolutional TensorInitGD and TensorInitGDClassifier against baselines.

Same data, same process, ratios:

1. convolutional regression (non-overlapping patches, several kernels):
   TensorInitGD(patch_size=...) against MLPRegressor (100 ReLU units, adam, trained
   epoch by epoch until the test R^2 reaches 0.999 and 0.99999) - fit time, test
   R^2, recovery error;
2. classification with a teacher of Fu, Chi and Liang (2018):
   TensorInitGDClassifier against MLPClassifier (100 ReLU units; and the teacher's
   architecture, K logistic units) and LogisticRegression - test log-loss and
   accuracy (next to the teacher's own, the Bayes optimum), recovery error, fit time.

Run ``python benchmarks/bench_convolutional_and_classifier.py`` (a few minutes), or
``--quick``. Tables go to stdout and to ``benchmarks/results/
convolutional_and_classifier.md``.
"""

import argparse
import time
import warnings
from functools import partial

import numpy as np
from _common import epoch_race, markdown, print_row, timed_fit, write_report
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skrecover import TensorInitGD, TensorInitGDClassifier
from skrecover.datasets import make_teacher_classification, make_teacher_regression
from skrecover.metrics import recovery_error


def split(X, y, n_train):
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def test_r2(X_test, y_test, model):
    return r2_score(y_test, model.predict(X_test))


def convolutional(configs, budget, targets=(0.999, 0.99999)):
    rows = []
    for activation, n, n_features, patch, k in configs:
        X, y, teacher = make_teacher_regression(
            n_samples=n + 20_000,
            n_features=n_features,
            n_hidden=k,
            activation=activation,
            patch_size=patch,
            random_state=0,
        )
        X, y, X_test, y_test = split(X, y, n)
        ours, seconds = timed_fit(
            partial(
                TensorInitGD, activation=activation, patch_size=patch, random_state=0
            ),
            X,
            y,
        )
        mlp = MLPRegressor(random_state=0)
        reached, best, at_best, epochs = epoch_race(
            mlp, X, y, partial(test_r2, X_test, y_test), targets, budget
        )
        row = dict(
            setting=f"{activation} n={n:.0e} d={n_features} patch={patch} k={k}",
            ours_fit=seconds,
            ours_test_r2=ours.score(X_test, y_test),
            ours_recovery=recovery_error(teacher, ours),
            mlp_best_r2=best,
            mlp_epochs=epochs,
        )
        for target, theirs in zip(targets, reached, strict=True):
            label = f"R2>={target}"
            row[f"mlp_to_{label}"] = theirs if theirs is not None else f">{budget:.0f}"
            row[f"ratio_{label}"] = (at_best if theirs is None else theirs) / seconds
        rows.append(row)
        print_row(row)
    return rows


def classification(configs):
    rows = []
    for n, n_features, k, patch in configs:
        X, y, teacher = make_teacher_classification(
            n_samples=n + 100_000,
            n_features=n_features,
            n_hidden=k,
            patch_size=patch,
            random_state=1,
        )
        X, y, X_test, y_test = split(X, y, n)
        truth = np.clip(teacher.predict(X_test), 1e-15, 1 - 1e-15)
        setting = f"n={n:.0e} d={n_features} K={k}" + (
            f" patch={patch}" if patch else ""
        )
        reference = dict(
            setting=setting,
            model="teacher (Bayes)",
            fit_time=None,
            test_log_loss=log_loss(y_test, truth),
            test_accuracy=accuracy_score(y_test, truth > 0.5),
            recovery_error=0.0,
        )
        rows.append(reference)
        print_row(reference)
        models = [
            (
                "TensorInitGDClassifier",
                partial(
                    TensorInitGDClassifier, n_hidden=k, patch_size=patch, random_state=0
                ),
                3,
            ),
            ("MLPClassifier(100 relu)", partial(MLPClassifier, random_state=0), 1),
            ("LogisticRegression", LogisticRegression, 3),
        ]
        if patch is None:
            models.insert(
                2,
                (
                    f"MLPClassifier({k} logistic)",
                    partial(
                        MLPClassifier,
                        hidden_layer_sizes=(k,),
                        activation="logistic",
                        random_state=0,
                    ),
                    1,
                ),
            )
        for name, make, repeats in models:
            model, seconds = timed_fit(make, X, y, repeats)
            proba = model.predict_proba(X_test)[:, 1]
            row = dict(
                setting=setting,
                model=name,
                fit_time=seconds,
                test_log_loss=log_loss(y_test, proba),
                test_accuracy=accuracy_score(y_test, proba > 0.5),
                recovery_error=recovery_error(teacher, model)
                if hasattr(model, "hidden_weights_")
                else None,
            )
            rows.append(row)
            print_row(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--name", default="convolutional_and_classifier")
    args = parser.parse_args(argv)
    if args.quick:
        conv = [("relu", 20_000, 20, 5, 2)]
        clf = [(50_000, 6, 2, None)]
        budget = 20
    else:
        conv = [
            ("squared_relu", 100_000, 40, 8, 3),
            ("relu", 100_000, 40, 8, 3),
            ("tanh", 100_000, 40, 8, 3),
        ]
        clf = [(300_000, 10, 3, None), (300_000, 20, 1, 5)]
        budget = 120
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print("1. Convolutional regression: TensorInitGD vs MLPRegressor(100 relu)")
        conv_rows = convolutional(conv, budget)
        print("2. Classification: TensorInitGDClassifier vs baselines")
        clf_rows = classification(clf)
    write_report(
        args.name,
        "Convolutional TensorInitGD and TensorInitGDClassifier benchmark",
        [
            markdown(
                "Convolutional regression (ratio = MLP time to the target / ours)",
                conv_rows,
            ),
            markdown("Classification (test set of 100 000 samples)", clf_rows),
            f"Total time: {time.perf_counter() - start:.0f} s\n",
        ],
    )


if __name__ == "__main__":
    main()
