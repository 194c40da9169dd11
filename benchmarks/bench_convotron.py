"""Convotron against SGD on the same model and against MLPRegressor.

Same data (160 inputs, patches of 16, strides 16, 9 and 1, ReLU, 5000 samples, a
test set of 20 000), same process:

* Convotron (minibatch and stochastic, automatic step, from w = 0) and the batch
  solver;
* SGD on the squared loss of the same one-filter model (minibatches of 32, the
  same step size as minibatch Convotron), from w = 0 and from a random unit start;
* MLPRegressor (100 ReLU units, adam), trained epoch by epoch.

Reported: the filter error ||w - w*|| (and test R^2) after each number of passes
over the data, and the time to reach ||w - w*|| <= 1e-6 (R^2 >= 0.999 for the MLP).
The claim to show is convergence from zero with no tuning; where plain SGD from a
random start is as fast or faster, the table says so.

Run ``python benchmarks/bench_convotron.py`` (about 20 minutes), or ``--quick``.
"""

import argparse
import time
import warnings
from functools import partial

import numpy as np
from _common import epoch_race, markdown, print_row, write_report
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor

from skrecover import Convotron
from skrecover._network import NetworkParams, loss_gradient
from skrecover.activations import ReLU
from skrecover.datasets import make_teacher_convolution

CHECKPOINTS = (1, 2, 5, 10, 20, 50, 100, 200)


def sgd_epochs(X, y, teacher, start, eta, epochs, seed, batch=32):
    """Minibatch SGD on the squared loss of f(x) = sum_l a_l relu(w^T x_l)."""
    rng = np.random.default_rng(seed)
    a = teacher.output_weights.reshape(1, -1, 1)
    w = start.copy()
    errors, elapsed, times = [], 0.0, []
    ones = np.ones(batch)
    for _ in range(epochs):
        begin = time.perf_counter()
        order = rng.permutation(len(y))
        for i in range(0, len(y) - batch + 1, batch):
            rows = order[i : i + batch]
            params = NetworkParams(w[np.newaxis, :], a, np.zeros(1))
            _, gradient, _ = loss_gradient(
                X[rows],
                y[rows, np.newaxis],
                ones,
                params,
                ReLU(),
                patch_indices=teacher.patch_indices,
            )
            w = w - eta * gradient.hidden_weights[0]
        elapsed += time.perf_counter() - begin
        errors.append(float(np.linalg.norm(w - teacher.hidden_weights[0])))
        times.append(elapsed)
    return errors, times


def convotron_epochs(X, y, teacher, solver, epochs, stride):
    model = Convotron(
        patch_size=16, stride=stride, solver=solver, shuffle=True, random_state=0
    )
    errors, elapsed, times = [], 0.0, []
    for _ in range(epochs):
        begin = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X, y)
        elapsed += time.perf_counter() - begin
        errors.append(
            float(np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights))
        )
        times.append(elapsed)
    return errors, times, model.learning_rate_


def summarise(name, stride, errors, times, extra=None):
    row = {"stride": stride, "method": name}
    for checkpoint in CHECKPOINTS:
        if checkpoint <= len(errors):
            row[f"err@{checkpoint}"] = errors[checkpoint - 1]
    reached = next((t for e, t in zip(errors, times, strict=True) if e <= 1e-6), None)
    row["time_to_1e-6"] = reached if reached is not None else f">{times[-1]:.3g}"
    row.update(extra or {})
    print_row(row)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--name", default="convotron")
    args = parser.parse_args(argv)
    strides = [16, 9] if args.quick else [16, 9, 1]
    epochs = 20 if args.quick else 200
    budget = 20 if args.quick else 120
    rows = []
    for stride in strides:
        X, y, teacher = make_teacher_convolution(
            n_samples=25_000,
            n_features=160,
            patch_size=16,
            stride=stride,
            random_state=0,
        )
        X_all, y_all = X, y
        X, y, X_test, y_test = X[:5000], y[:5000], X[5000:], y[5000:]
        for solver in ("minibatch", "stochastic"):
            errors, times, eta = convotron_epochs(
                X,
                y,
                teacher,
                solver,
                epochs if solver == "minibatch" else epochs // 4,
                stride,
            )
            rows.append(
                summarise(
                    f"Convotron {solver} from 0", stride, errors, times, {"step": eta}
                )
            )
        # Stride 1 also at n = 20 000: at 5000 its empirical field has a second zero.
        sizes = (5000, 20_000) if stride == 1 and not args.quick else (5000,)
        for n_batch in sizes:
            begin = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                batch = Convotron(patch_size=16, stride=stride, max_iter=2000).fit(
                    X_all[:n_batch], y_all[:n_batch]
                )
            rows.append(
                {
                    "stride": stride,
                    "method": f"Convotron batch, n={n_batch} "
                    f"({batch.n_iter_} iterations)",
                    "final_error": float(
                        np.linalg.norm(batch.hidden_weights_ - teacher.hidden_weights)
                    ),
                    "time": time.perf_counter() - begin,
                    "condition_number": batch.condition_number_,
                }
            )
            print_row(rows[-1])
        eta = (
            Convotron(patch_size=16, stride=stride, solver="minibatch")
            .partial_fit(X[:1000], y[:1000])
            .learning_rate_
        )
        zero = np.zeros(16)
        random_start = np.random.default_rng(1).standard_normal(16)
        random_start /= np.linalg.norm(random_start)
        errors, times = sgd_epochs(X, y, teacher, zero, eta, epochs, seed=0)
        rows.append(summarise("SGD from 0", stride, errors, times, {"step": eta}))
        # SGD gets the best of four step sizes (Convotron's, and 4, 16, 64 times
        # smaller): tuning it is exactly what Convotron spares the user.
        tuned = []
        for divisor in (1, 4, 16, 64):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                errors, times = sgd_epochs(
                    X, y, teacher, random_start, eta / divisor, epochs, seed=0
                )
            final = errors[-1] if np.isfinite(errors[-1]) else np.inf
            tuned.append((final, divisor, errors, times))
        final, divisor, errors, times = min(tuned, key=lambda t: t[0])
        rows.append(
            summarise(
                f"SGD from a random start (best of 4 steps: eta/{divisor})",
                stride,
                errors,
                times,
                {"step": eta / divisor},
            )
        )
        reached, best, at_best, n_epochs = epoch_race(
            MLPRegressor(random_state=0),
            X,
            y,
            partial(lambda Xt, yt, m: r2_score(yt, m.predict(Xt)), X_test, y_test),
            (0.999,),
            budget,
        )
        rows.append(
            {
                "stride": stride,
                "method": "MLPRegressor(100 relu)",
                "time_to_R2>=0.999": reached[0]
                if reached[0] is not None
                else f">{budget}",
                "best_R2": best,
                "epochs": n_epochs,
            }
        )
        print_row(rows[-1])
    write_report(
        args.name,
        "Convotron benchmark",
        [
            markdown(
                "Filter error ||w - w*|| after k passes (err@k) and time (s) to 1e-6",
                rows,
            )
        ],
    )


if __name__ == "__main__":
    main()
