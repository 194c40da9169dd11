"""Each unit's norm, bias and output weight from the coefficients of its moments.

With unit directions ``u_i`` known, the Hermite moments of a network with biases
are ``M_j = sum_i c_{j,i} u_i^{(x)j}`` with ``c_{j,i} = v_i m_j(s_i, b_i)``
(:meth:`~skrecover.activations.Activation.biased_hermite_constants`), so each unit's
coefficients ``c_{1..4,i}`` determine ``(v_i, s_i, b_i)`` (up to the activation's
symmetries). They are found by weighted least squares,
``min sum_j ((c_j - v m_j(s, b)) / e_j)^2`` with ``e_j`` the standard error of
``c_j``: ``v`` in closed form, ``(s, b)`` on a grid then refined. A positively
homogeneous activation of degree ``q`` has ``m_j(s, b) = s^q g_j(b / s)``: only
``t = b / s`` and ``A = v s^q`` enter, a one-dimensional search. A unit's direction
is known up to sign, which flips ``c_j`` by ``(-1)^j``: both are tried.

Units without biases need less: :func:`magnitudes_and_signs` reads each norm and
sign from the first moments in closed form or on a grid of norms, and
:func:`fit_intercept_and_flips` fits the output intercept.
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import linalg, optimize
from sklearn.utils import Bunch

from ._network import forward
from ._optim import scipy_blas_single_threaded

# Grids of t = b / s (homogeneous activations), and of norms and biases (others).
# Beyond |t| = 3 a ReLU unit is on (or off) for all but 0.1% of Gaussian inputs:
# linear or dead, and its norm is not identified (a fit there ran to 1e9).
# Beyond a norm of 4 sigmoid-like units saturate: moments cannot tell 4 from 40.
_T_GRID = np.linspace(-3.0, 3.0, 301)
_S_GRID = np.geomspace(0.05, 4.0, 48)
_B_GRID = np.linspace(-4.0, 4.0, 65)
_ORDERS = np.arange(1, 5)


class UnitFit(NamedTuple):
    """Units fitted to their moment coefficients.

    Attributes
    ----------
    scale : ndarray of shape (k,)
        Signed norms: the unit is ``scale_i u_i`` (negative: along ``-u_i``).
    bias : ndarray of shape (k,)
    output : ndarray of shape (k,)
    chi2 : ndarray of shape (k,)
        The weighted residual of each unit's fit, per order used: about 1 when
        the model explains its coefficients to their noise.
    """

    scale: np.ndarray
    bias: np.ndarray
    output: np.ndarray
    chi2: np.ndarray


def fit_units(coefficients, errors, activation, output=None):
    """``(v_i, s_i, b_i)`` of every unit from its coefficients ``c_{1..4,i}``.

    Parameters
    ----------
    coefficients : ndarray of shape (k, 4)
        ``c_{j,i}`` for ``j = 1..4``.
    errors : ndarray of shape (k, 4)
        Their standard errors (positive).
    activation : Activation
    output : ndarray of shape (k,), default=None
        Known output weights (classification); None fits them.

    Returns
    -------
    units : UnitFit
    """
    weights = 1.0 / np.maximum(errors, np.finfo(float).tiny) ** 2
    fit = _fit_homogeneous if activation.degree else _fit_smooth
    scale, bias, out, chi2 = fit(coefficients, weights, activation, output)
    return UnitFit(scale, bias, out, chi2 / len(_ORDERS))


def _orientations(c):
    """The coefficients of ``u`` and of ``-u``: ``c_j`` flips by ``(-1)^j``."""
    return ((1.0, c), (-1.0, c * (-1.0) ** _ORDERS))


def _profile(constants, c, w, fixed):
    """Best output scale for each row of ``constants`` (or the fixed one) and the
    weighted residual it leaves, vectorised over the rows (``c`` and ``w``: one
    unit's, or one row per row of ``constants``)."""
    constants = np.atleast_2d(constants)
    if fixed is None:
        numerator = (constants * (w * c)).sum(axis=-1)
        denominator = np.maximum((constants**2 * w).sum(axis=-1), np.finfo(float).tiny)
        scale = numerator / denominator
    else:
        scale = np.zeros(len(constants)) + fixed
    residual = ((c - scale[:, np.newaxis] * constants) ** 2 * w).sum(axis=-1)
    return scale, residual


def _fit_homogeneous(coefficients, weights, activation, output):
    """``c_j = A g_j(t)`` with ``A = v s^q``: a search over ``t`` for each unit and
    orientation, ``A`` in closed form (of the output weight's sign if it is known),
    then one joint least-squares refinement of the units' ``t`` between the grid
    neighbours of their best point."""
    table = _homogeneous_table(activation)
    starts = [
        _grid_start(table, c, w, None if output is None else output[i], sign_only=True)
        for i, (c, w) in enumerate(zip(coefficients, weights, strict=True))
    ]
    orientation, oriented, index = (np.array(v) for v in zip(*starts, strict=True))
    t = _T_GRID[index]
    # A unit always on or always off: t is not identified, keep the grid's.
    free = (index != 0) & (index != len(_T_GRID) - 1)
    if free.any():
        neighbours = _T_GRID[index[free] - 1], _T_GRID[index[free] + 1]
        t[free] = _refine_units(
            t[free, np.newaxis],
            *(bound[:, np.newaxis] for bound in neighbours),
            oriented[free],
            weights[free],
            None,
            activation,
        )[:, 0]
    constants = activation.biased_hermite_constants(1.0, t)[:, 1:]
    amplitude, residual = _profile(constants, oriented, weights, None)
    if output is not None:
        # A = output s^q must have the sign of the known output weight.
        wrong = amplitude * output <= 0
        amplitude[wrong] = 0.0
        residual[wrong] = (oriented[wrong] ** 2 * weights[wrong]).sum(axis=1)
    rows = [
        _homogeneous_unit(a, t_i, activation.degree, v, o, r)
        for a, t_i, v, o, r in zip(
            amplitude,
            t,
            [None] * len(t) if output is None else output,
            orientation,
            residual,
            strict=True,
        )
    ]
    return (np.array(v) for v in zip(*rows, strict=True))


def _homogeneous_unit(amplitude, t, q, output, orientation, residual):
    """``(scale, bias, output, residual)`` from ``A = v s^q`` and ``t = b / s``."""
    v = np.sign(amplitude) if output is None else output
    if output is not None and amplitude * output <= 0:
        amplitude = 0.0
    s = abs(amplitude / v) ** (1.0 / q) if v else 0.0
    return orientation * s, t * s, float(v) if v else 1.0, float(residual)


def _fit_smooth(coefficients, weights, activation, output):
    """A search over the ``(s, b)`` grid for each unit and orientation, ``v`` in
    closed form (or fixed), then one joint least-squares refinement of all units on
    the exact constants."""
    table = _smooth_table(activation)
    fixed = [None] * len(coefficients) if output is None else output
    starts = [
        _grid_start(table, c, w, v)
        for c, w, v in zip(coefficients, weights, fixed, strict=True)
    ]
    orientation, oriented, index = (
        np.array(values) for values in zip(*starts, strict=True)
    )
    s = _S_GRID[index // len(_B_GRID)]
    b = _B_GRID[index % len(_B_GRID)]
    # A saturated (or vanishing) unit: its optimum is flat, keep the grid's.
    free = (s != _S_GRID[0]) & (s != _S_GRID[-1])
    if free.any():
        bounds = (
            np.array([[np.log(_S_GRID[0]), 1.5 * _B_GRID[0]]]),
            np.array([[np.log(_S_GRID[-1]), 1.5 * _B_GRID[-1]]]),
        )
        refined = _refine_units(
            np.column_stack([np.log(s[free]), b[free]]),
            *(np.repeat(bound, free.sum(), axis=0) for bound in bounds),
            oriented[free],
            weights[free],
            None if output is None else output[free],
            activation,
        )
        s[free], b[free] = np.exp(refined[:, 0]), refined[:, 1]
    constants = activation.biased_hermite_constants(s, b)[:, 1:]
    v, residual = _profile(constants, oriented, weights, output)
    return orientation * s, b, v, residual


def _grid_start(table, c, w, output, sign_only=False):
    """The orientation, the oriented coefficients and the grid row that fit best,
    with the output weight fixed (or, ``sign_only``, of the given sign)."""
    best = None
    for orientation, oriented in _orientations(c):
        fixed = None if sign_only else output
        amplitude, residual = _profile(table, oriented, w, fixed)
        if sign_only and output is not None:
            amplitude = np.where(amplitude * output > 0, amplitude, 0.0)
            residual = ((oriented - amplitude[:, None] * table) ** 2 * w).sum(axis=1)
        index = int(np.argmin(residual))
        if best is None or residual[index] < best[0]:
            best = (residual[index], orientation, oriented, index)
    return best[1:]


def _refine_units(start, lower, upper, oriented, weights, output, activation):
    """Least squares on the parameters of all units at once (a block-diagonal
    Jacobian from Stein's slopes), ``v_i`` profiled out (or fixed).

    ``start``, ``lower`` and ``upper`` hold one row per unit: ``(log s, b)``, or
    ``b`` alone for units of norm 1 (``t = b / s`` of a homogeneous activation).
    """
    n_units, n_free = start.shape
    root = np.sqrt(weights)
    memo = {}

    def residuals_and_jacobian(x):
        key = x.tobytes()
        if key not in memo:
            point = x.reshape(n_units, n_free)
            if n_free == 1:
                point = np.column_stack([np.zeros(n_units), point])
            residual, blocks = _projected_residuals(
                point, oriented, weights, root, output, activation
            )
            memo.clear()
            memo[key] = residual, linalg.block_diag(*blocks[:, :, 2 - n_free :])
        return memo[key]

    # Tight tolerances: the optimum, not where the iterations happen to stop, so
    # that equivalent data (weights as repetitions) give the same units.
    with scipy_blas_single_threaded():
        result = optimize.least_squares(
            lambda x: residuals_and_jacobian(x)[0],
            start.ravel(),
            jac=lambda x: residuals_and_jacobian(x)[1],
            bounds=(lower.ravel(), upper.ravel()),
            x_scale=np.full(start.size, 0.1),
            ftol=1e-15,
            xtol=1e-15,
            gtol=1e-15,
        )
    return result.x.reshape(n_units, n_free)


def _projected_residuals(point, oriented, weights, root, output, activation):
    """``sqrt(w) (c - v m(s, b))`` of every unit, and its Jacobian in ``(log s, b)``
    (one (4, 2) block per unit)."""
    constants, by_log_s, by_b = activation._biased_constants_and_slopes(
        np.exp(point[:, 0]), point[:, 1]
    )
    v, _ = _profile(constants, oriented, weights, output)
    gap = oriented - v[:, np.newaxis] * constants
    slopes = np.stack([by_log_s, by_b], axis=-1)
    fitted = v[:, np.newaxis, np.newaxis] * slopes
    if output is None:
        # Variable projection: v = <m, c>_w / <m, m>_w moves with (s, b).
        norm = np.maximum((weights * constants**2).sum(axis=1), np.finfo(float).tiny)
        by_v = np.einsum("uj,ujp->up", weights * gap, slopes)
        by_v -= v[:, np.newaxis] * np.einsum("uj,ujp->up", weights * constants, slopes)
        fitted += constants[:, :, np.newaxis] * (by_v / norm[:, np.newaxis])[:, None]
    return (root * gap).ravel(), -root[:, :, np.newaxis] * fitted


@lru_cache(maxsize=16)
def _cached_table(kind, activation):
    if kind == "homogeneous":
        return activation.biased_hermite_constants(1.0, _T_GRID)[:, 1:]
    S, B = np.meshgrid(_S_GRID, _B_GRID, indexing="ij")
    return activation.biased_hermite_constants(S.ravel(), B.ravel())[:, 1:]


def _homogeneous_table(activation):
    """``g_j(t)``, ``j = 1..4``, on the grid of ``t``, shape (n_t, 4)."""
    return _cached_table("homogeneous", activation)


def _smooth_table(activation):
    """``m_j(s, b)``, ``j = 1..4``, on the ``(s, b)`` grid, shape (n_s n_b, 4)."""
    return _cached_table("smooth", activation)


# -- Norms and signs of units without biases, from the lower moments

# Initial unit norms below this fraction of the largest are raised to it: a unit with
# w = 0 has no gradient through ReLU.
MIN_RELATIVE_NORM = 0.1
# No initial unit may output more than this many standard deviations of y: moment
# estimates from few samples can imply absurd magnitudes.
_MAX_UNIT_SCALE = 10.0
# Grid of weight norms on which non-homogeneous Hermite-constant ratios are inverted.
# Beyond a norm of 3 the constants of sigmoid-like activations saturate, so moments
# cannot tell 3 from 30 (and a saturated unit would stall gradient descent).
_SIGMA_GRID = np.geomspace(0.02, 3.0, 300)
# The mean output that sets a start's intercept is taken over at most about this
# many evenly spaced rows: to 0.3% of the spread of the output, far below the
# start's own error.
_MEAN_ROWS = 100_000


def magnitudes_and_signs(
    decomposition, moments, activation, orders, y_scale, output_scale=None
):
    """Signed norms of the hidden units and output weights (Step 5, RecMagSign).

    With unit directions ``u_i`` (in the subspace) from the decomposition, least
    squares on ``M_1 = sum_i z_i u_i`` and ``M_2 = sum_i r_i u_i u_i^T`` give
    ``z_i = v_i s_i m_1(||w_i||)`` and ``r_i = v_i m_2(||w_i||)``, where ``s_i`` is
    the sign relating ``u_i`` to ``w_i``. A homogeneous activation of degree ``q`` has
    ``m_j(sigma) = sigma^q m_j(1)``, which gives the norms directly; otherwise the norm
    solves ``m_3(sigma) / m_1(sigma) = lambda_i / z_i`` with ``lambda_i`` the CP weight.

    With known positive output weights ``v`` (``output_scale``, classification),
    ``s_i = sign(z_i)`` and the norm inverts ``m_1(sigma) = |z_i| / v``, capped at 3
    where ``m_1`` of a sigmoid saturates (Fu, Chi and Liang, 2018).

    A unit whose output would exceed ``10 y_scale`` in standard deviation is scaled
    down to it: from few samples the moments can imply absurd magnitudes.

    Returns
    -------
    signed_norms : ndarray of shape (k,)
        ``s_i ||w_i||``.
    output_weights : ndarray of shape (k,)
    estimates : Bunch
        The raw least-squares estimates ``z`` and ``r``.
    """
    factors = decomposition.factors
    k = factors.shape[1]
    z = np.linalg.lstsq(factors, moments[0], rcond=None)[0]
    at_one = activation.hermite_constants(1.0)
    r = None
    if orders.l2 == 2:
        design = np.einsum("pi,qi->pqi", factors, factors).reshape(k * k, k)
        r = np.linalg.lstsq(design, moments[1].ravel(), rcond=None)[0]
    estimates = Bunch(z=z, r=r)
    degree = activation.degree
    if output_scale is not None:
        first_constant = activation.hermite_constants(_SIGMA_GRID)[:, 1]
        norms = _invert_on_grid(first_constant, np.abs(z) / output_scale)
        directions = np.sign(z * at_one[1])
        output = np.full(k, output_scale)
    elif degree:
        m1, m2 = at_one[1], at_one[2]
        norms = (np.abs(z) / abs(m1)) ** (1.0 / degree) if m1 else None
        if r is not None:
            output = np.sign(r / m2)
            if norms is None:
                norms = (np.abs(r) / abs(m2)) ** (1.0 / degree)
        else:
            output = np.ones(k)
        directions = np.sign(z / (output * m1)) if m1 else np.ones(k)
    else:
        if orders.j3 != 3 or not at_one[1]:
            raise ValueError(
                f"The tensor initialisation of the non-homogeneous activation "
                f"{activation.display_name!r} needs non-vanishing m_1 and m_3. Use "
                "init='random'."
            )
        constants = activation.hermite_constants(_SIGMA_GRID)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = constants[:, 3] / constants[:, 1]
        norms = _invert_on_grid(ratio, decomposition.weights / z)
        constants = activation.hermite_constants(norms)
        if r is not None:
            output = r / constants[:, 2]
            directions = np.sign(z / (output * constants[:, 1]))
        else:
            output = np.abs(z) / np.abs(constants[:, 1])
            directions = np.sign(z * constants[:, 1])
    if output_scale is None:
        norms, output = guard_magnitudes(norms, output, activation, y_scale)
    norms = np.maximum(norms, MIN_RELATIVE_NORM * max(norms.max(), 1e-12))
    directions = np.where(directions == 0, 1.0, directions)
    output = np.where(output == 0, 1.0, output)
    return directions * norms, output, estimates


def guard_magnitudes(norms, output, activation, y_scale, biases=None):
    """Bound each unit's output scale by ``10 y_scale``."""
    unit_sd = output_sd(activation, norms, biases) * np.abs(output)
    ceiling = _MAX_UNIT_SCALE * max(y_scale, np.finfo(float).tiny)
    shrink = np.minimum(1.0, ceiling / np.where(unit_sd > 0, unit_sd, np.inf))
    if activation.degree and biases is None:
        norms = norms * shrink ** (1.0 / activation.degree)
    else:
        output = output * shrink
    return norms, output


def output_sd(activation, norms, biases=None):
    """Standard deviation of ``phi(sigma z + b)``, ``z ~ N(0, 1)``, to fourth
    Hermite order.

    Parseval: ``Var phi(sigma z + b) = sum_{j >= 1} m_j(sigma, b)^2 / j!``.
    """
    norms = np.asarray(norms, dtype=float)
    constants = (
        activation.hermite_constants(norms)
        if biases is None
        else activation.biased_hermite_constants(norms, biases)
    )
    return np.sqrt((constants[..., 1:] ** 2 / [1.0, 2.0, 6.0, 24.0]).sum(axis=-1))


def _invert_on_grid(curve, values):
    """Norms ``sigma`` at which a function of the Hermite constants takes ``values``.

    ``curve`` holds the function on the log-spaced grid of 300 norms from 0.02 to 3
    (one quadrature for all units); between grid points it is interpolated linearly
    where it crosses the value, which is far more accurate than the moments it
    inverts. A value outside the curve's range saturates at the nearest grid point
    (so a norm never exceeds 3, where sigmoid-like constants saturate), which
    gradient descent then corrects.
    """
    norms = np.empty(len(values))
    for i, value in enumerate(values):
        best = int(np.nanargmin(np.abs(curve - value)))
        norms[i] = _SIGMA_GRID[best]
        for lower in (best - 1, best):
            upper = lower + 1
            if lower < 0 or upper >= len(_SIGMA_GRID):
                continue
            left, right = curve[lower] - value, curve[upper] - value
            if left * right < 0:
                share = left / (left - right)
                norms[i] = _SIGMA_GRID[lower] + share * (
                    _SIGMA_GRID[upper] - _SIGMA_GRID[lower]
                )
    return norms


def fit_intercept_and_flips(sample, y, params, activation, fit_intercept):
    """Intercept matching the mean of ``y`` (or, without one, unit flips that do).

    For an odd-type activation with ``phi(-t) = c - phi(t)``, moments fix only
    ``v_j s_j``; flipping unit ``j`` to ``(-v_j, -w_j, -b_j)`` shifts the mean output
    by ``-v_j c``. Without an intercept, the flips whose mean best matches ``y`` are
    kept.
    """
    weights = sample.sample_weight
    mean_y = np.average(y, weights=weights)
    # Evenly spaced rows: a view of rows in memory, no copy.
    rows = slice(None, None, max(1, len(weights) // _MEAN_ROWS))
    output = forward(
        sample.X[rows], params, activation, patch_indices=sample.patch_indices
    )
    mean_output = np.average(output[:, 0], weights=weights[rows])
    if fit_intercept:
        return params._replace(intercept=np.array([mean_y - mean_output]))
    offset = activation.flip_offset * n_patches(sample)
    if activation.symmetry != "odd" or offset == 0:
        return params
    output = params.output_weights[0]
    k = len(output)
    if k > 16:
        return params
    patterns = (np.arange(2**k)[:, np.newaxis] >> np.arange(k)) & 1
    shifts = -offset * patterns @ output
    flip = patterns[np.argmin(np.abs(mean_output + shifts - mean_y))].astype(bool)
    signs = np.where(flip, -1.0, 1.0)
    biases = params.hidden_biases
    return params._replace(
        hidden_weights=params.hidden_weights * signs[:, np.newaxis],
        output_weights=params.output_weights * signs,
        hidden_biases=None if biases is None else biases * signs,
    )


def n_patches(sample):
    return 1 if sample.patch_indices is None else len(sample.patch_indices)
