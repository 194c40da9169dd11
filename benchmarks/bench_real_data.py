"""Every estimator with its defaults on real data, beside the usual baselines.

Each model runs in ``make_pipeline(StandardScaler(), model)`` (the baselines too,
but for gradient boosting) under 5-fold cross-validation with the same folds:
regressors on diabetes and friedman1 (R^2), classifiers on iris, wine, digits and
breast_cancer (accuracy). The table also reports the mean fit time and the
warnings each model gave. Run ``python benchmarks/bench_real_data.py`` (a few
minutes), or ``--quick`` (fewer folds' worth: 3).
"""

import argparse
import time
import warnings

import numpy as np
from _common import markdown, print_row, write_report
from sklearn.base import clone, is_classifier
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_friedman1,
)
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrecover import (
    Convotron,
    DoubleConvotron,
    MomentRecovery,
    PracticalSizeGD,
    PracticalSizeGDClassifier,
    TensorInitGD,
    TensorInitGDClassifier,
)

REGRESSION = {
    "diabetes": lambda: load_diabetes(return_X_y=True),
    "friedman1": lambda: make_friedman1(n_samples=1000, noise=1.0, random_state=0),
}
CLASSIFICATION = {
    "iris": lambda: load_iris(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "digits": lambda: load_digits(return_X_y=True),
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
}


def regressors():
    return {
        "Ridge": Ridge(),
        "MLPRegressor": MLPRegressor(max_iter=1000, random_state=0),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0),
        "TensorInitGD": TensorInitGD(random_state=0),
        "Convotron": Convotron(random_state=0),
        "DoubleConvotron": DoubleConvotron(random_state=0),
        "MomentRecovery": MomentRecovery(random_state=0),
        "PracticalSizeGD": PracticalSizeGD(random_state=0),
    }


def classifiers():
    return {
        "LogisticRegression": LogisticRegression(max_iter=1000),
        "MLPClassifier": MLPClassifier(max_iter=1000, random_state=0),
        "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0),
        "TensorInitGDClassifier": TensorInitGDClassifier(random_state=0),
        "PracticalSizeGDClassifier": PracticalSizeGDClassifier(random_state=0),
    }


def cross_validate(model, X, y, folds):
    """Scores, mean fit time and the distinct warnings of ``model`` over the folds."""
    scores, times, messages = [], [], set()
    for train, test in folds.split(X, y):
        estimator = (
            clone(model)
            if "HistGradientBoosting" in type(model).__name__
            else make_pipeline(StandardScaler(), clone(model))
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            estimator.fit(X[train], y[train])
            times.append(time.perf_counter() - start)
            scores.append(estimator.score(X[test], y[test]))
        messages |= {
            w.category.__name__
            for w in caught
            if w.category.__module__.startswith(("skrecover", "sklearn"))
        }
    return np.array(scores), float(np.mean(times)), sorted(messages)


def run(datasets, models, n_splits):
    rows = []
    for data_name, load in datasets.items():
        X, y = load()
        splitter = (
            StratifiedKFold if is_classifier(next(iter(models.values()))) else KFold
        )
        folds = splitter(n_splits, shuffle=True, random_state=0)
        for name, model in models.items():
            scores, seconds, messages = cross_validate(model, X, y, folds)
            row = {
                "data": data_name,
                "model": name,
                "mean": float(scores.mean()),
                "std": float(scores.std()),
                "fit_time": seconds,
                "warnings": ", ".join(messages) or "-",
            }
            print_row(row)
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds")
    parser.add_argument("--name", default="real_data")
    args = parser.parse_args(argv)
    n_splits = 3 if args.quick else 5
    print("1. Regression (R^2)", flush=True)
    regression = run(REGRESSION, regressors(), n_splits)
    print("2. Classification (accuracy)", flush=True)
    classification = run(CLASSIFICATION, classifiers(), n_splits)
    write_report(
        args.name,
        "Real data: every estimator with its defaults, beside the baselines",
        [
            f"{n_splits}-fold cross-validation, the same folds for every model; "
            "`make_pipeline(StandardScaler(), model)` (gradient boosting alone).\n",
            markdown("Regression: cross-validated R^2", regression),
            markdown("Classification: cross-validated accuracy", classification),
        ],
        timing="fit_time is the mean over the folds of one fit of each model, in "
        "seconds",
    )


if __name__ == "__main__":
    main()
