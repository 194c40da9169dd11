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
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import optimize

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
    rows = [
        fit(c, w, activation, None if output is None else output[i])
        for i, (c, w) in enumerate(zip(coefficients, weights, strict=True))
    ]
    scale, bias, out, chi2 = (np.array(values) for values in zip(*rows, strict=True))
    return UnitFit(scale, bias, out, chi2 / len(_ORDERS))


def _orientations(c):
    """The coefficients of ``u`` and of ``-u``: ``c_j`` flips by ``(-1)^j``."""
    return ((1.0, c), (-1.0, c * (-1.0) ** _ORDERS))


def _profile(constants, c, w, fixed):
    """Best output scale for each row of ``constants`` (or the fixed one) and the
    weighted residual it leaves, vectorised over the rows."""
    if fixed is None:
        numerator = constants @ (w * c)
        denominator = np.maximum((constants**2) @ w, np.finfo(float).tiny)
        scale = numerator / denominator
    else:
        scale = np.full(len(constants), fixed)
    residual = ((c - scale[:, np.newaxis] * constants) ** 2) @ w
    return scale, residual


def _fit_homogeneous(c, w, activation, output):
    """``c_j = A g_j(t)`` with ``A = v s^q``: a search over ``t`` for each
    orientation, ``A`` in closed form (of the output weight's sign if it is known),
    refined by a bounded scalar minimisation."""
    q = activation.degree
    table = _homogeneous_table(activation)
    best = None
    for orientation, oriented in _orientations(c):
        amplitude, residual = _profile(table, oriented, w, None)
        if output is not None:
            # A = output s^q must have the sign of the known output weight.
            amplitude = np.where(amplitude * output > 0, amplitude, 0.0)
            residual = ((oriented - amplitude[:, None] * table) ** 2) @ w
        index = int(np.argmin(residual))
        if best is None or residual[index] < best[0]:
            best = (residual[index], orientation, oriented, index)
    residual, orientation, oriented, index = best
    if index in (0, len(_T_GRID) - 1):
        # A unit always on or always off: t is not identified, keep the grid's.
        amplitude = _profile(table[index : index + 1], oriented, w, None)[0][0]
        return _homogeneous_unit(
            amplitude, _T_GRID[index], q, output, orientation, residual
        )
    low, high = _T_GRID[max(index - 1, 0)], _T_GRID[min(index + 1, len(_T_GRID) - 1)]

    def objective(t):
        constants = activation.biased_hermite_constants(1.0, t)[1:][np.newaxis]
        amplitude, residual = _profile(constants, oriented, w, None)
        if output is not None and amplitude[0] * output <= 0:
            return float((oriented**2) @ w)
        return float(residual[0])

    t = optimize.minimize_scalar(
        objective, bounds=(low, high), method="bounded", options={"xatol": 1e-12}
    ).x
    constants = activation.biased_hermite_constants(1.0, t)[1:][np.newaxis]
    amplitude = _profile(constants, oriented, w, None)[0][0]
    return _homogeneous_unit(amplitude, t, q, output, orientation, objective(t))


def _homogeneous_unit(amplitude, t, q, output, orientation, residual):
    """``(scale, bias, output, residual)`` from ``A = v s^q`` and ``t = b / s``."""
    v = np.sign(amplitude) if output is None else output
    if output is not None and amplitude * output <= 0:
        amplitude = 0.0
    s = abs(amplitude / v) ** (1.0 / q) if v else 0.0
    return orientation * s, t * s, float(v) if v else 1.0, float(residual)


def _fit_smooth(c, w, activation, output):
    """A search over the ``(s, b)`` grid for each orientation, ``v`` in closed
    form (or fixed), refined by least squares on the exact constants."""
    table = _smooth_table(activation)
    best = None
    for orientation, oriented in _orientations(c):
        _, residual = _profile(table, oriented, w, output)
        index = int(np.argmin(residual))
        if best is None or residual[index] < best[0]:
            best = (residual[index], orientation, oriented, index)
    residual, orientation, oriented, index = best
    s0, b0 = _S_GRID[index // len(_B_GRID)], _B_GRID[index % len(_B_GRID)]
    if s0 in (_S_GRID[0], _S_GRID[-1]):
        # A saturated (or vanishing) unit: its optimum is flat, keep the grid's.
        v = _profile(table[index : index + 1], oriented, w, output)[0][0]
        return orientation * s0, b0, float(v), float(residual)
    root = np.sqrt(w)

    def residuals(point):
        constants = activation.biased_hermite_constants(np.exp(point[0]), point[1])
        scale, _ = _profile(constants[1:][np.newaxis], oriented, w, output)
        return root * (oriented - scale[0] * constants[1:])

    bounds = (
        [np.log(_S_GRID[0]), 1.5 * _B_GRID[0]],
        [np.log(_S_GRID[-1]), 1.5 * _B_GRID[-1]],
    )
    # Tight tolerances: the optimum, not where the iterations happen to stop, so
    # that equivalent data (weights as repetitions) give the same units.
    result = optimize.least_squares(
        residuals,
        [np.log(s0), b0],
        bounds=bounds,
        x_scale=[0.1, 0.1],
        ftol=1e-15,
        xtol=1e-15,
        gtol=1e-15,
    )
    s, b = np.exp(result.x[0]), result.x[1]
    constants = activation.biased_hermite_constants(s, b)[1:][np.newaxis]
    v = _profile(constants, oriented, w, output)[0][0]
    return orientation * s, b, float(v), float(2 * result.cost)


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
