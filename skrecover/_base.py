"""Shared machinery of the one-hidden-layer estimators.

Validation of the training data, the input-assumption diagnostics, whitening, the
gradient phase through the shared optimisation driver, and prediction.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _moments
from ._network import NetworkParams, forward, loss_gradient
from ._optim import OptimResult, minimize
from .activations import _ACTIVATIONS, Activation
from .exceptions import AssumptionWarning

# Eigenvalues of the input second moment below this fraction of the largest are
# treated as zero when whitening.
_RANK_TOL = 1e-10

ACTIVATION_CONSTRAINT = [StrOptions(set(_ACTIVATIONS)), Activation]

OPTIMIZER_CONSTRAINTS = {
    "solver": [StrOptions({"auto", "lbfgs", "gd"})],
    "learning_rate": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
}


class Whitening(NamedTuple):
    """``whiten = S^{-1/2}`` and ``color = S^{1/2}`` for the input second moment S."""

    whiten: np.ndarray
    color: np.ndarray


def whitening(X, sample_weight, *, patch_indices=None):
    """Whitening from the weighted second moment ``E[x x^T]`` (no centring).

    Not centring keeps the model class (no hidden biases): a unit ``w`` of the
    whitened problem is the unit ``S^{-1/2} w`` of the original one. Directions with
    (numerically) zero variance are projected out.
    """
    second = _moments.second_moment(X, sample_weight, patch_indices=patch_indices)
    return whitening_from_moment(second)


def whitening_from_moment(second):
    """:func:`whitening` of a given second-moment matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh(second)
    keep = eigenvalues > _RANK_TOL * max(eigenvalues.max(), np.finfo(float).tiny)
    root = np.sqrt(eigenvalues[keep])
    basis = eigenvectors[:, keep]
    return Whitening((basis / root) @ basis.T, (basis * root) @ basis.T)


class ParameterPacker:
    """Flattens the trained parts of a network into the optimiser's vector.

    Parameters not listed in ``free`` keep their values from ``template``. With a
    whitening, the hidden weights are optimised in whitened coordinates
    (``W = Theta S^{-1/2}``): plain gradient descent there is preconditioned
    gradient descent in the original coordinates, at no cost on the data.
    """

    def __init__(self, template, free, transform=None):
        self.template = template
        self.free = tuple(free)
        self.transform = transform

    def pack(self, params):
        """The trained parameters as one vector (whitened coordinates)."""
        color = None if self.transform is None else self.transform.color
        return self._flatten(params, color)

    def pack_gradient(self, gradient):
        """A gradient in original coordinates as a vector in whitened ones."""
        whiten = None if self.transform is None else self.transform.whiten
        return self._flatten(gradient, whiten)

    def unpack(self, vector):
        values = self.template._asdict()
        offset = 0
        for name in self.free:
            shape = np.shape(getattr(self.template, name))
            size = int(np.prod(shape))
            value = vector[offset : offset + size].reshape(shape)
            offset += size
            if name == "hidden_weights" and self.transform is not None:
                value = value @ self.transform.whiten
            values[name] = value
        return NetworkParams(**values)

    def _flatten(self, params, hidden_map):
        parts = []
        for name in self.free:
            value = getattr(params, name)
            if name == "hidden_weights" and hidden_map is not None:
                value = value @ hidden_map
            parts.append(np.ravel(value))
        return np.concatenate(parts) if parts else np.zeros(0)


def train_network(
    X,
    y,
    sample_weight,
    params,
    activation,
    *,
    free,
    transform=None,
    validation_weight=None,
    loss="squared",
    patch_indices=None,
    solver="lbfgs",
    max_iter=200,
    tol=1e-6,
    n_iter_no_change=10,
    learning_rate="auto",
    verbose=0,
    loss_floor=None,
    random_state=None,
):
    """Full-batch training of the ``free`` parameters from ``params``.

    With L-BFGS on large data (at least 100 000 samples, no early stopping), the
    first iterations run on nested random subsamples growing 8-fold from 1/64 of
    the rows (at least 20 rows per parameter) to at most a quarter: a warm start
    that costs a fraction of full passes and leaves the objective minimised at the
    end unchanged. The returned loss curve and iteration count include these
    iterations.

    Returns the best parameters and the :class:`~skrecover._optim.OptimResult`.
    """
    packer = ParameterPacker(params, free, transform)
    start = packer.pack(params)
    if solver == "auto":
        solver = choose_solver(sample_weight, start.size)
    if max_iter == 0 or start.size == 0:
        return params, OptimResult(x=start, converged=True, solver=solver)
    options = {
        "solver": solver,
        "tol": tol,
        "n_iter_no_change": n_iter_no_change,
        "learning_rate": learning_rate,
        "verbose": verbose,
        "loss_floor": loss_floor,
    }
    warm_up = []
    if solver == "lbfgs" and validation_weight is None and random_state is not None:
        for rows in subsample_schedule(len(y), start.size, random_state):
            result = minimize(
                _objective(
                    X[rows],
                    y[rows],
                    sample_weight[rows],
                    packer,
                    activation,
                    loss,
                    patch_indices,
                    None,
                ),
                start,
                max_iter=max_iter,
                **options,
            )
            start = result.x
            warm_up.append(result)
    objective = _objective(
        X, y, sample_weight, packer, activation, loss, patch_indices, validation_weight
    )
    result = minimize(
        objective,
        start,
        max_iter=max_iter,
        validate=validation_weight is not None,
        **options,
    )
    for stage in reversed(warm_up):
        result.loss_curve[:0] = stage.loss_curve
        result.n_iter += stage.n_iter
    return packer.unpack(result.x), result


def _objective(
    X, y, sample_weight, packer, activation, loss, patch_indices, validation
):
    monitors = () if validation is None else (validation,)

    def objective(vector):
        value, gradient, monitored = loss_gradient(
            X,
            y,
            sample_weight,
            packer.unpack(vector),
            activation,
            loss=loss,
            patch_indices=patch_indices,
            monitor_weights=monitors,
        )
        return (
            value,
            packer.pack_gradient(gradient),
            (monitored[0] if monitors else None),
        )

    return objective


# Data with at least this many samples get the subsample warm start, with at least
# this many rows per trained parameter in the smallest subsample.
_WARM_UP_MIN_SAMPLES = 100_000
_WARM_UP_ROWS_PER_PARAMETER = 20
_WARM_UP_FACTOR = 4


def subsample_schedule(n_samples, n_params, random_state):
    """Sorted row indices of nested random subsamples, smallest first."""
    if n_samples < _WARM_UP_MIN_SAMPLES:
        return []
    smallest = max(_WARM_UP_ROWS_PER_PARAMETER * n_params, n_samples // 64)
    sizes = []
    size = smallest
    while size * 2 <= n_samples:
        sizes.append(size)
        size *= _WARM_UP_FACTOR
    permutation = random_state.permutation(n_samples)
    return [np.sort(permutation[:size]) for size in sizes]


def validation_split(sample_weight, fraction, random_state, purpose):
    """Training and validation weights without copying ``X``.

    A random ``fraction`` of the rows gets weight zero in the training weights and
    keeps its weight in the validation ones, so that both losses are computed in the
    same pass over the data. ``purpose`` names the option in error messages.
    """
    n_samples = len(sample_weight)
    n_validation = int(np.ceil(fraction * n_samples))
    if n_validation >= n_samples - 1:
        raise ValueError(
            f"{purpose} with validation_fraction={fraction} leaves fewer than 2 of "
            f"the {n_samples} samples for training."
        )
    validation = np.zeros(n_samples, dtype=bool)
    validation[random_state.permutation(n_samples)[:n_validation]] = True
    training_weight = np.where(validation, 0.0, sample_weight)
    validation_weight = np.where(validation, sample_weight, 0.0)
    if not (training_weight.sum() > 0 and validation_weight.sum() > 0):
        raise ValueError(
            f"{purpose} needs positive sample weights in both the training and the "
            "validation part."
        )
    return training_weight, validation_weight


def weighted_variance(y, sample_weight):
    """``sum_i s_i (y_i - mean)^2 / sum_i s_i``: weights count as frequencies."""
    mean = np.average(y, weights=sample_weight)
    return float(np.average((y - mean) ** 2, weights=sample_weight))


def choose_solver(sample_weight, n_params):
    """L-BFGS, unless there are at least as many parameters as (effective) samples.

    In that interpolation regime the minimisers of the training loss form a
    manifold: quasi-Newton steps drift along it chaotically (a rounding difference
    changes the interpolant found), while plain gradient descent moves continuously
    with the data and the start point. Sample weights count as frequencies.
    """
    return "lbfgs" if float(sample_weight.sum()) > n_params else "gd"


class BaseOneHiddenLayer(BaseEstimator):
    """Validation, diagnostics and prediction shared by one-hidden-layer estimators."""

    def _validate_training_data(
        self,
        X,
        y,
        sample_weight,
        *,
        classification=False,
        multi_output=False,
        reset=True,
    ):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=False,
            dtype=[np.float64, np.float32],
            y_numeric=not classification,
            multi_output=multi_output,
            ensure_min_samples=2,
            reset=reset,
        )
        sample_weight = self._check_sample_weight(sample_weight, X)
        if not classification:
            y = np.asarray(y, dtype=np.float64)
        return X, y, sample_weight

    @staticmethod
    def _check_sample_weight(sample_weight, X):
        """Non-negative float64 weights with a positive sum (ones for None)."""
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not sample_weight.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        return sample_weight

    def _set_or_forget(self, name, value):
        """Set a fitted attribute, or remove a stale one when ``value`` is None."""
        if value is not None:
            setattr(self, name, value)
        elif hasattr(self, name):
            delattr(self, name)

    def _validation_split(self, sample_weight, random_state):
        """Training and validation weights with ``early_stopping``, else
        ``(sample_weight, None)``; see :func:`validation_split`."""
        if not self.early_stopping:
            return sample_weight, None
        return validation_split(
            sample_weight, self.validation_fraction, random_state, "early_stopping"
        )

    def _check_gaussian_inputs(self, X, sample_weight, random_state, *, whiten):
        """Warn when the inputs are visibly not standard Gaussian."""
        stats = _moments.feature_statistics(X, sample_weight, random_state=random_state)
        problems = gaussian_input_problems(stats, whiten=whiten)
        if problems:
            remedy = "set whiten=True" if not whiten else "centre X"
            warnings.warn(
                f"{type(self).__name__} assumes Gaussian inputs x ~ N(0, I), on which "
                "its moment identities hold; on these inputs "
                + "; ".join(problems)
                + f". Standardise X (e.g. StandardScaler in a Pipeline) or {remedy}: "
                "gradient descent still fits, but the tensor initialisation may be "
                "poor.",
                AssumptionWarning,
                stacklevel=3,
            )
        return stats

    def _network_params(self):
        output = np.asarray(self.output_weights_, dtype=float)
        return NetworkParams(
            self.hidden_weights_,
            output.reshape(1, -1) if output.ndim == 1 else output,
            np.atleast_1d(np.asarray(self.intercept_, dtype=float)),
        )

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return forward(
            X,
            self._network_params(),
            self.activation_,
            patch_indices=getattr(self, "patch_indices_", None),
        )

    def _warn_not_converged(self, result, hint):
        if not result.converged:
            last = result.loss_curve[-1] if result.loss_curve else float("nan")
            warnings.warn(
                f"{type(self).__name__} stopped after max_iter={self.max_iter} "
                f"iterations without meeting tol={self.tol} (last loss {last:.4g}). "
                f"Increase max_iter or tol. {hint}",
                ConvergenceWarning,
                stacklevel=3,
            )

    @staticmethod
    def _check_finite(params):
        if not all(np.all(np.isfinite(p)) for p in params):
            raise ValueError(
                "The optimisation produced non-finite weights: the inputs or targets "
                "probably have a very large scale. Standardise X and y, or use "
                "solver='gd' with a smaller learning_rate."
            )


def symmetry_problems(stats):
    """Readable descriptions of per-feature evidence against symmetry about 0.

    Flags means and skewness beyond 5 standard errors and beyond 0.1 standard
    deviation (resp. 0.5), as :func:`gaussian_input_problems` does.
    """
    return _flagged(stats, _symmetry_checks(stats))


def _symmetry_checks(stats):
    n_rows = stats["n_rows"]
    sd = np.sqrt(stats["variance"])
    checks = [
        (
            np.abs(stats["mean"]) / np.where(sd > 0, sd, 1.0),
            max(0.1, 5 / np.sqrt(n_rows)),
            "feature {index} has mean {value:.3g} "
            "({size:.2g} standard deviations from 0)",
            stats["mean"],
        ),
        (
            np.abs(stats["skewness"]),
            max(0.5, 5 * np.sqrt(6 / n_rows)),
            "feature {index} has skewness {value:.3g} (symmetric: 0)",
            stats["skewness"],
        ),
    ]
    return checks + [
        (
            np.array([np.abs(stats["direction_skewness"]).max()]),
            max(0.2, 5 * np.sqrt(15 / stats["direction_rows"])),
            "the inputs have a third moment along a random direction "
            "{value:.3g} (symmetric: 0)",
            np.array([np.abs(stats["direction_skewness"]).max()]),
        )
    ]


def _flagged(stats, checks):
    problems = []
    for size, threshold, template, values in checks:
        flagged = np.flatnonzero(size > threshold)
        if len(flagged):
            worst = flagged[np.argmax(size[flagged])]
            text = template.format(index=worst, value=values[worst], size=size[worst])
            if len(flagged) > 1:
                text += f" ({len(flagged)} features flagged)"
            problems.append(text)
    return problems


def gaussian_input_problems(stats, *, whiten):
    """Readable descriptions of the ways per-feature statistics depart from N(0, 1).

    A feature is flagged when its deviation is both statistically significant (beyond
    5 standard errors) and practically large: a mean or a skewness (as in
    :func:`symmetry_problems`), an excess kurtosis, and without ``whiten`` a
    variance off by more than a factor 2 or correlated features.
    """
    n_rows = stats["n_rows"]
    checks = _symmetry_checks(stats) + [
        (
            np.abs(stats["kurtosis"]),
            max(1.0, 5 * np.sqrt(24 / n_rows)),
            "feature {index} has excess kurtosis {value:.3g} (Gaussian: 0)",
            stats["kurtosis"],
        )
    ]
    problems = []
    if not whiten:
        variance = np.where(stats["variance"] > 0, stats["variance"], 1e-300)
        checks.append(
            (
                np.abs(np.log(variance)),
                np.log(2.0),
                "feature {index} has variance {value:.3g} (standard Gaussian: 1)",
                stats["variance"],
            )
        )
        independent = (1 + np.sqrt(len(stats["mean"]) / n_rows)) ** 2
        if stats["correlation_eigenvalue"] > 2 * independent:
            problems.append(
                "the features are correlated (largest eigenvalue of their correlation "
                f"matrix {stats['correlation_eigenvalue']:.3g}, about "
                f"{independent:.3g} for independent features)"
            )
    return problems + _flagged(stats, checks)
