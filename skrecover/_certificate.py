"""What a fit proves: the local analysis of the training loss at a fitted network.

At the fitted network, in its canonical form and in the units of the data, the
gradient and the Hessian of the training loss over the trained parameters, with
the directions along which the network's continuous symmetry leaves the loss flat
removed (the rescaling ``(w_j, b_j, v_j) -> (t w_j, t b_j, v_j / t^q)`` of a
homogeneous activation, when both layers are trained): a positive smallest
eigenvalue there certifies a strict local minimum of the canonical parameters.
The same Hessian ``H`` and the covariance ``G`` of the per-sample gradients give the
sandwich covariance ``H^-1 G H^-1`` of the trained parameters (White, 1982), which
the derivative of the canonical form carries to the fitted attributes.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Real

import numpy as np
from scipy import linalg
from scipy.special import ndtri
from sklearn.exceptions import NotFittedError
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params

from ._engine import reduce_rows
from ._network import NetworkParams, row_gradients, squared_hessian
from ._optim import ParameterPacker, _objective
from .exceptions import AssumptionWarning

# The fitted attributes a certificate's covariance covers, in its order.
_ATTRIBUTES = ("hidden_weights", "hidden_biases", "output_weights", "intercept")
# Central differences balance truncation (h^2) against rounding (eps / h).
_STEP = np.finfo(float).eps ** (1 / 3)
# Eigenvalues of the reduced Hessian below this fraction of the largest are not
# distinguishable from zero at the precision of its differences.
_POSITIVE = 1e-7


def local_analysis(
    X,
    y,
    sample_weight,
    params,
    activation,
    *,
    free,
    loss,
    scaling,
    canonical,
    patch_indices=None,
):
    """The certificate and the canonical parameters' covariance of a fitted network.

    Parameters
    ----------
    X, y, sample_weight : arrays of the training rows in working units
        The rows the loss was minimised on (zero weight for held-out rows).
    params : NetworkParams
        The fitted network in working units.
    activation : Activation
    free : sequence of str
        The trained parameters.
    loss : {"squared", "cross_entropy"}
    scaling : Scaling
        Working units of the fit.
    canonical : callable
        ``NetworkParams -> NetworkParams``: the estimator's canonical form, from
        which its fitted attributes are read.
    patch_indices : ndarray, default=None

    Returns
    -------
    certificate : Bunch
        See ``certificate_`` in the estimators that compute it.
    """
    fitted = canonical(scaling.to_original(params))
    working = scaling.to_working(fitted)
    packer = ParameterPacker(working, free)
    x = packer.pack(working)
    # d(working parameter) / d(original parameter), coordinate by coordinate.
    units = packer.pack(_difference(scaling.to_working, working))
    loss_unit = scaling.y_scale**2 if loss == "squared" else 1.0

    objective = _objective(
        X, y, sample_weight, packer, activation, loss, patch_indices, None
    )
    value, grad, _ = objective(x)
    if loss == "squared" and np.ndim(working.output_weights) == 2:
        full = squared_hessian(
            X, y, sample_weight, working, activation, patch_indices=patch_indices
        )
        trained = packer.pack(_positions(working)).astype(int)
        hessian, evaluations = full[np.ix_(trained, trained)], 1
    else:
        hessian, evaluations = _differenced_hessian(objective, x), 2 * x.size
    scores = _score_covariance(
        X, y, sample_weight, working, activation, packer, loss, patch_indices
    )
    # The linear algebra runs in the working units, where the blocks of the
    # Hessian are of comparable scale; with theta_working = units * theta_original
    # (+ a constant), H_original = loss_unit * units H units, likewise the
    # gradient, and a working step dx is dx / units in original parameters.
    flat = _flat_directions(packer, working, activation)
    basis = _complement(flat, x.size)
    reduced = basis.T @ hessian @ basis
    eigenvalues = linalg.eigvalsh(reduced) if reduced.size else np.zeros(1)
    positive = eigenvalues[0] > _POSITIVE * max(eigenvalues[-1], np.finfo(float).tiny)
    inverse = _inverse_on(basis, reduced) if positive else None
    # The derivative of the fitted attributes in the working parameters (the
    # canonical form is smooth away from ties of its unit order).
    jacobian = _central_differences(
        lambda v: _flatten_attributes(canonical(scaling.to_original(packer.unpack(v)))),
        x,
    )
    one_step = _flatten_attributes(fitted)
    if inverse is None:
        covariance = np.full((len(jacobian), len(jacobian)), np.nan)
        decrement = np.nan
    else:
        covariance = jacobian @ inverse @ scores @ inverse @ jacobian.T
        newton_step = inverse @ grad
        decrement = loss_unit * float(grad @ newton_step) / 2
        # Le Cam's one-step estimate: the fitted attributes moved by a Newton step
        # to the minimum of the training loss (the fit itself when it ends there).
        one_step = one_step - jacobian @ newton_step
    original = _original_eigenvalues(hessian, flat, units, loss_unit)
    return Bunch(
        training_loss=float(value * loss_unit),
        gradient_norm=float(np.linalg.norm(loss_unit * units * grad)),
        newton_decrement=decrement,
        hessian_min_eigenvalue=float(original[0]),
        hessian_max_eigenvalue=float(original[-1]),
        positive_definite=bool(positive),
        n_parameters=int(x.size),
        n_symmetries=int(x.size - basis.shape[1]),
        n_passes=int(evaluations + 2),
        covariance=covariance,
        one_step=one_step,
        layout=_layout(fitted),
    )


def _original_eigenvalues(hessian, flat, units, loss_unit):
    """The eigenvalues of the Hessian in the original units, off the flat
    directions."""
    basis = _complement(flat / units[:, np.newaxis], len(units))
    hessian = loss_unit * np.outer(units, units) * hessian
    reduced = basis.T @ hessian @ basis
    return linalg.eigvalsh(reduced) if reduced.size else np.zeros(1)


def _difference(transform, params):
    """The coordinate-wise derivative of an affine, diagonal ``transform`` of the
    parameters (values: ``transform(ones) - transform(zeros)``)."""
    ones = NetworkParams(*(None if p is None else np.ones(np.shape(p)) for p in params))
    zeros = NetworkParams(
        *(None if p is None else np.zeros(np.shape(p)) for p in params)
    )
    high, low = transform(ones), transform(zeros)
    return NetworkParams(
        *(
            None if h is None else np.asarray(h) - np.asarray(lo)
            for h, lo in zip(high, low, strict=True)
        )
    )


def _zeros_like(params):
    return NetworkParams(
        *(None if p is None else np.zeros(np.shape(p)) for p in params)
    )


def _positions(params):
    """``params`` whose entries are their positions in the flattened parameters
    (the order of :func:`~skrecover._network.squared_hessian`)."""
    arrays = [None if p is None else np.asarray(p) for p in params]
    sizes = [0 if a is None else a.size for a in arrays]
    starts = np.cumsum([0, *sizes])
    return NetworkParams(
        *(
            None if a is None else np.arange(start, start + a.size).reshape(a.shape)
            for a, start in zip(arrays, starts, strict=False)
        )
    )


def _differenced_hessian(gradient, x):
    """The Hessian by central differences of the gradient, symmetrised: two
    gradients per trained parameter (for smooth losses: differences across the
    kinks of a ReLU are noise)."""
    hessian = _central_differences(lambda v: gradient(v)[1], x)
    return (hessian + hessian.T) / 2


def _central_differences(function, x):
    """The Jacobian of ``function`` at ``x`` by central differences, one column
    per coordinate."""
    columns = []
    for index in range(x.size):
        step = _STEP * max(1.0, abs(x[index]))
        shift = np.zeros_like(x)
        shift[index] = step
        columns.append((function(x + shift) - function(x - shift)) / (2 * step))
    return np.column_stack(columns) if columns else np.zeros((function(x).size, 0))


def _score_covariance(
    X, y, sample_weight, params, activation, packer, loss, patch_indices
):
    """``sum_i s_i^2 g_i g_i^T / (sum_i s_i)^2`` of the per-sample gradients
    ``g_i``: the covariance of the mean gradient, in one pass."""

    def block(rows, targets, weights):
        scores = packer.pack_rows(
            row_gradients(
                rows,
                targets,
                params,
                activation,
                loss=loss,
                patch_indices=patch_indices,
            )
        )
        weighted = scores * weights[:, np.newaxis]
        return {"outer": weighted.T @ weighted, "weight": weights.sum()}

    width = 2 * packer.pack(params).size + X.shape[1]
    sums = reduce_rows(block, X, y, sample_weight, width=width)
    return sums["outer"] / float(sums["weight"]) ** 2


def _flat_directions(packer, params, activation):
    """The tangents of the rescaling orbit through ``params``, one per unit, as
    the columns of a matrix in the packed coordinates (none unless the activation
    is homogeneous and both layers are trained)."""
    free = set(packer.free)
    output = np.asarray(params.output_weights)
    if not (
        activation.degree
        and {"hidden_weights", "output_weights"} <= free
        and output.ndim == 2
        and (params.hidden_biases is None or "hidden_biases" in free)
    ):
        return np.zeros((packer.pack(params).size, 0))
    columns = []
    for unit in range(len(params.hidden_weights)):
        tangent = NetworkParams(
            np.zeros_like(params.hidden_weights),
            np.zeros_like(output),
            np.zeros_like(params.intercept),
            None
            if params.hidden_biases is None
            else np.zeros_like(params.hidden_biases),
        )
        tangent.hidden_weights[unit] = params.hidden_weights[unit]
        tangent.output_weights[:, unit] = -activation.degree * output[:, unit]
        if params.hidden_biases is not None:
            tangent.hidden_biases[unit] = params.hidden_biases[unit]
        columns.append(packer.pack(tangent))
    return np.column_stack(columns)


def _complement(flat, size):
    """An orthonormal basis of the directions orthogonal to the columns of
    ``flat``."""
    if flat.shape[1] == 0:
        return np.eye(size)
    return linalg.null_space(flat.T)


def _inverse_on(basis, reduced):
    """The inverse of the Hessian on the span of ``basis`` (zero on the flat
    directions): the gauge that moves orthogonally to the symmetry orbit."""
    return basis @ linalg.solve(reduced, basis.T, assume_a="sym")


def _flatten_attributes(params):
    return np.concatenate([np.ravel(getattr(params, name)) for name in _layout(params)])


def _layout(params):
    """The attributes of ``params`` in covariance order, with their sizes."""
    return {
        name: int(np.size(getattr(params, name)))
        for name in _ATTRIBUTES
        if getattr(params, name) is not None
    }


class ConfidenceIntervalsMixin:
    """``confidence_intervals`` of the estimators that compute ``certificate_``."""

    @validate_params(
        {"level": [Interval(Real, 0, 1, closed="neither")]},
        prefer_skip_nested_validation=True,
    )
    def confidence_intervals(self, level=0.95):
        """Confidence intervals of the fitted weights, from the sandwich covariance.

        Asymptotic normal intervals ``theta +- z sqrt(diag(C))`` with ``C =
        J H^-1 G H^-1 J^T``: ``H`` the Hessian of the training loss and ``G`` the
        covariance of its mean gradient (over the trained parameters, the
        symmetry's flat directions removed), ``J`` the derivative of the canonical
        form, which fixes the units' order, signs and scales, so the fitted
        attributes are identifiable. They are centred at the one-step estimate
        ``theta - J H^-1 g`` (``g`` the gradient): the fitted attributes moved by
        a Newton step to the minimum of the training loss, which is the fit itself
        when it ends there, and corrects a fit stopped early on held-out rows.
        Valid near a strict local minimum (``certificate_.positive_definite``),
        for many more samples than parameters; the intervals cover the parameters
        of the network closest to the data's distribution, which is the teacher
        when a network of this form made them (coverage of 95% intervals measured
        over 30 noisy teachers per family: 92-97%, see the user guide).
        Parameters the fit does not train have intervals of zero width.

        Parameters
        ----------
        level : float, default=0.95
            Coverage of each interval.

        Returns
        -------
        intervals : Bunch
            For each fitted weight (``hidden_weights``, ``output_weights``, and
            ``hidden_biases`` and ``intercept`` when the model has them), an
            array of shape ``(2, *attribute.shape)``: the lower and the upper
            bounds. NaN when the Hessian is not positive definite (with an
            :class:`~skrecover.exceptions.AssumptionWarning`).

        Examples
        --------
        >>> from skrecover import TensorInitGD
        >>> from skrecover.datasets import make_teacher_regression
        >>> X, y, teacher = make_teacher_regression(
        ...     n_samples=20_000, n_features=5, n_hidden=3, activation="tanh",
        ...     noise=0.3, random_state=0)
        >>> model = TensorInitGD(
        ...     activation="tanh", n_hidden=3, certify=True, random_state=0).fit(X, y)
        >>> model.certificate_.positive_definite
        True
        >>> low, high = model.confidence_intervals(level=0.95).hidden_weights
        >>> low.shape
        (3, 5)
        """
        certificate = getattr(self, "certificate_", None)
        if certificate is None:
            raise NotFittedError(
                f"This {type(self).__name__} has no certificate_: fit it with "
                "certify=True to get confidence intervals."
            )
        if not certificate.positive_definite:
            warnings.warn(
                "The Hessian of the training loss is not positive definite at the "
                "fit (eigenvalues from "
                f"{certificate.hessian_min_eigenvalue:.3g} to "
                f"{certificate.hessian_max_eigenvalue:.3g}): the data do not "
                "identify some weights (collinear or duplicated features, a unit "
                "that has no effect), or the fit did not end at a strict local "
                "minimum, so the intervals are NaN. Drop redundant features, or "
                "fewer units, and fit again.",
                AssumptionWarning,
                stacklevel=2,
            )
        z = float(ndtri(0.5 + level / 2))
        spread = z * np.sqrt(np.maximum(np.diag(certificate.covariance), 0.0))
        intervals, offset = Bunch(), 0
        for name, size in certificate.layout.items():
            value = getattr(self, f"{name}_", None)
            rows = slice(offset, offset + size)
            offset += size
            if value is None:
                continue
            shape = np.shape(value)
            centre = certificate.one_step[rows].reshape(shape)
            half = spread[rows].reshape(shape)
            intervals[name] = np.stack([centre - half, centre + half])
        return intervals
