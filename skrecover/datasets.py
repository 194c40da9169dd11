"""Teacher networks: synthetic data with known true weights.

Every generator returns ``X, y, teacher``; ``teacher`` is a :class:`TeacherNetwork`
holding the true weights, and ``teacher.predict`` is the same forward pass the
estimators use, so a fitted estimator and its teacher can be compared exactly.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import check_random_state

from ._network import Network
from .activations import get_activation
from .patches import make_patch_indices

__all__ = [
    "TeacherNetwork",
    "make_teacher_classification",
    "make_teacher_convolution",
    "make_teacher_regression",
    "make_teacher_two_layer",
]


class TeacherNetwork(Network):
    """A one-hidden-layer network with known weights that generated a dataset.

    Parameters
    ----------
    hidden_weights : ndarray of shape (n_hidden, n_features)
        True hidden units ``w_j`` as rows.
    output_weights : ndarray of shape (n_hidden,) or (n_outputs, n_hidden)
        True output weights ``v_j`` (one column per unit for several outputs).
    activation : Activation
        Hidden activation.
    intercept : float, default=0.0
        Output bias.
    hidden_biases : ndarray of shape (n_hidden,), default=None
        True biases ``b_j`` of the hidden units; None for units without.
    noise : float, default=0.0
        Standard deviation of the Gaussian label noise.
    input_covariance : ndarray of shape (n_features, n_features), default=None
        Covariance of the Gaussian inputs; ``None`` means the identity.
    patch_indices : ndarray of shape (n_patches, patch_length), default=None
        Feature indices of the patches of a convolutional teacher (hidden weights are
        then kernels of the patch length); ``None`` for a fully connected one.
    output_per_patch : bool, default=False
        The output weights are one per patch, ``f(x) = sum_l a_l phi(w^T x_l)`` for a
        single kernel ``w`` (Convotron), instead of one per kernel.

    Attributes
    ----------
    n_hidden : int
        Number of hidden units.

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_regression
    >>> X, y, teacher = make_teacher_regression(n_samples=5, random_state=0)
    >>> teacher.hidden_weights.shape
    (5, 10)
    >>> bool(abs(teacher.predict(X) - y).max() < 1e-12)
    True
    """

    def __init__(
        self,
        hidden_weights,
        output_weights,
        activation,
        *,
        intercept=0.0,
        hidden_biases=None,
        noise=0.0,
        input_covariance=None,
        patch_indices=None,
        output_per_patch=False,
    ):
        super().__init__(
            hidden_weights,
            output_weights,
            activation,
            intercept=intercept,
            hidden_biases=hidden_biases,
            patch_indices=patch_indices,
            output_per_patch=output_per_patch,
        )
        self.noise = noise
        self.input_covariance = input_covariance

    def __repr__(self):
        return super().__repr__()[:-1] + f", noise={self.noise})"


def make_teacher_regression(
    n_samples=1000,
    n_features=10,
    n_hidden=5,
    *,
    activation="squared_relu",
    condition_number=2.0,
    output_weights="sign",
    noise=0.0,
    input_covariance=None,
    patch_size=None,
    input_shape=None,
    hidden_biases=None,
    random_state=None,
):
    """Regression data from a one-hidden-layer teacher network with Gaussian inputs.

    ``y = sum_j v_j phi(w_j^T x + b_j) + noise`` with ``x ~ N(0, input_covariance)``
    (``b_j = 0`` unless ``hidden_biases`` is given), or,
    with ``patch_size``, the non-overlapping convolutional network
    ``y = sum_j v_j sum_l phi(w_j^T x_l) + noise`` over the disjoint patches ``x_l``.
    The hidden weights follow Zhong et al. (2017): ``W = U diag(linspace(1, kappa,
    k)) Q^T`` with ``U`` (d x k) and ``Q`` (k x k) random orthonormal, so the singular
    values of ``W`` run from 1 to ``condition_number`` (``d`` is the patch length for
    a convolutional teacher).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=10
        Input dimension ``d``.
    n_hidden : int, default=5
        Number of hidden units ``k <= d``.
    activation : str or Activation, default="squared_relu"
        Hidden activation (see :func:`skrecover.activations.get_activation`).
    condition_number : float, default=2.0
        Ratio ``kappa`` of the largest to the smallest singular value of ``W``.
    output_weights : {"sign", "positive"} or array-like of shape (n_hidden,), \
            default="sign"
        ``"sign"``: independent uniform signs ``+-1`` (the papers' setting);
        ``"positive"``: all ``+1``; or the weights themselves.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``.
    input_covariance : array-like of shape (n_features, n_features), default=None
        Covariance of the inputs; ``None`` for the identity (the setting of the
        guarantees). A non-identity covariance needs ``whiten=True`` in the estimator.
    patch_size : int or tuple of int, default=None
        Make a convolutional teacher with non-overlapping patches of this size (see
        :func:`skrecover.patches.make_patch_indices`); ``n_hidden`` kernels.
    input_shape : tuple of int, default=None
        Shape of one input for ``patch_size`` (e.g. ``(8, 8)`` or ``(8, 8, 3)``);
        it sets ``n_features``. ``None``: a 1-D signal of ``n_features``.
    hidden_biases : float or array-like of shape (n_hidden,), default=None
        Biases of the hidden units: a float draws them from ``N(0, scale^2)``,
        an array gives them; ``None``: units without biases.
    random_state : int, RandomState instance or None, default=None
        Seed for the weights, the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    teacher : TeacherNetwork
        The true weights, with hidden units as rows.

    References
    ----------
    K. Zhong, Z. Song, P. Jain, P. L. Bartlett, I. S. Dhillon. Recovery Guarantees for
    One-hidden-layer Neural Networks. ICML 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover.datasets import make_teacher_regression
    >>> X, y, teacher = make_teacher_regression(
    ...     n_samples=100, n_features=6, n_hidden=3, condition_number=4.0,
    ...     random_state=0)
    >>> X.shape, y.shape
    ((100, 6), (100,))
    >>> np.linalg.svd(teacher.hidden_weights, compute_uv=False).round(3)
    array([4. , 2.5, 1. ])
    """
    rng = check_random_state(random_state)
    X, teacher = _teacher_inputs_and_weights(
        n_samples,
        n_features,
        n_hidden,
        activation,
        condition_number,
        input_covariance,
        patch_size,
        input_shape,
        rng,
    )
    teacher.output_weights = _output_weights(output_weights, n_hidden, rng)
    teacher.hidden_biases = _hidden_biases(hidden_biases, n_hidden, rng)
    teacher.noise = noise
    return X, _noisy_labels(teacher, X, noise, rng), teacher


def make_teacher_classification(
    n_samples=1000,
    n_features=10,
    n_hidden=3,
    *,
    activation="sigmoid",
    condition_number=2.0,
    patch_size=None,
    input_shape=None,
    hidden_biases=None,
    random_state=None,
):
    """Binary labels from a one-hidden-layer teacher of Fu, Chi and Liang (2018).

    ``P(y = 1 | x) = (1 / K) sum_k sigmoid(w_k^T x + b_k)`` with ``x ~ N(0, I)`` (``b_k
    = 0`` unless ``hidden_biases`` is given), or, with
    ``patch_size``, ``(1 / (K r)) sum_k sum_l sigmoid(w_k^T x_l)`` over the ``r``
    disjoint patches of ``x``; ``y`` is a Bernoulli draw. The weights are drawn as in
    :func:`make_teacher_regression`, with singular values from 1 to
    ``condition_number`` (norms of 1 to 2 keep the problem well posed: the sigmoid's
    curvature vanishes for large norms).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=10
        Input dimension.
    n_hidden : int, default=3
        Number of units (kernels) ``K``.
    activation : str or Activation, default="sigmoid"
        Unit activation, with values in ``[0, 1]``.
    condition_number : float, default=2.0
        Ratio of the largest to the smallest singular value of the weights.
    patch_size : int or tuple of int, default=None
        Make a convolutional teacher with non-overlapping patches of this size.
    input_shape : tuple of int, default=None
        Shape of one input for ``patch_size``; it sets ``n_features``.
    hidden_biases : float or array-like of shape (n_hidden,), default=None
        Biases of the units: a float draws them from ``N(0, scale^2)``, an array
        gives them; ``None``: units without biases.
    random_state : int, RandomState instance or None, default=None
        Seed for the weights, the inputs and the labels.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Labels 0 and 1.
    teacher : TeacherNetwork
        The true weights; ``teacher.predict(X)`` is ``P(y = 1 | x)``.

    References
    ----------
    H. Fu, Y. Chi, Y. Liang. Guaranteed Recovery of One-Hidden-Layer Neural Networks
    via Cross Entropy. IEEE Transactions on Signal Processing 68, 2020.

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_classification
    >>> X, y, teacher = make_teacher_classification(n_samples=4, random_state=0)
    >>> y
    array([0, 1, 0, 1])
    >>> teacher.output_weights
    array([0.33333333, 0.33333333, 0.33333333])
    """
    rng = check_random_state(random_state)
    X, teacher = _teacher_inputs_and_weights(
        n_samples,
        n_features,
        n_hidden,
        activation,
        condition_number,
        None,
        patch_size,
        input_shape,
        rng,
    )
    n_patches = 1 if teacher.patch_indices is None else len(teacher.patch_indices)
    teacher.output_weights = np.full(n_hidden, 1.0 / (n_hidden * n_patches))
    teacher.hidden_biases = _hidden_biases(hidden_biases, n_hidden, rng)
    probability = teacher.predict(X)
    if probability.min() < 0 or probability.max() > 1:
        raise ValueError(
            f"The activation {teacher.activation.display_name!r} takes values outside "
            "[0, 1]; a classification teacher needs probabilities."
        )
    y = (rng.uniform(size=n_samples) < probability).astype(int)
    return X, y, teacher


def make_teacher_convolution(
    n_samples=1000,
    n_features=160,
    patch_size=16,
    *,
    stride=9,
    input_shape=None,
    activation="relu",
    output_weights="average",
    distribution="gaussian",
    noise=0.0,
    random_state=None,
):
    """Data from one convolutional filter over overlapping patches (Convotron).

    ``y = sum_l a_l phi(w^T x_l) + noise`` with one filter ``w`` (unit norm) read by
    every patch ``x_l`` of ``x``, patches as in
    :func:`~skrecover.patches.make_patch_indices`, and inputs drawn from a
    distribution symmetric about 0 (Goel, Klivans and Meka, 2018; Du and Goel, 2018).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=160
        Input dimension (set by ``input_shape`` when given).
    patch_size : int or tuple of int, default=16
        Spatial size of a patch.
    stride : int or tuple of int, default=9
        Step between patches.
    input_shape : tuple of int, default=None
        Shape of one input, e.g. ``(8, 8)`` or ``(8, 8, 3)``; ``None``: a 1-D signal.
    activation : {"relu", "leaky_relu", "linear"} or LeakyReLU, default="relu"
        Activation (Convotron's guarantee needs a linear odd part).
    output_weights : {"average", "random"} or array-like of shape (n_patches,), \
            default="average"
        ``"average"``: ``a_l = 1 / n_patches`` (Convotron); ``"random"``: Gaussian
        ``a`` of unit norm (Double Convotron); or the weights themselves.
    distribution : {"gaussian", "uniform", "rademacher", "mixture"}, \
            default="gaussian"
        Symmetric input distribution: ``N(0, I)``, uniform on ``[-sqrt(3),
        sqrt(3)]``, independent random signs, or the symmetric Gaussian mixture of
        :func:`make_teacher_two_layer`.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``.
    random_state : int, RandomState instance or None, default=None
        Seed for the weights, the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    teacher : TeacherNetwork
        ``hidden_weights`` of shape (1, patch length) holds ``w``, ``output_weights``
        of shape (n_patches,) holds ``a``.

    References
    ----------
    S. Goel, A. Klivans, R. Meka. Learning One Convolutional Layer with Overlapping
    Patches. ICML 2018.

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_convolution
    >>> X, y, teacher = make_teacher_convolution(n_samples=10, random_state=0)
    >>> X.shape, teacher.hidden_weights.shape, teacher.output_weights.shape
    ((10, 160), (1, 16), (17,))
    """
    rng = check_random_state(random_state)
    if input_shape is not None:
        n_features = int(np.prod(input_shape))
    patch_indices = make_patch_indices(
        n_features, patch_size, input_shape=input_shape, stride=stride
    )
    n_patches, patch_length = patch_indices.shape
    kernel = rng.standard_normal((1, patch_length))
    kernel /= np.linalg.norm(kernel)
    if isinstance(output_weights, str) and output_weights == "average":
        output = np.full(n_patches, 1.0 / n_patches)
    elif isinstance(output_weights, str) and output_weights == "random":
        output = rng.standard_normal(n_patches)
        output /= np.linalg.norm(output)
    else:
        output = _output_weights(output_weights, n_patches, rng)
    X = _symmetric_inputs(n_samples, n_features, distribution, rng)
    teacher = TeacherNetwork(
        kernel,
        output,
        get_activation(activation),
        noise=noise,
        patch_indices=patch_indices,
        output_per_patch=True,
    )
    return X, _noisy_labels(teacher, X, noise, rng), teacher


def make_teacher_two_layer(
    n_samples=1000,
    n_features=10,
    n_hidden=5,
    n_outputs=8,
    *,
    distribution="gaussian",
    condition_number=1.0,
    noise=0.0,
    random_state=None,
):
    """Data from a two-layer ReLU network with several outputs and symmetric inputs.

    ``y = A relu(W x) + noise`` with no biases (Ge, Kuditipudi, Li and Wang, 2019):
    hidden units ``W = (U diag(linspace(1, kappa, k)) Q^T)^T`` as in
    :func:`make_teacher_regression`, Gaussian output weights ``A`` (``n_outputs x
    n_hidden``) and inputs from a distribution symmetric about 0.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=10
        Input dimension ``d``.
    n_hidden : int, default=5
        Number of hidden units ``k <= d``.
    n_outputs : int, default=8
        Number of outputs ``l`` (the method of moments needs ``l >= k``).
    distribution : {"gaussian", "uniform", "rademacher", "mixture"}, \
            default="gaussian"
        ``N(0, I)``, uniform on ``[-sqrt(3), sqrt(3)]``, independent random signs,
        or the symmetric mixture ``x = s mu_m + N(0, I / 4)`` of 3 random centres
        ``mu_m ~ N(0, I)`` with a random sign ``s`` (the hard case of the method).
    condition_number : float, default=1.0
        Condition number ``kappa`` of ``W``.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to every output.
    random_state : int, RandomState instance or None, default=None
        Seed for the weights, the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_outputs), or (n_samples,) for one output
    teacher : TeacherNetwork
        ``hidden_weights`` of shape (n_hidden, n_features) and ``output_weights`` of
        shape (n_outputs, n_hidden) (``(n_hidden,)`` for one output).

    References
    ----------
    R. Ge, R. Kuditipudi, Z. Li, X. Wang. Learning Two-layer Neural Networks with
    Symmetric Inputs. ICLR 2019.

    Examples
    --------
    >>> from skrecover.datasets import make_teacher_two_layer
    >>> X, y, teacher = make_teacher_two_layer(n_samples=10, random_state=0)
    >>> X.shape, y.shape, teacher.output_weights.shape
    ((10, 10), (10, 8), (8, 5))
    """
    rng = check_random_state(random_state)
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be at least 1, got {n_outputs}.")
    hidden = _conditioned_weights(n_hidden, n_features, condition_number, rng)
    output = rng.standard_normal((n_outputs, n_hidden))
    X = _symmetric_inputs(n_samples, n_features, distribution, rng)
    teacher = TeacherNetwork(
        hidden,
        output if n_outputs > 1 else output[0],
        get_activation("relu"),
        noise=noise,
    )
    return X, _noisy_labels(teacher, X, noise, rng), teacher


def _noisy_labels(teacher, X, noise, rng):
    """The teacher's outputs plus Gaussian noise of standard deviation ``noise``."""
    y = teacher.predict(X)
    if noise:
        y += noise * rng.standard_normal(y.shape)
    return y


def _symmetric_inputs(n_samples, n_features, distribution, rng):
    """Inputs from a distribution symmetric about 0 (identity covariance but for
    the mixture)."""
    if distribution == "gaussian":
        return rng.standard_normal((n_samples, n_features))
    if distribution == "uniform":
        return rng.uniform(-np.sqrt(3), np.sqrt(3), (n_samples, n_features))
    if distribution == "rademacher":
        return rng.choice([-1.0, 1.0], (n_samples, n_features))
    if distribution == "mixture":
        centres = rng.standard_normal((_MIXTURE_CENTRES, n_features))
        signs = rng.choice([-1.0, 1.0], n_samples)[:, np.newaxis]
        chosen = centres[rng.randint(_MIXTURE_CENTRES, size=n_samples)]
        return signs * chosen + 0.5 * rng.standard_normal((n_samples, n_features))
    raise ValueError(
        "distribution must be 'gaussian', 'uniform', 'rademacher' or 'mixture', got "
        f"{distribution!r}."
    )


# Centres +-mu_m of the symmetric Gaussian mixture inputs.
_MIXTURE_CENTRES = 3


def _teacher_inputs_and_weights(
    n_samples,
    n_features,
    n_hidden,
    activation,
    condition_number,
    input_covariance,
    patch_size,
    input_shape,
    rng,
):
    """Gaussian inputs and a teacher with conditioned hidden weights (no outputs)."""
    if input_shape is not None:
        n_features = int(np.prod(input_shape))
    patch_indices = None
    if patch_size is not None:
        patch_indices = make_patch_indices(
            n_features, patch_size, input_shape=input_shape
        )
    n_inputs = n_features if patch_indices is None else patch_indices.shape[1]
    hidden = _conditioned_weights(n_hidden, n_inputs, condition_number, rng)
    covariance = None if input_covariance is None else np.asarray(input_covariance)
    X = _gaussian_inputs(n_samples, n_features, covariance, rng)
    teacher = TeacherNetwork(
        hidden,
        None,
        get_activation(activation),
        input_covariance=covariance,
        patch_indices=patch_indices,
    )
    return X, teacher


def _conditioned_weights(n_hidden, n_inputs, condition_number, rng):
    """Rows of ``(U diag(linspace(1, kappa, k)) Q^T)^T``, U and Q random orthonormal."""
    if not 1 <= n_hidden <= n_inputs:
        raise ValueError(
            f"n_hidden={n_hidden} must be between 1 and the input dimension "
            f"{n_inputs}: the hidden weights of a teacher must have full rank."
        )
    if condition_number < 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number}.")
    left = _haar_orthonormal(n_inputs, n_hidden, rng)
    right = _haar_orthonormal(n_hidden, n_hidden, rng)
    singular_values = np.linspace(1.0, condition_number, n_hidden)
    return (left * singular_values @ right.T).T


def _haar_orthonormal(n_rows, n_columns, rng):
    """Orthonormal columns distributed uniformly (Haar): QR of a Gaussian matrix."""
    q, r = np.linalg.qr(rng.standard_normal((n_rows, n_columns)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _output_weights(output_weights, n_hidden, rng):
    if isinstance(output_weights, str):
        if output_weights == "sign":
            return rng.choice([-1.0, 1.0], size=n_hidden)
        if output_weights == "positive":
            return np.ones(n_hidden)
        raise ValueError(
            f"output_weights must be 'sign', 'positive' or an array, got "
            f"{output_weights!r}."
        )
    weights = np.asarray(output_weights, dtype=float)
    if weights.shape != (n_hidden,):
        raise ValueError(
            f"output_weights must have shape ({n_hidden},), got {weights.shape}."
        )
    return weights


def _hidden_biases(hidden_biases, n_hidden, rng):
    """None, ``N(0, scale^2)`` draws for a float scale, or the given biases."""
    if hidden_biases is None:
        return None
    if np.ndim(hidden_biases) == 0:
        return float(hidden_biases) * rng.standard_normal(n_hidden)
    biases = np.asarray(hidden_biases, dtype=float)
    if biases.shape != (n_hidden,):
        raise ValueError(
            f"hidden_biases must be a scale or have shape ({n_hidden},), got "
            f"{biases.shape}."
        )
    return biases


def _gaussian_inputs(n_samples, n_features, covariance, rng):
    """``n_samples`` draws of ``N(0, covariance)`` (identity when ``None``)."""
    X = rng.standard_normal((n_samples, n_features))
    if covariance is not None:
        X = X @ np.linalg.cholesky(covariance).T
    return X
