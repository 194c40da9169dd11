"""Recovery errors: how close fitted weights are to a teacher's true weights.

A one-hidden-layer network is identifiable only up to a permutation of its hidden
units and the symmetries of its activation: a positive rescaling between the layers
for homogeneous activations (ReLU family), a joint sign flip of a unit's input and
output weights for odd ones (tanh, sigmoid). The functions here compare weights after
resolving these symmetries: canonical forms for the activation's symmetries
(:func:`~skrecover._network.canonicalize`), then the best matching of units by the
Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`).
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from numpy.polynomial import legendre
from scipy.optimize import linear_sum_assignment
from sklearn.neural_network import MLPClassifier, MLPRegressor

from ._network import Network, canonicalize
from .activations import get_activation

__all__ = [
    "as_network",
    "bias_error",
    "function_error",
    "hidden_weights_error",
    "match_hidden_units",
    "population_loss",
    "recovery_error",
    "recovery_success",
]


def match_hidden_units(
    true_weights, estimated_weights, *, allow_sign_flip=False, allow_scaling=False
):
    """Best one-to-one matching of estimated hidden units to true ones.

    Parameters
    ----------
    true_weights : array-like of shape (n_true, n_inputs)
        True hidden units as rows.
    estimated_weights : array-like of shape (n_estimated, n_inputs)
        Estimated hidden units as rows.
    allow_sign_flip : bool, default=False
        Treat ``w`` and ``-w`` as the same unit.
    allow_scaling : bool, default=False
        Compare directions only (unit-normalised rows).

    Returns
    -------
    errors : ndarray of shape (n_true,)
        Relative error ``||s_j w_hat_{pi(j)} - w_j|| / ||w_j||`` of each true unit;
        1.0 (the error of a zero estimate) for true units left unmatched.
    matches : ndarray of shape (n_true,)
        Index ``pi(j)`` of the estimated unit matched to true unit ``j``, -1 if none.
    signs : ndarray of shape (n_true,)
        The sign ``s_j`` applied to the matched estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover.metrics import match_hidden_units
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> errors, matches, signs = match_hidden_units(W, -W[::-1], allow_sign_flip=True)
    >>> matches, signs
    (array([1, 0]), array([-1., -1.]))
    """
    true_weights = np.atleast_2d(np.asarray(true_weights, dtype=float))
    estimated = np.atleast_2d(np.asarray(estimated_weights, dtype=float))
    if true_weights.shape[1] != estimated.shape[1]:
        raise ValueError(
            f"true_weights has {true_weights.shape[1]} inputs per unit but "
            f"estimated_weights has {estimated.shape[1]}."
        )
    if allow_scaling:
        true_weights = _unit_rows(true_weights)
        estimated = _unit_rows(estimated)
    norms = np.linalg.norm(true_weights, axis=1)
    norms = np.where(norms > 0, norms, 1.0)
    difference = estimated[np.newaxis, :, :] - true_weights[:, np.newaxis, :]
    cost = np.linalg.norm(difference, axis=2) / norms[:, np.newaxis]
    signs = np.ones_like(cost)
    if allow_sign_flip:
        flipped_difference = -estimated[np.newaxis] - true_weights[:, np.newaxis]
        flipped = np.linalg.norm(flipped_difference, axis=2) / norms[:, np.newaxis]
        signs = np.where(flipped < cost, -1.0, 1.0)
        cost = np.minimum(cost, flipped)
    rows, columns = linear_sum_assignment(cost)
    n_true = len(true_weights)
    errors, matches, chosen = np.ones(n_true), np.full(n_true, -1), np.ones(n_true)
    errors[rows], matches[rows], chosen[rows] = (
        cost[rows, columns],
        columns,
        signs[rows, columns],
    )
    return errors, matches, chosen


def hidden_weights_error(
    true_weights,
    estimated_weights,
    *,
    allow_sign_flip=False,
    allow_scaling=False,
    reduce="max",
):
    """Relative error of estimated hidden units after the best matching.

    Parameters
    ----------
    true_weights : array-like of shape (n_true, n_inputs)
        True hidden units as rows.
    estimated_weights : array-like of shape (n_estimated, n_inputs)
        Estimated hidden units as rows.
    allow_sign_flip : bool, default=False
        Treat ``w`` and ``-w`` as the same unit.
    allow_scaling : bool, default=False
        Compare directions only.
    reduce : {"max", "mean", "rms"} or None, default="max"
        ``"max"`` is the criterion of Zhong et al. (2017),
        ``max_j ||w_hat_{pi(j)} - w_j|| / ||w_j||``; ``"rms"`` with
        ``allow_scaling=True`` is the unit-row error ``||W_hat - W||_F / sqrt(k)`` of
        Ge et al. (2019); None returns one error per unit.

    Returns
    -------
    error : float or ndarray of shape (n_true,)

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover.metrics import hidden_weights_error
    >>> W = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> hidden_weights_error(W, W[::-1] * 1.01)
    0.01...
    >>> hidden_weights_error(W, -W, allow_sign_flip=True)
    0.0
    """
    errors = match_hidden_units(
        true_weights,
        estimated_weights,
        allow_sign_flip=allow_sign_flip,
        allow_scaling=allow_scaling,
    )[0]
    if reduce is None:
        return errors
    reducers = {
        "max": np.max,
        "mean": np.mean,
        "rms": lambda e: np.sqrt(np.mean(e**2)),
    }
    return float(reducers[reduce](errors))


def recovery_error(teacher, estimator, *, reduce="max"):
    """Recovery error of a fitted estimator's hidden weights against a teacher.

    Both networks are brought to the canonical form of the teacher's activation (unit
    output weights for homogeneous activations, positive output weights for odd
    ones), then matched unit to unit. Units with biases are compared as
    ``(w_j, b_j)`` (a network without biases has ``b_j = 0``).

    Parameters
    ----------
    teacher : TeacherNetwork
        The network that generated the data.
    estimator : fitted estimator or Network
        A one-hidden-layer estimator (read through its ``network_``) or a network.
    reduce : {"max", "mean", "rms"} or None, default="max"
        See :func:`hidden_weights_error`.

    Returns
    -------
    error : float or ndarray of shape (n_hidden,)

    See Also
    --------
    recovery_success : The success criterion of Zhong et al. (2017).

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import recovery_error
    >>> X, y, teacher = make_teacher_regression(random_state=0)
    >>> recovery_error(teacher, teacher)
    0.0
    """
    true, estimated = _canonical_pair(teacher, estimator)
    return hidden_weights_error(
        *_units(true, estimated),
        allow_sign_flip=teacher.activation.symmetry == "even",
        reduce=reduce,
    )


def bias_error(teacher, estimator):
    """Largest error of the hidden biases after the units are matched.

    Parameters
    ----------
    teacher : Network
        The network that generated the data.
    estimator : fitted estimator or Network

    Returns
    -------
    error : float
        ``max_j |b_hat_pi(j) - b_j|`` in the canonical form of
        :func:`recovery_error` (biases scale with their unit's weights).

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import bias_error
    >>> X, y, teacher = make_teacher_regression(hidden_biases=0.5, random_state=0)
    >>> bias_error(teacher, teacher)
    0.0
    """
    true, estimated = _canonical_pair(teacher, estimator)
    true_units, estimated_units = _units(true, estimated)
    _, matches, signs = match_hidden_units(
        true_units,
        estimated_units,
        allow_sign_flip=teacher.activation.symmetry == "even",
    )
    matched = np.where(matches >= 0, estimated_units[matches, -1] * signs, 0.0)
    return float(np.abs(matched - true_units[:, -1]).max())


def function_error(teacher, estimator, X):
    """Relative error of the network's function on inputs ``X``.

    Parameters
    ----------
    teacher : Network
        The network that generated the data.
    estimator : fitted estimator or Network
    X : array-like of shape (n_samples, n_features)
        Inputs, ideally held out.

    Returns
    -------
    error : float
        ``||f_hat(X) - f(X)|| / ||f(X) - mean f(X)||`` (root mean squares over
        samples and outputs).

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import function_error
    >>> X, y, teacher = make_teacher_regression(random_state=0)
    >>> function_error(teacher, teacher, X)
    0.0
    """
    truth = np.asarray(teacher.predict(X), dtype=float)
    predicted = np.asarray(as_network(estimator).predict(X), dtype=float)
    spread = np.linalg.norm(truth - truth.mean(axis=0))
    return float(np.linalg.norm(predicted - truth) / max(spread, np.finfo(float).tiny))


def recovery_success(teacher, estimator, *, threshold=0.01):
    """Whether the teacher is recovered in the sense of Zhong et al. (2017).

    Success means: after the best matching, every hidden unit has relative error at
    most ``threshold`` and every output weight has the teacher's sign.

    Parameters
    ----------
    teacher : TeacherNetwork
    estimator : fitted estimator or Network
    threshold : float, default=0.01

    Returns
    -------
    success : bool

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import recovery_success
    >>> X, y, teacher = make_teacher_regression(random_state=0)
    >>> recovery_success(teacher, teacher)
    True
    """
    true, estimated = _canonical_pair(teacher, estimator)
    errors, matches, _ = match_hidden_units(
        *_units(true, estimated),
        allow_sign_flip=teacher.activation.symmetry == "even",
    )
    if np.any(matches < 0) or errors.max() > threshold:
        return False
    true_signs = np.sign(true.output_weights)
    # The last axis holds the units (output weights may be per patch: 3-D).
    estimated_signs = np.sign(estimated.output_weights[..., matches])
    return bool(np.array_equal(true_signs, estimated_signs))


def population_loss(teacher, estimator):
    """Expected squared loss of a network on fresh data from a Gaussian teacher.

    ``(1/2) E ||f_hat(x) - y||^2`` over new samples of the teacher's distribution
    (``x ~ N(0, input_covariance)``, ``y = f(x) + noise``): the infinite-data
    counterpart of the training loss the estimators minimise (same ``1/2``
    convention), so that its gap to the training loss is the sampling error of
    the fit, and its excess over the noise, ``(1/2) E ||f_hat - f||^2``, what
    the fit got wrong. Computed, not sampled: the excess is a quadratic form in
    the output weights of both networks whose entries are the Gaussian integrals
    ``E[phi(u_a) phi(u_b)]`` of pairs of units. Given ``u_a``, the inner
    expectation over ``u_b`` is the zeroth Hermite constant of a unit with a
    bias (:meth:`~skrecover.activations.Activation.biased_hermite_constants`,
    exact for the ReLU family); the outer one is Gauss-Legendre quadrature split
    at both units' kinks, accurate to about 1e-12 relative.

    Parameters
    ----------
    teacher : TeacherNetwork
        A network with Gaussian inputs (``input_covariance``, identity when None)
        and label ``noise``, as made by
        :func:`~skrecover.datasets.make_teacher_regression`.
    estimator : fitted estimator or Network
        Any network :func:`as_network` reads (convolutional ones too).

    Returns
    -------
    loss : float

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import population_loss
    >>> X, y, teacher = make_teacher_regression(noise=0.1, random_state=0)
    >>> round(population_loss(teacher, teacher), 12)  # the noise alone: 0.1^2 / 2
    0.005
    """
    teacher_network = as_network(teacher)
    units = [_gaussian_units(as_network(estimator)), _gaussian_units(teacher_network)]
    n_outputs = {len(u.outputs) for u in units}
    if len(n_outputs) > 1:
        raise ValueError(
            f"The networks have {sorted(n_outputs)} outputs: they must have as many."
        )
    weights = np.vstack([u.weights for u in units])
    covariance = getattr(teacher, "input_covariance", None)
    gram = (
        weights @ weights.T
        if covariance is None
        else weights @ np.asarray(covariance, dtype=float) @ weights.T
    )
    biases = np.concatenate([u.biases for u in units])
    activations = [u.activation for u in units for _ in range(len(u.biases))]
    outputs = np.hstack([units[0].outputs, -units[1].outputs])
    shift = units[0].intercept - units[1].intercept
    means, products = _gaussian_unit_moments(gram, biases, activations)
    excess = (
        shift @ shift
        + 2 * shift @ (outputs @ means)
        + np.einsum("oa,ab,ob->", outputs, products, outputs)
    )
    noise = float(getattr(teacher, "noise", 0.0))
    return float(max(excess, 0.0) / 2 + noise**2 * len(shift) / 2)


# Standard Gaussian mass beyond this many deviations is below 1e-32.
_GAUSSIAN_REACH = 12.0
_QUADRATURE = legendre.leggauss(96)


def _gaussian_units(network):
    """A network as fully connected units: weights (m, d), biases (m,), output
    coefficients (n_outputs, m), intercept (n_outputs,) and the activation (a
    kernel on each of its patches is one unit per patch)."""
    from sklearn.utils import Bunch

    params = network.params
    weights, output = params.hidden_weights, params.output_weights
    n_hidden = len(weights)
    biases = (
        np.zeros(n_hidden) if params.hidden_biases is None else params.hidden_biases
    )
    patches = network.patch_indices
    if patches is not None:
        n_features = int(np.max(patches)) + 1
        full = np.zeros((len(patches), n_hidden, n_features))
        for patch, columns in enumerate(patches):
            full[patch][:, columns] = weights
        weights = full.reshape(-1, n_features)
        biases = np.tile(biases, len(patches))
        if output.ndim == 2:
            output = np.tile(output, (1, len(patches)))
    return Bunch(
        weights=weights,
        biases=biases,
        outputs=output.reshape(len(output), -1),
        intercept=np.broadcast_to(params.intercept, len(output)),
        activation=network.activation,
    )


def _gaussian_unit_moments(gram, biases, activations):
    """``E[phi_a(u_a)]`` and ``E[phi_a(u_a) phi_b(u_b)]`` for ``u = W x + b``,
    ``x`` Gaussian with ``Cov(W x) = gram``."""
    scales = np.sqrt(np.maximum(np.diag(gram), 0.0))
    means = np.array(
        [
            activation.biased_hermite_constants(scale, bias)[0]
            for activation, scale, bias in zip(activations, scales, biases, strict=True)
        ]
    )
    size = len(biases)
    products = np.empty((size, size))
    for a in range(size):
        for b in range(a, size):
            products[a, b] = products[b, a] = _pair_moment(
                gram, scales, biases, activations, a, b
            )
    return means, products


def _pair_moment(gram, scales, biases, activations, a, b):
    """``E[phi_a(u_a) phi_b(u_b)]``: Gauss-Legendre over ``u_a = b_a + s_a z``,
    split at the kinks of both units, of ``phi_a`` times the Gaussian mean of
    ``phi_b`` given ``z``."""
    s_a, s_b = scales[a], scales[b]
    rho = gram[a, b] / (s_a * s_b) if s_a > 0 and s_b > 0 else 0.0
    rho = min(max(rho, -1.0), 1.0)
    spread = s_b * np.sqrt(max(1.0 - rho * rho, 0.0))
    kinks = [-biases[a] / s_a if s_a > 0 else None]
    kinks.append(-biases[b] / (s_b * rho) if s_b * rho != 0 else None)
    edges = sorted(
        {-_GAUSSIAN_REACH, _GAUSSIAN_REACH}
        | {k for k in kinks if k is not None and abs(k) < _GAUSSIAN_REACH}
    )
    nodes, weights = _QUADRATURE
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        z = (high - low) / 2 * nodes + (high + low) / 2
        centre = biases[b] + s_b * rho * z
        if spread > 0:
            inner = activations[b].biased_hermite_constants(
                np.full_like(z, spread), centre
            )[:, 0]
        else:
            inner = activations[b](centre)
        outer = activations[a](biases[a] + s_a * z)
        density = np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
        total += (high - low) / 2 * np.sum(weights * outer * inner * density)
    return total


def _canonical_pair(teacher, estimator):
    return tuple(
        canonicalize(
            network.params, teacher.activation, patch_indices=network.patch_indices
        )
        for network in (teacher, as_network(estimator))
    )


def _units(*networks):
    """Hidden weights, with the biases as a last column when either network has
    biases (zeros for the one without)."""
    if all(network.hidden_biases is None for network in networks):
        return [network.hidden_weights for network in networks]
    return [
        np.column_stack(
            [
                network.hidden_weights,
                np.zeros(len(network.hidden_weights))
                if network.hidden_biases is None
                else network.hidden_biases,
            ]
        )
        for network in networks
    ]


def as_network(model):
    """The :class:`~skrecover.Network` of a fitted estimator, or the network itself.

    Parameters
    ----------
    model : Network or fitted estimator
        A network (a teacher, say), an estimator with a ``network_`` (the
        one-hidden-layer estimators of skrecover), or a fitted
        :class:`~sklearn.neural_network.MLPRegressor` or
        :class:`~sklearn.neural_network.MLPClassifier` with exactly one hidden
        layer.

    Returns
    -------
    network : Network
        For an MLP, the network of its weights: hidden weights ``coefs_[0].T``,
        hidden biases ``intercepts_[0]``, output weights ``coefs_[1].T`` (1-D for
        one output), intercept ``intercepts_[1]``, and the activation of the same
        name (``"logistic"`` is ``"sigmoid"``, ``"identity"`` is ``"linear"``). Its
        ``predict`` is ``MLPRegressor.predict``; for an MLPClassifier it is the
        output *before* the output activation (logistic or softmax), the log-odds.

    Raises
    ------
    TypeError
        For a model with no network: an estimator without ``network_``, or an MLP
        with more than one hidden layer.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import as_network
    >>> X, y, teacher = make_teacher_regression(random_state=0)
    >>> as_network(teacher) is teacher
    True
    >>> mlp = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    >>> mlp = mlp.fit(X, y)
    >>> network = as_network(mlp)
    >>> network.hidden_weights.shape, network.output_weights.shape, network.activation
    ((4, 10), (4,), ReLU())
    >>> bool(np.allclose(network.predict(X), mlp.predict(X)))
    True
    """
    if isinstance(model, Network):
        return model
    if isinstance(model, MLPRegressor | MLPClassifier):
        return _mlp_network(model)
    try:
        return model.network_
    except AttributeError as error:
        raise TypeError(
            f"{type(model).__name__} has no fitted network_: fit it first (only the "
            "one-hidden-layer estimators have one), or pass a Network."
        ) from error


# scikit-learn's names of the MLP activations -> skrecover's.
_MLP_ACTIVATIONS = {
    "identity": "linear",
    "logistic": "sigmoid",
    "relu": "relu",
    "tanh": "tanh",
}


def _mlp_network(mlp):
    """The :class:`Network` of a fitted one-hidden-layer MLP."""
    name = type(mlp).__name__
    if not hasattr(mlp, "coefs_"):
        raise TypeError(
            f"This {name} is not fitted: fit it first, then compare its network."
        )
    if len(mlp.coefs_) != 2:
        raise TypeError(
            f"{name} has {len(mlp.coefs_) - 1} hidden layers: only an MLP with "
            "exactly one hidden layer, e.g. hidden_layer_sizes=(k,), is a "
            "one-hidden-layer network."
        )
    if mlp.activation not in _MLP_ACTIVATIONS:
        raise ValueError(
            f"{name}(activation={mlp.activation!r}) has no skrecover counterpart: "
            f"use one of {sorted(_MLP_ACTIVATIONS)}."
        )
    hidden, output = mlp.coefs_
    hidden_biases, intercept = mlp.intercepts_
    output = output.T
    return Network(
        hidden.T,
        output[0] if output.shape[0] == 1 else output,
        get_activation(_MLP_ACTIVATIONS[mlp.activation]),
        intercept=intercept,
        hidden_biases=hidden_biases,
    )


def _unit_rows(weights):
    norms = np.linalg.norm(weights, axis=1, keepdims=True)
    return weights / np.where(norms > 0, norms, 1.0)
