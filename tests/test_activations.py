import numpy as np
import pytest
from numpy.polynomial import hermite_e
from scipy import integrate
from sklearn.base import clone

from skrecover import TensorInitGD
from skrecover.activations import (
    Activation,
    LeakyReLU,
    MomentOrders,
    ReLU,
    Sigmoid,
    SquaredReLU,
    Tanh,
    get_activation,
)

ALL = [ReLU(), LeakyReLU(slope=0.2), SquaredReLU(), Sigmoid(), Tanh()]


def softplus(z):
    return np.logaddexp(0.0, z)


def softplus_derivative(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("activation", ALL, ids=repr)
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_hermite_constants_match_monte_carlo(activation, sigma):
    z = np.random.default_rng(0).standard_normal(2_000_000)
    samples = activation(sigma * z)[:, np.newaxis] * hermite_e.hermevander(z, 4)
    estimate = samples.mean(axis=0)
    standard_error = samples.std(axis=0) / np.sqrt(len(z))
    exact = activation.hermite_constants(sigma)
    assert np.all(np.abs(exact - estimate) <= 5 * standard_error + 1e-12)


@pytest.mark.parametrize(
    "activation, sigma, m1, m3",
    [
        (Tanh(), 0.25, 0.2360, -0.0250),
        (Tanh(), 1.0, 0.6057, -0.3636),
        (Tanh(), 5.0, 0.7852, -0.7606),
        (Sigmoid(), 1.0, 0.2066, -0.0624),
        (Sigmoid(), 3.0, 0.3445, -0.2610),
    ],
)
def test_smooth_constants_match_published_values(activation, sigma, m1, m3):
    constants = activation.hermite_constants(sigma)
    assert constants[1] == pytest.approx(m1, abs=5e-5)
    assert constants[3] == pytest.approx(m3, abs=5e-5)
    assert constants[2] == pytest.approx(0, abs=1e-12)
    assert constants[4] == pytest.approx(0, abs=1e-12)


def test_relu_family_closed_forms():
    c = 1 / np.sqrt(2 * np.pi)
    assert np.allclose(ReLU().hermite_constants(1.0), [c, 0.5, c, 0, -c], atol=1e-15)
    assert np.allclose(
        SquaredReLU().hermite_constants(1.0), [0.5, 2 * c, 1, 2 * c, 0], atol=1e-15
    )
    a = 0.3
    assert np.allclose(
        LeakyReLU(slope=a).hermite_constants(1.0),
        [(1 - a) * c, (1 + a) / 2, (1 - a) * c, 0, -(1 - a) * c],
        atol=1e-15,
    )


@pytest.mark.parametrize(
    "activation",
    [*ALL, Activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, name="my_tanh")],
    ids=repr,
)
def test_biased_constant_slopes_match_finite_differences(activation):
    """Stein's slopes of ``m_1..m_4`` in ``log sigma`` and ``b``."""
    sigma, bias, h = np.array([0.3, 1.0, 2.5]), np.array([-0.7, 0.2, 1.5]), 1e-6
    constants, by_log_sigma, by_bias = activation._biased_constants_and_slopes(
        sigma, bias
    )

    def m(s, b):
        return activation.biased_hermite_constants(s, b)[:, 1:]

    assert np.allclose(constants, m(sigma, bias), rtol=1e-12, atol=1e-14)
    numeric = (m(sigma * np.exp(h), bias) - m(sigma * np.exp(-h), bias)) / (2 * h)
    assert np.allclose(by_log_sigma, numeric, rtol=1e-7, atol=1e-8)
    numeric = (m(sigma, bias + h) - m(sigma, bias - h)) / (2 * h)
    assert np.allclose(by_bias, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize(
    "activation", [ReLU(), LeakyReLU(0.1), SquaredReLU()], ids=repr
)
def test_closed_forms_agree_with_quadrature_and_homogeneity(activation):
    sigma = np.array([0.3, 1.0, 4.0])

    def integrand(z):
        density = np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
        return np.outer(activation(sigma * z), hermite_e.hermevander(z, 4)) * density

    quadrature = sum(
        integrate.quad_vec(integrand, a, b, epsabs=1e-13)[0]
        for a, b in ((-14, 0), (0, 14))
    )
    closed = activation.hermite_constants(sigma)
    assert np.allclose(closed, quadrature, atol=1e-11)
    assert np.allclose(closed, np.outer(sigma**activation.degree, closed[1] / 1.0))


@pytest.mark.parametrize("activation", ALL, ids=repr)
def test_derivative_matches_finite_differences(activation):
    z = np.array([-2.3, -0.7, 0.4, 1.9])  # away from the kink of the ReLU family
    h = 1e-6
    numeric = (activation(z + h) - activation(z - h)) / (2 * h)
    assert np.allclose(activation.derivative(z), numeric, atol=1e-8)
    value, slope = activation.value_and_derivative(z)
    assert np.array_equal(value, activation(z))
    assert np.array_equal(slope, activation.derivative(z))


@pytest.mark.parametrize(
    "activation, orders",
    [
        (ReLU(), (2, 4, 1, 2)),
        (LeakyReLU(0.1), (2, 4, 1, 2)),
        (SquaredReLU(), (2, 3, 1, 2)),
        (Sigmoid(), (3, 3, 1, 3)),
        (Tanh(), (3, 3, 1, 3)),
        # softplus is z / 2 plus an even function: its m_3 vanishes too.
        (Activation(softplus, softplus_derivative), (2, 4, 1, 2)),
    ],
    ids=repr,
)
def test_moment_orders_follow_vanishing_constants(activation, orders):
    assert activation.moment_orders == MomentOrders(*orders)


def test_linear_activation_has_no_usable_moments():
    with pytest.raises(ValueError, match="vanish identically"):
        _ = LeakyReLU(slope=1.0).moment_orders


def test_user_defined_activation_matches_builtin():
    mine = Activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, name="mine")
    sigma = [0.2, 1.0, 7.0, 30.0]
    assert np.allclose(mine.hermite_constants(sigma), Tanh().hermite_constants(sigma))
    assert mine.symmetry == "odd" and mine.flip_offset == 0
    assert mine.display_name == "mine"


def test_symmetries():
    assert Sigmoid().symmetry == "odd" and Sigmoid().flip_offset == 1.0
    assert Tanh().symmetry == "odd"
    assert ReLU().symmetry is None
    assert Activation(np.abs, np.sign).symmetry == "even"


def test_activation_parameters_clone_and_grid_search_protocol():
    leaky = LeakyReLU(slope=0.1)
    assert leaky.get_params() == {"slope": 0.1}
    assert leaky.set_params(slope=0.3).slope == 0.3
    with pytest.raises(ValueError, match="Invalid parameter"):
        leaky.set_params(alpha=1)
    model = TensorInitGD(activation=LeakyReLU(slope=0.2))
    assert model.get_params()["activation__slope"] == 0.2
    copy = clone(model)
    assert copy.activation is not model.activation
    assert copy.activation == model.activation
    model.set_params(activation__slope=0.05)
    assert model.activation.slope == 0.05


def test_get_activation():
    assert isinstance(get_activation("relu"), ReLU)
    original = LeakyReLU(slope=0.4)
    resolved = get_activation(original)
    assert resolved == original and resolved is not original
    with pytest.raises(ValueError, match="Unknown activation"):
        get_activation("swish")


@pytest.mark.parametrize("activation", ALL, ids=repr)
def test_float32_stays_float32(activation):
    z = np.linspace(-2, 2, 7, dtype=np.float32)
    assert activation(z).dtype == np.float32
    assert activation.derivative(z).dtype == np.float32


def test_negative_sigma_is_refused():
    with pytest.raises(ValueError, match="non-negative"):
        ReLU().hermite_constants(-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        Tanh().hermite_constants(-1.0)
