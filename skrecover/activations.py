"""Activation functions and their Gaussian Hermite constants.

Every tensor method in skrecover rests on one identity (Stein's lemma in tensor form):
for ``x ~ N(0, I)``, a weight vector ``w`` and an activation ``phi``,

.. math::

    E[\\phi(w^T x) H_j(x)] = m_j(\\|w\\|) \\, \\bar w^{\\otimes j},
    \\qquad m_j(\\sigma) = E_{z \\sim N(0, 1)}[\\phi(\\sigma z) He_j(z)],

where ``H_j`` is the tensor Hermite polynomial and ``He_j`` the probabilists' Hermite
polynomial. An :class:`Activation` knows its value, its derivative, its positive
homogeneity degree, its symmetry, and these constants ``m_j``: in closed form for the
piecewise-polynomial ReLU family, by adaptive quadrature for smooth activations. Which
constants vanish identically decides which moment orders a method may use
(:attr:`Activation.moment_orders`).
"""

# SPDX-License-Identifier: BSD-3-Clause

import inspect
import math
from functools import cache, partial
from typing import NamedTuple

import numpy as np
from numpy.polynomial import hermite_e
from numpy.polynomial import polynomial as power_series
from scipy import integrate, special

__all__ = [
    "Activation",
    "LeakyReLU",
    "MomentOrders",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "SquaredReLU",
    "Tanh",
    "get_activation",
]

MAX_ORDER = 4
# Orders up to MAX_ORDER + 2 give the slopes of m_1..m_4 in (sigma, b) by Stein.
_SLOPE_ORDER = MAX_ORDER + 2
# Power-series coefficients of He_0, ..., He_{_SLOPE_ORDER}.
_HERMITE_POWERS = [hermite_e.herme2poly(row) for row in np.eye(_SLOPE_ORDER + 1)]
# Relative size below which a Hermite constant counts as identically zero.
_ZERO_TOL = 1e-9
# Beyond |z| = 14 the Gaussian density is below 1e-42: the tails do not count.
_Z_MAX = 14.0


class MomentOrders(NamedTuple):
    """Orders of the Hermite moments a tensor method uses for an activation.

    Attributes
    ----------
    j2 : int
        Order of the moment whose contraction gives the subspace matrix ``P_2``.
    j3 : int
        Order of the moment whose contraction gives the 3-way tensor ``P_3``.
    l1 : int
        Lowest non-vanishing order, used for magnitudes and direction signs.
    l2 : int
        Lowest non-vanishing order of at least 2, used for output signs.

    Examples
    --------
    >>> from skrecover.activations import ReLU
    >>> ReLU().moment_orders.j3
    4
    """

    j2: int
    j3: int
    l1: int
    l2: int


class Activation:
    r"""An elementwise activation function with its Gaussian Hermite constants.

    Use this class directly for a user-defined activation; the built-in ones are
    :class:`ReLU`, :class:`LeakyReLU`, :class:`SquaredReLU`, :class:`Sigmoid` and
    :class:`Tanh`.

    Parameters
    ----------
    function : callable
        Vectorised ``phi``: maps an ndarray to an ndarray of the same shape. It must
        be defined at module level (not a lambda) for the estimator to pickle.
    derivative : callable
        Vectorised ``phi'``.
    name : str, default=None
        Name used in messages; defaults to the function's ``__name__``.
    degree : float, default=None
        Positive homogeneity degree ``q`` (``phi(c z) = c**q phi(z)`` for ``c > 0``)
        when it has one. Homogeneous activations get their magnitudes in closed form;
        the others by inverting a ratio of Hermite constants.

    See Also
    --------
    get_activation : Resolve a name such as ``"relu"`` to an activation.

    Notes
    -----
    The constants :math:`m_j(\sigma) = \mathbb{E}_{z \sim \mathcal{N}(0, 1)}
    [\phi(\sigma z)\, He_j(z)]`, :math:`j = 0, \dots, 4`, of a user-defined
    activation are computed by adaptive quadrature
    (:func:`scipy.integrate.quad_vec`), split at the origin so that kinks and steep
    transitions there are integrated accurately for every :math:`\sigma`.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover.activations import Activation, Tanh
    >>> mine = Activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, name="my_tanh")
    >>> np.allclose(mine.hermite_constants(1.0), Tanh().hermite_constants(1.0))
    True
    >>> mine.moment_orders
    MomentOrders(j2=3, j3=3, l1=1, l2=3)
    """

    def __init__(self, function, derivative, *, name=None, degree=None):
        self.function = function
        self.derivative_function = derivative
        self.name = name
        self.degree = degree

    # -- the sklearn-style parameter protocol, so that GridSearchCV can tune
    # e.g. ``activation__slope`` and ``clone`` copies activations faithfully.
    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p for p in signature.parameters if p != "self")

    def get_params(self, deep=True):
        """Get the parameters of this activation (the ``__init__`` arguments).

        Parameters
        ----------
        deep : bool, default=True
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: self._param_value(name) for name in self._get_param_names()}

    def _param_value(self, name):
        if name == "derivative":
            return self.derivative_function
        return getattr(self, name)

    def set_params(self, **params):
        """Set the parameters of this activation.

        Parameters
        ----------
        **params : dict
            Activation parameters.

        Returns
        -------
        self : Activation
            This activation.
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for activation {self!r}. "
                    f"Valid parameters are: {valid}."
                )
            setattr(self, "derivative_function" if key == "derivative" else key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self).__name__, self.display_name))

    @property
    def display_name(self):
        """Short name used in messages."""
        if self.name is not None:
            return self.name
        return getattr(self.function, "__name__", type(self).__name__)

    # -- values
    def __call__(self, z):
        """Evaluate the activation elementwise."""
        return self.function(z)

    def derivative(self, z):
        """Evaluate the derivative elementwise."""
        return self.derivative_function(z)

    def value_and_derivative(self, z):
        """Evaluate the activation and its derivative in one call."""
        return self(z), self.derivative(z)

    def second_derivative(self, z):
        """Evaluate the second derivative elementwise (where it exists).

        This default takes central differences of :meth:`derivative` (for smooth
        activations; step ``eps^(1/3)`` relative); the built-ins are exact.
        """
        z = np.asarray(z, dtype=float)
        step = np.finfo(float).eps ** (1 / 3) * np.maximum(1.0, np.abs(z))
        return (self.derivative(z + step) - self.derivative(z - step)) / (2 * step)

    # -- logs, for the cross-entropy of activations with values in [0, 1]
    def log_value_and_derivative(self, z):
        """``log phi(z)`` and its derivative ``phi'(z) / phi(z)``.

        For activations with values in ``[0, 1]``. This default clips ``phi`` at
        the smallest positive float, where the derivative is then 0 (the clipped
        log is constant); :class:`Sigmoid` computes both exactly.
        """
        value, slope = self.value_and_derivative(z)
        return _clipped_log(value, slope)

    def log_complement_and_derivative(self, z):
        """``log(1 - phi(z))`` and its derivative ``-phi'(z) / (1 - phi(z))``."""
        value, slope = self.value_and_derivative(z)
        return _clipped_log(1.0 - value, -slope)

    # -- Gaussian constants
    def hermite_constants(self, sigma=1.0):
        """Gaussian Hermite constants ``m_0(sigma), ..., m_4(sigma)``.

        Parameters
        ----------
        sigma : float or array-like of shape (n_sigmas,)
            Norms of the weight vectors, ``sigma >= 0``.

        Returns
        -------
        constants : ndarray of shape (5,) or (n_sigmas, 5)
            ``constants[..., j] = E[phi(sigma z) He_j(z)]`` with ``z ~ N(0, 1)``.
        """
        sigma = np.asarray(sigma, dtype=float)
        if np.any(sigma < 0):
            raise ValueError("sigma must be non-negative.")
        constants = self._hermite_constants(np.atleast_1d(sigma).ravel())
        return constants.reshape(sigma.shape + (MAX_ORDER + 1,))

    def _hermite_constants(self, sigma):
        """``m_j(sigma)`` for a flat array ``sigma >= 0``, shape (n, 5): adaptive
        quadrature, split at the origin."""

        def integrand(z):
            return np.outer(self(sigma * z), _hermite_vander(z)) * _gaussian_pdf(z)

        options = {"epsabs": 1e-14, "epsrel": 1e-12}
        negative, _ = integrate.quad_vec(integrand, -_Z_MAX, 0.0, **options)
        positive, _ = integrate.quad_vec(integrand, 0.0, _Z_MAX, **options)
        return negative + positive

    def biased_hermite_constants(self, sigma, bias):
        """Gaussian Hermite constants of a unit with a bias, ``m_j(sigma, b)``.

        ``m_j(sigma, b) = E[phi(sigma z + b) He_j(z)]``, ``j = 0..4``: by Stein's
        lemma the moments of a biased unit ``phi(w^T x + b)`` are
        ``m_j(||w||, b) (w / ||w||)^{(x)j}``, with constants that no longer vanish
        where the unbiased ones do (``m_2`` of tanh, ``m_3`` of ReLU).

        Parameters
        ----------
        sigma : float or array-like
            Norms of the weight vectors; a negative ``sigma`` stands for the unit
            of the opposite direction (``m_j(-s, b) = (-1)^j m_j(s, b)``).
        bias : float or array-like
            Biases, broadcast against ``sigma``.

        Returns
        -------
        constants : ndarray of shape ``broadcast(sigma, bias).shape + (5,)``

        Examples
        --------
        >>> import numpy as np
        >>> from skrecover.activations import ReLU, Tanh
        >>> bool(np.allclose(ReLU().biased_hermite_constants(1.3, 0.0),
        ...                  ReLU().hermite_constants(1.3)))
        True
        >>> Tanh().biased_hermite_constants(1.0, 0.5).round(4)
        array([ 0.2955,  0.562 , -0.1681, -0.2835,  0.2987])
        """
        sigma, bias = np.broadcast_arrays(
            np.asarray(sigma, dtype=float), np.asarray(bias, dtype=float)
        )
        constants = self._biased_constants(np.abs(sigma).ravel(), bias.ravel())
        signs = np.where(sigma.ravel() < 0, -1.0, 1.0)[:, np.newaxis]
        constants *= signs ** np.arange(MAX_ORDER + 1)
        return constants.reshape(sigma.shape + (MAX_ORDER + 1,))

    def _biased_constants_and_slopes(self, sigma, bias):
        """``m_j(sigma, b)``, ``j = 1..4``, and their slopes in ``log sigma`` and ``b``.

        By Stein's lemma, ``d m_j / d b = m_{j+1} / sigma`` and
        ``d m_j / d log(sigma) = m_{j+2} + j m_j``.

        Parameters
        ----------
        sigma : ndarray of shape (n,)
            Positive norms.
        bias : ndarray of shape (n,)

        Returns
        -------
        constants, by_log_sigma, by_bias : ndarrays of shape (n, 4)
        """
        m = self._biased_constants(sigma, bias, order=_SLOPE_ORDER)
        orders = np.arange(1, MAX_ORDER + 1)
        constants = m[:, 1 : MAX_ORDER + 1]
        by_log_sigma = m[:, 3:] + orders * constants
        by_bias = m[:, 2 : MAX_ORDER + 2] / sigma[:, np.newaxis]
        return constants, by_log_sigma, by_bias

    def _biased_constants(self, sigma, bias, order=MAX_ORDER):
        """``m_j(sigma, b)``, ``j <= order``, for ``sigma >= 0``, flat arrays, shape
        (n, order + 1).

        With ``t = b / sigma`` and ``u = z + t``, ``m_j = int phi(sigma u)
        He_j(u - t) pdf(u - t) du``: the kink (or the steepest part) of ``phi`` is at
        ``u = 0`` for every unit, where the adaptive quadrature is split.
        """
        constant = sigma == 0
        scale = np.where(constant, 1.0, sigma)
        shift = np.where(constant, 0.0, bias / scale)
        reach = _Z_MAX + np.abs(shift).max(initial=0.0)

        def integrand(u):
            z = u - shift
            values = self(scale * u)[:, np.newaxis] * _gaussian_pdf(z)[:, np.newaxis]
            return values * hermite_e.hermevander(z, order)

        options = {"epsabs": 1e-14, "epsrel": 1e-12}
        negative, _ = integrate.quad_vec(integrand, -reach, 0.0, **options)
        positive, _ = integrate.quad_vec(integrand, 0.0, reach, **options)
        constants = negative + positive
        constants[constant] = 0.0
        constants[constant, 0] = self(bias[constant])
        return constants

    @property
    def symmetry(self):
        """Parity of the activation: ``"odd"``, ``"even"`` or ``None``.

        ``"odd"`` means ``phi(-t) = c - phi(t)`` for a constant ``c`` (see
        :attr:`flip_offset`): the units ``(v, w)`` and ``(-v, -w)`` then differ only by
        the constant ``v c``. ``"even"`` means ``phi(-t) = phi(t)``.
        """
        t = np.linspace(0.1, 3.0, 13)
        total = self(t) + self(-t)
        scale = max(np.abs(self(t)).max(), 1.0)
        if np.ptp(total) <= 1e-10 * scale:
            return "odd"
        if np.abs(self(t) - self(-t)).max() <= 1e-10 * scale:
            return "even"
        return None

    @property
    def flip_offset(self):
        """The constant ``c`` with ``phi(-t) = c - phi(t)`` for odd-type activations."""
        return float(self(np.array(0.0))) * 2.0

    @property
    def moment_orders(self):
        """The moment orders ``(j2, j3, l1, l2)`` a tensor method uses.

        They follow from which Hermite constants vanish identically: ``j2`` is the
        lowest non-vanishing order of at least 2, ``j3`` of at least 3, ``l1`` of at
        least 1.

        Raises
        ------
        ValueError
            If the activation has no non-vanishing constant of order 2 or more (a
            linear activation, for instance): the hidden units are then not
            identifiable from moments.
        """
        constants = self.hermite_constants([0.5, 1.0, 2.0])
        scale = np.abs(constants).max(axis=1, keepdims=True)
        nonzero = (np.abs(constants) > _ZERO_TOL * scale).any(axis=0)
        orders = [j for j in range(1, MAX_ORDER + 1) if nonzero[j]]

        def lowest(at_least):
            candidates = [j for j in orders if j >= at_least]
            return candidates[0] if candidates else None

        j2, j3, l1 = lowest(2), lowest(3), lowest(1)
        if j2 is None or j3 is None:
            raise ValueError(
                f"The Hermite constants m_2..m_4 of activation {self.display_name!r} "
                f"vanish identically (m_j(1) = {np.round(constants[1], 6).tolist()}): "
                "the network is then not identifiable from its moments. Use a "
                "nonlinear activation such as 'relu', 'squared_relu' or 'tanh'."
            )
        return MomentOrders(j2=j2, j3=j3, l1=l1, l2=j2)


class _PiecewisePolynomial(Activation):
    """Base of the ReLU family: a homogeneous polynomial on each half-line.

    Subclasses define ``_pieces`` returning the power-series coefficients of the
    activation on ``z > 0`` and on ``z < 0``; the Hermite constants then follow in
    closed form from the Gaussian half-moments ``E[z^m 1{z > 0}]`` (quadrature is
    inaccurate at the kink).
    """

    def __init__(self):
        pass

    def _pieces(self):
        raise NotImplementedError

    @property
    def degree(self):
        positive, negative = self._pieces()
        return len(positive) - 1

    def second_derivative(self, z):
        """The second derivatives of the pieces (0 at the kink, where there is
        none)."""
        positive, negative = self._pieces()
        z = np.asarray(z)
        return np.where(
            z > 0,
            power_series.polyval(z, power_series.polyder(positive, 2)),
            power_series.polyval(z, power_series.polyder(negative, 2)),
        )

    @property
    def display_name(self):
        return type(self).__name__

    def _param_value(self, name):
        return getattr(self, name)

    def _hermite_constants(self, sigma):
        """Closed form: ``m_j(sigma) = sigma^q m_j(1)``, with ``m_j(1)`` from the
        half-line Gaussian moments of each piece."""
        positive, negative = self._pieces()
        at_one = np.zeros(MAX_ORDER + 1)
        for j in range(MAX_ORDER + 1):
            he_j = _HERMITE_POWERS[j]
            # E[z^m 1{z < 0}] = (-1)^m E[z^m 1{z > 0}]
            for piece, side in ((positive, 1.0), (negative, -1.0)):
                product = power_series.polymul(piece, he_j)
                powers = np.arange(len(product))
                at_one[j] += np.sum(product * side**powers * _half_moments(powers))
        return np.multiply.outer(sigma**self.degree, at_one)

    def _biased_constants(self, sigma, bias, order=MAX_ORDER):
        """Closed forms: with ``z_0 = -b / sigma`` the unit is on its positive piece
        for ``z > z_0``, and ``phi(sigma z + b) He_j(z)`` is a polynomial in ``z`` on
        each side, integrated with the truncated Gaussian moments
        ``E[z^m 1{z > z_0}]`` (exact, also at the kink)."""
        positive, negative = self._pieces()
        degree = max(len(positive), len(negative)) - 1
        n_terms = degree + order + 1
        constant = sigma == 0
        scale = np.where(constant, 1.0, sigma)
        threshold = np.where(
            constant, np.where(bias > 0, -np.inf, np.inf), -bias / scale
        )
        above = _upper_moments(threshold, n_terms)
        below = _gaussian_moments(n_terms) - above
        constants = np.zeros((len(sigma), order + 1))
        for piece, moments in ((positive, above), (negative, below)):
            # piece(sigma z + b) as a polynomial in z, per unit: coefficient q
            # of z^q is sum_p a_p C(p, q) sigma^q b^(p - q).
            composed = np.zeros((len(sigma), degree + 1))
            for p, a in enumerate(piece):
                for q in range(p + 1):
                    composed[:, q] += a * math.comb(p, q) * sigma**q * bias ** (p - q)
            # sum_q sum_r composed_q h_jr E[z^(q + r) ...], as one contraction.
            shifted = _shifted_hermite_powers(degree, order, n_terms)
            products = (moments @ shifted.reshape(-1, n_terms).T).reshape(
                len(sigma), degree + 1, order + 1
            )
            constants += np.einsum("nq,nqj->nj", composed, products)
        return constants


@cache
def _shifted_hermite_powers(degree, order, n_terms):
    """``S[q, j, q + r]`` = the coefficient of ``z^r`` in ``He_j(z)``, for
    ``q <= degree``: the map from a polynomial's coefficients times ``He_j`` to
    the powers of ``z`` it multiplies, shape (degree + 1, order + 1, n_terms)."""
    shifted = np.zeros((degree + 1, order + 1, n_terms))
    for j, he_j in enumerate(_HERMITE_POWERS[: order + 1]):
        for q in range(degree + 1):
            shifted[q, j, q : q + len(he_j)] = he_j
    shifted.setflags(write=False)
    return shifted


def _upper_moments(threshold, n_terms):
    """``E[z^m 1{z > z_0}]``, ``m < n_terms``, for ``z ~ N(0, 1)``, shape (n, m).

    ``I_0 = Phi(-z_0)``, ``I_1 = pdf(z_0)``, ``I_m = z_0^(m-1) pdf(z_0) + (m-1)
    I_(m-2)`` (integration by parts); infinite thresholds give 0 or the full moment.
    """
    finite = np.isfinite(threshold)
    z0 = np.where(finite, threshold, 0.0)
    density = np.where(finite, _gaussian_pdf(z0), 0.0)
    moments = np.zeros((len(threshold), n_terms))
    moments[:, 0] = special.ndtr(-threshold)
    if n_terms > 1:
        moments[:, 1] = density
    for m in range(2, n_terms):
        moments[:, m] = z0 ** (m - 1) * density + (m - 1) * moments[:, m - 2]
    # z_0 = -inf: the full moments (the recursion already gives them for density 0
    # and I_0 = 1); z_0 = +inf: zero.
    moments[threshold == np.inf] = 0.0
    return moments


@cache
def _gaussian_moments(n_terms):
    """``E[z^m]`` for ``m < n_terms``: ``(m - 1)!!`` for even ``m``, else 0."""
    m = np.arange(n_terms)
    moments = np.where(m % 2 == 0, special.factorial2(np.maximum(m - 1, 0)), 0.0)
    moments.setflags(write=False)
    return moments


class ReLU(_PiecewisePolynomial):
    """Rectified linear unit ``max(z, 0)``, homogeneous of degree 1.

    Its third Hermite constant vanishes, so tensor methods use the fourth moment for
    the 3-way tensor (``j3 = 4``).

    Examples
    --------
    >>> from skrecover.activations import ReLU
    >>> ReLU().hermite_constants(1.0).round(4)
    array([ 0.3989,  0.5   ,  0.3989,  0.    , -0.3989])
    """

    def _pieces(self):
        return np.array([0.0, 1.0]), np.array([0.0, 0.0])

    def __call__(self, z):
        return np.maximum(z, 0)

    def derivative(self, z):
        return (z > 0).astype(np.result_type(z, np.float32))


class LeakyReLU(_PiecewisePolynomial):
    """Leaky rectified linear unit ``max(z, slope z)``, homogeneous of degree 1.

    Parameters
    ----------
    slope : float, default=0.01
        Slope on the negative half-line, in ``[0, 1]``. ``slope=1`` is the identity,
        which no moment method can learn.

    Examples
    --------
    >>> from skrecover.activations import LeakyReLU
    >>> LeakyReLU(slope=0.1).hermite_constants(2.0).round(4)
    array([ 0.7181,  1.1   ,  0.7181,  0.    , -0.7181])
    """

    def __init__(self, slope=0.01):
        self.slope = slope

    def _pieces(self):
        if not 0 <= self.slope <= 1:
            raise ValueError(f"LeakyReLU slope must be in [0, 1], got {self.slope}.")
        return np.array([0.0, 1.0]), np.array([0.0, float(self.slope)])

    @property
    def display_name(self):
        return f"LeakyReLU(slope={self.slope})"

    def __call__(self, z):
        return np.where(z > 0, z, self.slope * z)

    def derivative(self, z):
        dtype = np.result_type(z, np.float32)
        return np.where(z > 0, dtype.type(1), dtype.type(self.slope))


class SquaredReLU(_PiecewisePolynomial):
    """Squared rectified linear unit ``max(z, 0)**2``, homogeneous of degree 2.

    The showcase of Zhong et al. (2017): smooth enough for their global guarantee.
    Its fourth Hermite constant vanishes; the third does not (``j3 = 3``).

    Examples
    --------
    >>> from skrecover.activations import SquaredReLU
    >>> SquaredReLU().hermite_constants(1.0).round(4)
    array([0.5   , 0.7979, 1.    , 0.7979, 0.    ])
    """

    def _pieces(self):
        return np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0])

    def __call__(self, z):
        positive = np.maximum(z, 0)
        return positive * positive

    def derivative(self, z):
        return 2 * np.maximum(z, 0)


class _Smooth(Activation):
    """Base of the parameter-free smooth built-ins: not homogeneous; subclasses
    compute the value and the derivative together."""

    def __init__(self):
        pass

    @property
    def degree(self):
        return None

    @property
    def display_name(self):
        return type(self).__name__

    def derivative(self, z):
        return self.value_and_derivative(z)[1]

    def _hermite_constants(self, sigma):
        return self._biased_constants(sigma, np.zeros_like(sigma))

    def _biased_constants(self, sigma, bias, order=MAX_ORDER):
        """The trapezoid rule on a fine grid: exact to about 1e-14 for these
        analytic activations, and fast on many units at once."""
        weights = _TRAPEZOID_HERMITE[:, : order + 1]
        constants = np.empty((len(sigma), order + 1))
        for start in range(0, len(sigma), _TRAPEZOID_BLOCK):
            block = slice(start, start + _TRAPEZOID_BLOCK)
            pre = np.multiply.outer(sigma[block], _TRAPEZOID_NODES)
            constants[block] = self(pre + bias[block, np.newaxis]) @ weights
        return constants


class Sigmoid(_Smooth):
    """Logistic sigmoid ``1 / (1 + exp(-z))``.

    ``sigmoid - 1/2`` is odd, so ``m_2`` and ``m_4`` vanish and tensor methods use the
    third moment for both the subspace and the tensor (``j2 = j3 = 3``).

    Examples
    --------
    >>> from skrecover.activations import Sigmoid
    >>> Sigmoid().hermite_constants(1.0).round(4)
    array([ 0.5   ,  0.2066,  0.    , -0.0624,  0.    ])
    """

    def __call__(self, z):
        return special.expit(z)

    def value_and_derivative(self, z):
        s = special.expit(z)
        return s, s * (1 - s)

    def second_derivative(self, z):
        s = special.expit(z)
        return s * (1 - s) * (1 - 2 * s)

    def log_value_and_derivative(self, z):
        # log sigmoid(z) = -log(1 + exp(-z)); its derivative is sigmoid(-z).
        return -np.logaddexp(0, -z), special.expit(-z)

    def log_complement_and_derivative(self, z):
        # 1 - sigmoid(z) = sigmoid(-z)
        return -np.logaddexp(0, z), -special.expit(z)


class Tanh(_Smooth):
    """Hyperbolic tangent, an odd activation (``j2 = j3 = 3``).

    Examples
    --------
    >>> from skrecover.activations import Tanh
    >>> Tanh().hermite_constants(1.0).round(4)
    array([ 0.    ,  0.6057,  0.    , -0.3636,  0.    ])
    """

    def __call__(self, z):
        return np.tanh(z)

    def value_and_derivative(self, z):
        t = np.tanh(z)
        return t, 1 - t * t

    def second_derivative(self, z):
        t = np.tanh(z)
        return -2 * t * (1 - t * t)


class Softplus(_Smooth):
    """Softplus ``log(1 + exp(slope z)) / slope``, analytic and increasing.

    A smooth stand-in for ReLU where analyticity is needed (the certificate of
    :class:`~skrecover.PracticalSizeGD`): it tends to ``max(z, 0)`` as ``slope``
    grows.

    Parameters
    ----------
    slope : float, default=1.0
        Sharpness ``a > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover.activations import Softplus
    >>> Softplus(slope=10.0)(np.array([-1.0, 0.0, 1.0])).round(4)
    array([0.    , 0.0693, 1.    ])
    """

    def __init__(self, slope=1.0):
        self.slope = slope

    @property
    def display_name(self):
        return f"Softplus(slope={self.slope})"

    def __call__(self, z):
        return np.logaddexp(0, self.slope * z) / self.slope

    def value_and_derivative(self, z):
        return self(z), special.expit(self.slope * z)


_ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "linear": partial(LeakyReLU, slope=1.0),
    "squared_relu": SquaredReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
}


def get_activation(activation, *, allowed=None, reason=None):
    """Resolve an activation given by name or as an
    :class:`~skrecover.activations.Activation`.

    The one resolver of every estimator: each passes the activations its method
    allows and why, so that a refused activation gets one clear error.

    Parameters
    ----------
    activation : {"relu", "leaky_relu", "linear", "squared_relu", "sigmoid", \
            "tanh", "softplus"} or Activation
        The activation. ``"leaky_relu"`` has slope 0.01; pass ``LeakyReLU(slope=s)``
        for another slope. ``"linear"`` is ``LeakyReLU(slope=1)``.
    allowed : tuple of type, default=None
        Activation classes the caller accepts; None accepts any.
    reason : str, default=None
        Why only ``allowed`` works, for the error message.

    Returns
    -------
    activation : Activation
        A fresh instance (never the object passed in, so that estimators do not
        modify their parameters).

    Raises
    ------
    ValueError
        For an unknown name, or an activation that is not one of ``allowed``.

    Examples
    --------
    >>> from skrecover.activations import ReLU, get_activation
    >>> get_activation("squared_relu").moment_orders
    MomentOrders(j2=2, j3=3, l1=1, l2=2)
    >>> get_activation("tanh", allowed=(ReLU,), reason="the guarantee needs ReLU")
    Traceback (most recent call last):
    ...
    ValueError: activation='tanh' is not allowed here: the guarantee needs ReLU.
    """
    if isinstance(activation, Activation):
        resolved = type(activation)(**activation.get_params())
    elif isinstance(activation, str) and activation in _ACTIVATIONS:
        resolved = _ACTIVATIONS[activation]()
    else:
        raise ValueError(
            f"Unknown activation {activation!r}: use one of {sorted(_ACTIVATIONS)} or "
            "an skrecover.activations.Activation instance."
        )
    if allowed is not None and not isinstance(resolved, allowed):
        name = activation if isinstance(activation, str) else resolved.display_name
        raise ValueError(
            f"activation={name!r} is not allowed here: {reason or 'unsupported'}."
        )
    return resolved


def activation_names(allowed=None):
    """The registered names whose activation is an instance of ``allowed``."""
    return {
        name
        for name, make in _ACTIVATIONS.items()
        if allowed is None or isinstance(make(), allowed)
    }


def _clipped_log(value, slope):
    tiny = np.finfo(np.float64).tiny
    positive = value > tiny
    log = np.log(np.where(positive, value, tiny))
    return log, np.where(positive, slope / np.where(positive, value, 1.0), 0.0)


def _gaussian_pdf(z):
    return np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _hermite_vander(z):
    """``He_0(z), ..., He_4(z)`` for a scalar ``z``."""
    return hermite_e.hermevander(z, MAX_ORDER)


def _half_moments(powers):
    """``E[z^m 1{z > 0}] = 2^(m/2) Gamma((m+1)/2) / (2 sqrt(pi))``, ``z ~ N(0, 1)``."""
    powers = np.asarray(powers, dtype=float)
    return 2 ** (powers / 2) * special.gamma((powers + 1) / 2) / (2 * np.sqrt(np.pi))


# The trapezoid rule for Gaussian integrals of analytic functions: nodes on [-14, 14]
# and the weights pdf(z) h He_j(z), j <= 6, as a (n_nodes, 7) matrix.
_TRAPEZOID_NODES = np.linspace(-_Z_MAX, _Z_MAX, 2801)
_TRAPEZOID_HERMITE = (
    hermite_e.hermevander(_TRAPEZOID_NODES, _SLOPE_ORDER)
    * (_gaussian_pdf(_TRAPEZOID_NODES) * (_TRAPEZOID_NODES[1] - _TRAPEZOID_NODES[0]))[
        :, np.newaxis
    ]
)
_TRAPEZOID_BLOCK = 256
