"""The one check of the input assumptions, and the warning that explains it.

The tensor methods assume standard Gaussian inputs (their moment identities are
Gaussian Hermite identities); Convotron and the method of moments assume inputs
symmetric about 0. A cheap look at a random subsample of ``X`` flags deviations
that are both statistically significant (beyond 5 standard errors) and practically
large, and the message says what they mean and what to do: only the remedies that
fix what was flagged (centring for a mean, scaling for a variance, whitening for
correlations), and plainly that no preprocessing fixes skewed or heavy-tailed
inputs.
"""

# SPDX-License-Identifier: BSD-3-Clause

from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from ._engine import random_rows, reduce_rows, take_rows

# Subsamples copied for the statistics hold at most this many bytes, and at least
# _MIN_SUBSAMPLE_ROWS and at most _DIRECTION_ROWS rows.
_SUBSAMPLE_BYTES = 2**23
_MIN_SUBSAMPLE_ROWS = 2000
# Random directions along which input symmetry is checked, on this many rows
# (standard error of the skewness sqrt(15 / 10 000) = 0.04). From this many rows
# on, every threshold of input_problems is its practical floor, not 5 standard
# errors: more rows would not change what is flagged, only cost time.
_N_DIRECTIONS = 50
_DIRECTION_ROWS = 10_000
# Up to this many features the correlation matrix is formed for its top eigenvalue
# (n d^2 flops in one matrix product and an eigensolver, exact; measured on the
# subsample: 4.8 ms against 12.6 ms for power iteration at d = 100, equal near
# d = 300).
_GRAM_FEATURES = 256
# A feature whose standard deviation is at most this fraction of its mean is
# constant (what is left is rounding); the other statistics of it mean nothing.
_CONSTANT_RTOL = 1e-8

ASSUMPTIONS = {
    "gaussian": "standard Gaussian inputs x ~ N(0, I), on which its moment "
    "identities hold",
    "symmetric": "inputs symmetric about 0 (x and -x equally likely)",
    "isotropic": "inputs symmetric about 0 with identity covariance",
}


class Problem(NamedTuple):
    """One flagged deviation: ``kind`` in {"constant", "mean", "variance",
    "correlation", "shape"} and a readable ``text`` with the measured value."""

    kind: str
    text: str


def feature_statistics(X, sample_weight, *, random_state, correlation=True):
    """Per-feature mean, variance, skewness and excess kurtosis of ``X``.

    Computed on a random subsample of at most 8 MB and 10 000 rows (and at least
    2 000 rows) as a cheap check of the Gaussian or symmetric input assumptions;
    the subsample is the only copy made, centred and scaled in place. Also the
    largest eigenvalue of the correlation matrix (from the matrix for up to 256
    features, else by power iteration), about
    ``(1 + sqrt(d / n))**2`` for independent features, and the skewness
    ``E[p^3] / E[p^2]^{3/2}`` of the uncentred projections ``p = g^T x`` on random
    Gaussian directions ``g``: zero in expectation for inputs symmetric about 0,
    with standard error ``sqrt(15 / n)``. Without ``correlation`` (the symmetry
    assumption does not use it) the eigenvalue is None: it costs as much as all
    the rest.

    Returns
    -------
    stats : Bunch
        ``mean``, ``variance``, ``skewness``, ``kurtosis`` (arrays of shape (d,)),
        ``direction_skewness`` (shape (50,), on ``direction_rows`` of the rows),
        ``correlation_eigenvalue`` and ``n_rows`` (the number of rows used).
    """
    n_samples, n_features = X.shape
    max_rows = min(_DIRECTION_ROWS, _SUBSAMPLE_BYTES // (8 * n_features))
    max_rows = max(_MIN_SUBSAMPLE_ROWS, max_rows)
    if n_samples > max_rows:
        # Which rows is a fixed function of the data's size, not a draw from the
        # fit's random stream: the check of a data set does not depend on the
        # seed, and a fit draws the random numbers partial_fit over its chunks does.
        rows = random_rows(np.random.RandomState(0), n_samples, max_rows)
    else:
        rows = np.arange(n_samples)
    # (Gathering rows copies them: the subsample is ours to centre in place.)
    centred = np.asarray(take_rows(X, rows), dtype=np.float64)
    if not centred.flags.writeable:
        centred = centred.copy()
    weights = _normalized(take_rows(sample_weight, rows))
    along = centred @ random_state.standard_normal((n_features, _N_DIRECTIONS))
    along /= _positive(np.abs(along).max(axis=0))
    squared_along = np.square(along)
    second_along = weights @ squared_along
    third_along = weights @ (squared_along * along)
    direction_skewness = _standardized(third_along, second_along, 3)
    mean = weights @ centred
    # Columns on their own scales (one at 1e-120, say) would under- or overflow
    # in their third and fourth powers: the copy is centred and divided by each
    # column's largest deviation.
    centred -= mean
    spread = _positive(np.maximum(centred.max(axis=0), -centred.min(axis=0)))

    def central_moments(block, block_weights):
        # Scales the block (a view of the copy) in place while it is in cache.
        block /= spread
        power = np.square(block)
        sums = [block_weights @ power]
        for _ in range(2):
            power *= block
            sums.append(block_weights @ power)
        return np.array(sums)

    variance, third, fourth = reduce_rows(
        central_moments, centred, weights, width=3 * n_features
    )
    return Bunch(
        mean=mean,
        variance=variance * spread**2,
        skewness=_standardized(third, variance, 3),
        kurtosis=_standardized(fourth, variance, 4) - 3.0,
        direction_skewness=direction_skewness,
        direction_rows=len(along),
        correlation_eigenvalue=(
            _top_eigenvalue(centred, weights, 1 / np.sqrt(_positive(variance)))
            if correlation
            else None
        ),
        n_rows=len(rows),
    )


def _normalized(weights):
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(weights), 1 / len(weights))


def _positive(values):
    return np.where(values > 0, values, 1.0)


def _standardized(moment, variance, order):
    """``moment / variance ** (order / 2)`` (0 where the variance is), one
    standard deviation at a time: finite whenever the result is, even when the
    variance is tiny and its power is not."""
    deviation = np.sqrt(_positive(variance))
    for _ in range(order):
        moment = moment / deviation
    return moment


def _top_eigenvalue(rows, weights, scale=1.0, n_iter=30, rtol=1e-4):
    """Largest eigenvalue of ``E[s s^T]`` for ``s = scale * x`` (``x`` the rows,
    ``scale`` per feature): exact from the matrix (one product of the rows) up to
    ``_GRAM_FEATURES`` features, else by power iteration on the rows (until it
    changes by less than ``rtol``), never forming it."""
    n_features = rows.shape[1]
    scale = np.broadcast_to(scale, n_features)
    if n_features <= _GRAM_FEATURES:
        gram = rows.T @ (weights[:, np.newaxis] * rows)
        return float(np.linalg.eigvalsh(gram * np.outer(scale, scale))[-1])
    vector = np.ones(n_features) / np.sqrt(n_features)
    value = 0.0
    for _ in range(n_iter):
        product = scale * (rows.T @ (weights * (rows @ (scale * vector))))
        previous, value = value, float(np.linalg.norm(product))
        if not value > 0 or value - previous <= rtol * value:
            break
        vector = product / value
    return value


def input_problems(stats, assumption, *, whiten=False):
    """The deviations of the inputs from ``assumption`` ("gaussian", "symmetric" or
    "isotropic").

    Constant features (for "symmetric" only those other than 0, which are
    symmetric), which the other checks skip; means and skewness (per feature,
    and the third moment along random directions) for all; for "gaussian" also
    excess kurtosis; for "gaussian" and "isotropic" (symmetric with identity
    covariance), unless the estimator whitens, variances off by more than a
    factor 2 and correlated features.
    """
    n_rows = stats.n_rows
    sd = np.sqrt(stats.variance)
    constant = sd <= _CONSTANT_RTOL * np.abs(stats.mean)
    varying = ~constant
    flagged_constant = constant & (
        stats.mean != 0 if assumption == "symmetric" else True
    )
    direction = np.array([np.abs(stats.direction_skewness).max()])
    checks = [
        (
            "constant",
            flagged_constant.astype(float),
            0.5,
            "feature {index} is constant ({value:.3g})",
            stats.mean,
        ),
        (
            "mean",
            varying * np.abs(stats.mean) / np.where(varying, sd, 1.0),
            max(0.1, 5 / np.sqrt(n_rows)),
            "feature {index} has mean {value:.3g} "
            "({size:.2g} standard deviations from 0)",
            stats.mean,
        ),
        (
            "shape",
            varying * np.abs(stats.skewness),
            max(0.5, 5 * np.sqrt(6 / n_rows)),
            "feature {index} has skewness {value:.3g} (symmetric: 0)",
            stats.skewness,
        ),
        (
            "shape",
            direction,
            max(0.2, 5 * np.sqrt(15 / stats.direction_rows)),
            "the inputs have a third moment along a random direction "
            "{value:.3g} (symmetric: 0)",
            direction,
        ),
    ]
    problems = []
    if assumption == "gaussian":
        checks.append(
            (
                "shape",
                varying * np.abs(stats.kurtosis),
                max(1.0, 5 * np.sqrt(24 / n_rows)),
                "feature {index} has excess kurtosis {value:.3g} (Gaussian: 0)",
                stats.kurtosis,
            )
        )
    if assumption in ("gaussian", "isotropic") and not whiten:
        variance = np.where(stats.variance > 0, stats.variance, 1e-300)
        checks.append(
            (
                "variance",
                varying * np.abs(np.log(variance)),
                np.log(2.0),
                "feature {index} has variance {value:.3g} (expected: 1)",
                stats.variance,
            )
        )
        independent = (1 + np.sqrt(len(stats.mean) / n_rows)) ** 2
        if stats.correlation_eigenvalue > 2 * independent:
            problems.append(
                Problem(
                    "correlation",
                    "the features are correlated (largest eigenvalue of their "
                    f"correlation matrix {stats.correlation_eigenvalue:.3g}, "
                    f"about {independent:.3g} for independent features)",
                )
            )
    return _flagged(checks) + problems


def _flagged(checks):
    problems = []
    for kind, size, threshold, template, values in checks:
        flagged = np.flatnonzero(size > threshold)
        if len(flagged):
            worst = flagged[np.argmax(size[flagged])]
            text = template.format(index=worst, value=values[worst], size=size[worst])
            if len(flagged) > 1:
                text += f" ({len(flagged)} features flagged)"
            problems.append(Problem(kind, text))
    return problems


def assumption_message(name, assumption, problems, *, whiten=None, scaler=None):
    """The warning text: what is wrong, what it means, and what fixes it.

    Parameters
    ----------
    name : str
        The estimator's class name.
    assumption : {"gaussian", "symmetric", "isotropic"}
    problems : list of Problem
    whiten : bool or None, default=None
        Whether the estimator whitens (None: it has no such option).
    scaler : str, default=None
        The preprocessing that centres (and scales) the features for this
        estimator; default ``StandardScaler()``.
    """
    kinds = {problem.kind for problem in problems}
    scaler = scaler or "StandardScaler()"
    remedies = []
    if "constant" in kinds:
        remedies.append(
            "Drop the constant features (VarianceThreshold() in a Pipeline): they "
            "carry no information."
        )
    if kinds & {"mean", "variance"}:
        what = "Centre" if kinds & {"mean", "variance"} == {"mean"} else "Standardise"
        remedies.append(f"{what} the features ({scaler} in a Pipeline).")
    if "correlation" in kinds:
        remedies.append(
            "Set whiten=True to decorrelate them."
            if whiten is False
            else "Decorrelate them (e.g. PCA(whiten=True) in a Pipeline)."
        )
    if "shape" in kinds:
        remedies.append(
            "No centring or scaling makes such inputs "
            + ("Gaussian" if assumption == "gaussian" else "symmetric")
            + ": the guarantee does not apply. Compare the fit with a baseline "
            "(Ridge, MLPRegressor, gradient boosting)."
        )
    return (
        f"{name} assumes {ASSUMPTIONS[assumption]}; on these inputs "
        + "; ".join(problem.text for problem in problems)
        + ". "
        + " ".join(remedies)
    )
