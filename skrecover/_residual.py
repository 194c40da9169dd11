"""The unit a fitted network's residual still shows.

A fit at the global minimum leaves a residual ``y - f(x)`` with no structure; one
at a poor local minimum, or missing a unit (weak or ill-conditioned, hidden in the
noise of the moments of ``y``), leaves a second-moment eigenvalue of the residual
well above its own noise. :func:`residual_unit` measures it, and the estimator draws
its initialisation again, adds a unit, or warns with :func:`leftover_unit_message`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import Bunch

from ._base import weighted_variance
from ._network import forward
from ._tensor_init import linear_residual, unit_subspace

# A residual's moment eigenvalue this many times above its noise level shows a
# dropped unit: the initialisation is drawn again, a unit added or a warning given.
_DROPPED_UNIT_MARGIN = 2.0
# From this many times on (pure noise was seen to reach 1.35), n_hidden="auto"
# tries one more unit, which the information criterion judges: on tanh and sigmoid
# teachers at n = 3000, d = 10, k = 3, 2-unit fits (test R^2 0.956 and 0.987) left
# ratios of 1.7 and 1.6.
_GROWTH_MARGIN = 1.5
# Residuals below this fraction of the variance of y have nothing left to show.
_NEGLIGIBLE_RESIDUAL = 1e-12


def residual_unit(sample, y, params, activation, random_state):
    """The unit the residual of a fit still shows, or None.

    The moment spectrum of ``y - f(x)`` is measured against its own noise level,
    far below that of ``y``: a unit that ``n_hidden="auto"`` dropped (weak or
    ill-conditioned, within the noise of the moments of ``y``) stands out there.
    Returns a :class:`~sklearn.utils.Bunch` with the unit's ``direction`` (a
    hidden weight vector in original coordinates) and the moment ``eigenvalue``
    with its ``ratio`` to the noise level, when that ratio is above
    ``_GROWTH_MARGIN``; ``dropped`` says whether it is above
    ``_DROPPED_UNIT_MARGIN``.
    """
    residual = (
        y
        - forward(sample.X, params, activation, patch_indices=sample.patch_indices)[
            :, 0
        ]
    )
    variance = weighted_variance(y, sample.sample_weight)
    if weighted_variance(residual, sample.sample_weight) <= (
        _NEGLIGIBLE_RESIDUAL * variance
    ):
        return None
    basis, spectrum, noise_level, _ = unit_subspace(
        sample,
        linear_residual(sample, residual)[1],
        activation.moment_orders,
        1,
        random_state,
        np.sqrt(variance),
    )
    ratio = float(spectrum[0] / noise_level)
    if not ratio > _GROWTH_MARGIN:
        return None
    return Bunch(
        direction=sample.to_original(basis[:, 0]),
        eigenvalue=float(spectrum[0]),
        ratio=ratio,
        dropped=ratio > _DROPPED_UNIT_MARGIN,
    )


def leftover_unit_message(n_hidden, found, requested):
    """The warning that the residual of a fit with ``n_hidden`` units still
    shows a unit (``found``, from :func:`residual_unit`); ``requested`` is the
    estimator's ``n_hidden``."""
    seen = (
        f"moment eigenvalue of {found.eigenvalue:.3g}, {found.ratio:.3g} times its "
        "noise level"
    )
    if requested == "auto":
        return (
            f"n_hidden='auto' chose {n_hidden} units, but the residual of the fit "
            f"still has a {seen}: a weak or ill-conditioned unit was probably "
            f"dropped. Set n_hidden={n_hidden + 1} (or more) and compare the "
            "validation scores."
        )
    return (
        f"The residual of the fit with n_hidden={n_hidden} still has a {seen}, "
        "after every draw of the initialisation: gradient descent ended at a "
        "poor local minimum, or the data need more units. Set n_init higher, "
        f"n_hidden={n_hidden + 1}, or give more samples, and compare the "
        "validation scores."
    )
