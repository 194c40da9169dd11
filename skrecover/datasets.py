"""Teacher networks: synthetic data with known true weights.

Every generator returns ``X, y, teacher``; ``teacher`` is a :class:`TeacherNetwork`
holding the true weights, and ``teacher.predict`` is the same forward pass the
estimators use, so a fitted estimator and its teacher can be compared exactly.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import check_random_state

from ._network import NetworkParams, forward
from .activations import get_activation

__all__ = ["TeacherNetwork", "make_teacher_regression"]


class TeacherNetwork:
    """A one-hidden-layer network with known weights that generated a dataset.

    Parameters
    ----------
    hidden_weights : ndarray of shape (n_hidden, n_features)
        True hidden units ``w_j`` as rows.
    output_weights : ndarray of shape (n_hidden,)
        True output weights ``v_j``.
    activation : Activation
        Hidden activation.
    intercept : float, default=0.0
        Output bias.
    noise : float, default=0.0
        Standard deviation of the Gaussian label noise.
    input_covariance : ndarray of shape (n_features, n_features), default=None
        Covariance of the Gaussian inputs; ``None`` means the identity.

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
        noise=0.0,
        input_covariance=None,
    ):
        self.hidden_weights = hidden_weights
        self.output_weights = output_weights
        self.activation = activation
        self.intercept = intercept
        self.noise = noise
        self.input_covariance = input_covariance

    @property
    def n_hidden(self):
        return self.hidden_weights.shape[0]

    @property
    def params(self):
        """The weights as :class:`~skrecover._network.NetworkParams`."""
        return NetworkParams(
            np.asarray(self.hidden_weights, dtype=float),
            np.atleast_2d(np.asarray(self.output_weights, dtype=float)),
            np.atleast_1d(np.asarray(self.intercept, dtype=float)),
        )

    def predict(self, X):
        """Noise-free output of the teacher.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return forward(np.asarray(X), self.params, self.activation)[:, 0]

    def __repr__(self):
        return (
            f"TeacherNetwork(n_hidden={self.n_hidden}, "
            f"n_features={self.hidden_weights.shape[1]}, "
            f"activation={self.activation!r}, noise={self.noise})"
        )


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
    random_state=None,
):
    """Regression data from a one-hidden-layer teacher network with Gaussian inputs.

    ``y = sum_j v_j phi(w_j^T x) + noise`` with ``x ~ N(0, input_covariance)``. The
    hidden weights follow Zhong et al. (2017): ``W = U diag(linspace(1, kappa, k))
    Q^T`` with ``U`` (n_features x k) and ``Q`` (k x k) random orthonormal, so the
    singular values of ``W`` run from 1 to ``condition_number``.

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
    activation = get_activation(activation)
    hidden = _conditioned_weights(n_hidden, n_features, condition_number, rng)
    output = _output_weights(output_weights, n_hidden, rng)
    covariance = None if input_covariance is None else np.asarray(input_covariance)
    X = _gaussian_inputs(n_samples, n_features, covariance, rng)
    teacher = TeacherNetwork(
        hidden, output, activation, noise=noise, input_covariance=covariance
    )
    y = teacher.predict(X)
    if noise:
        y += noise * rng.standard_normal(n_samples)
    return X, y, teacher


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


def _gaussian_inputs(n_samples, n_features, covariance, rng):
    """``n_samples`` draws of ``N(0, covariance)`` (identity when ``None``)."""
    X = rng.standard_normal((n_samples, n_features))
    if covariance is not None:
        X = X @ np.linalg.cholesky(covariance).T
    return X
