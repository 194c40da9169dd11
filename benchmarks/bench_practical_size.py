"""PracticalSizeGD against MLPs with as many trainable parameters, on digits.

sklearn's bundled digits (1797 images of 8x8), 1200 for training and 597 for testing,
with the natural labels and with the training labels shuffled once. Same process:

* PracticalSizeGDClassifier with ``alpha=0``, the paper's interpolating fit (random
  lower layers; and with 30 iterations of pretraining), PracticalSizeGD (also
  ``alpha=0``) on the digit value as a regression target;
* MLPClassifier / MLPRegressor with one hidden layer sized so that its trainable
  parameters match ours (adam, epoch by epoch through ``partial_fit``).

Reported: fit time, time to 100 % training accuracy (classification) or to a training
loss within 1e-10 of zero relative to the zero network's (regression), training
loss, test score, and our certificate (rank, condition number, global minimum).

Run ``python benchmarks/bench_practical_size.py`` (about 5 minutes) or ``--quick``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import epoch_race, markdown, print_row, timed_fit, write_report
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skrecover import PracticalSizeGD, PracticalSizeGDClassifier

N_TRAIN = 1200


def ours(name, make, X, y, X_test, y_test, labels):
    model, seconds = timed_fit(make, X, y, repeats=1)
    certificate = model.certificate_
    row = {
        "task": name,
        "labels": labels,
        "method": type(model).__name__
        + (" (pretrain 30)" if model.pretrain_iter else ""),
        "trainable_params": certificate["n_trainable_params"],
        "fit_s": seconds,
        "train_loss": certificate["train_loss"],
        "train_score": model.score(X, y),
        "test_score": model.score(X_test, y_test),
        "rank": f"{certificate['rank']}/{len(y)}",
        "condition_number": certificate["condition_number"],
        "global_minimum": model.is_global_minimum_,
    }
    print_row(row)
    return row


def mlp(name, model, X, y, X_test, y_test, labels, budget, classes=None):
    """Train epoch by epoch until the training target or the time budget."""
    if classes is None:
        floor = 1e-10 * np.mean(y**2) / 2

        def score(m):
            return -np.mean((m.predict(X) - y) ** 2) / 2

        target = -floor
    else:

        def score(m):
            return float(np.mean(m.predict(X) == y))

        target = 1.0
    reached, best, _, epochs = epoch_race(
        model, X, y, score, (target,), budget, classes=classes
    )
    loss = (
        log_loss(y, model.predict_proba(X), labels=classes)
        if classes is not None
        else -best
    )
    row = {
        "task": name,
        "labels": labels,
        "method": f"{type(model).__name__}({model.hidden_layer_sizes[0]})",
        "trainable_params": sum(w.size for w in model.coefs_)
        + sum(b.size for b in model.intercepts_),
        "fit_s": reached[0] if reached[0] is not None else f">{budget}",
        "train_loss": loss,
        "train_score": model.score(X, y),
        "test_score": model.score(X_test, y_test),
        "epochs": epochs,
    }
    print_row(row)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--name", default="practical_size")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    budget = 10 if args.quick else 60
    X_all, y_all = load_digits(return_X_y=True)
    X, X_test = X_all[:N_TRAIN], X_all[N_TRAIN:]
    rows = []
    for labels in ("natural", "shuffled"):
        y, y_test = y_all[:N_TRAIN], y_all[N_TRAIN:]
        if labels == "shuffled":
            y = np.random.default_rng(0).permutation(y)
        begin = time.perf_counter()
        for pretrain in (0, 30):
            rows.append(
                ours(
                    "classification",
                    lambda p=pretrain: PracticalSizeGDClassifier(
                        alpha=0, pretrain_iter=p, random_state=0
                    ),
                    X,
                    y,
                    X_test,
                    y_test,
                    labels,
                )
            )
        # One hidden layer of h units has 64 h + h + 10 h + 10 parameters.
        units = round((rows[-1]["trainable_params"] - 10) / 75)
        rows.append(
            mlp(
                "classification",
                MLPClassifier(hidden_layer_sizes=(units,), random_state=0),
                X,
                y,
                X_test,
                y_test,
                labels,
                budget,
                classes=np.arange(10),
            )
        )
        target, target_test = y.astype(float), y_test.astype(float)
        rows.append(
            ours(
                "regression",
                lambda: PracticalSizeGD(alpha=0, random_state=0),
                X,
                target,
                X_test,
                target_test,
                labels,
            )
        )
        units = round((rows[-1]["trainable_params"] - 1) / 66)
        rows.append(
            mlp(
                "regression",
                MLPRegressor(hidden_layer_sizes=(units,), random_state=0),
                X,
                target,
                X_test,
                target_test,
                labels,
                budget,
            )
        )
        print(f"  ({labels} labels: {time.perf_counter() - begin:.0f} s)")
    write_report(
        args.name,
        "PracticalSizeGD benchmark (digits, 1200 train / 597 test)",
        [
            markdown(
                "Natural against shuffled training labels; scores are accuracy "
                "(classification) and R^2 (regression)",
                rows,
            )
        ],
    )


if __name__ == "__main__":
    main()
