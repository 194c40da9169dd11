import numpy as np
import pytest

from skrecover import Network
from skrecover.activations import ReLU, Tanh
from skrecover.datasets import TeacherNetwork, make_teacher_regression
from skrecover.metrics import (
    as_network,
    hidden_weights_error,
    match_hidden_units,
    population_loss,
    recovery_error,
    recovery_success,
)


def Fitted(hidden, output, intercept=0.0, activation=None):
    """A fitted network with these weights."""
    return Network(
        np.asarray(hidden, dtype=float),
        np.asarray(output, dtype=float),
        activation or ReLU(),
        intercept=intercept,
    )


W = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])


def test_permutation_does_not_count():
    errors, matches, signs = match_hidden_units(W, W[[2, 0, 1]])
    assert np.allclose(errors, 0) and np.array_equal(matches, [1, 2, 0])
    assert np.all(signs == 1)


def test_relative_column_error_is_the_papers_criterion():
    estimate = W.copy()
    estimate[1] *= 1.05
    assert hidden_weights_error(W, estimate) == pytest.approx(0.05)
    assert hidden_weights_error(W, estimate, reduce="mean") == pytest.approx(0.05 / 3)
    assert np.allclose(hidden_weights_error(W, estimate, reduce=None), [0, 0.05, 0])


def test_sign_and_scale_symmetries():
    assert hidden_weights_error(W, -W) > 1
    assert hidden_weights_error(W, -W, allow_sign_flip=True) == 0
    assert hidden_weights_error(W, 3 * W, allow_scaling=True) == pytest.approx(0)


def test_unmatched_units_count_as_missing():
    errors, matches, _ = match_hidden_units(W, W[:2])
    assert np.array_equal(matches[:2], [0, 1]) and matches[2] == -1
    assert errors[2] == 1.0
    with pytest.raises(ValueError, match="inputs per unit"):
        match_hidden_units(W, W[:, :2])


def test_recovery_error_resolves_homogeneous_rescaling():
    teacher = TeacherNetwork(W, np.array([1.0, -1.0, 1.0]), ReLU())
    # The same network with the scale moved into the output weights.
    rescaled = Fitted(W / 2, np.array([2.0, -2.0, 2.0]))
    assert recovery_error(teacher, rescaled) == pytest.approx(0, abs=1e-15)
    assert recovery_success(teacher, rescaled)


def test_recovery_success_needs_correct_output_signs():
    teacher = TeacherNetwork(W, np.array([1.0, -1.0, 1.0]), ReLU())
    wrong_sign = Fitted(W, np.array([1.0, 1.0, 1.0]))
    assert recovery_error(teacher, wrong_sign) == 0
    assert not recovery_success(teacher, wrong_sign)
    slightly_off = Fitted(W * 1.02, np.array([1.0, -1.0, 1.0]))
    assert not recovery_success(teacher, slightly_off)
    assert recovery_success(teacher, slightly_off, threshold=0.03)


def test_odd_activation_flip_is_not_an_error():
    teacher = TeacherNetwork(W, np.array([1.0, -0.5, 2.0]), Tanh())
    flipped = Fitted(W * np.array([[1], [-1], [1]]), np.array([1.0, 0.5, 2.0]))
    assert recovery_error(teacher, flipped) == 0
    assert recovery_success(teacher, flipped)


def test_unfitted_model_is_refused():
    teacher = TeacherNetwork(W, np.ones(3), ReLU())
    with pytest.raises(TypeError, match="fit it first"):
        recovery_error(teacher, object())


def test_rms_reduction_is_the_unit_row_error():
    W = np.eye(3)
    estimate = W[[2, 0, 1]] * [[1.0], [2.0], [3.0]]  # permuted, rescaled
    estimate[0, 1] = 0.3
    errors = hidden_weights_error(W, estimate, allow_scaling=True, reduce=None)
    rms = hidden_weights_error(W, estimate, allow_scaling=True, reduce="rms")
    assert errors.max() > 0 and np.isclose(rms, np.sqrt(np.mean(errors**2)))


def monte_carlo_excess(teacher, model, n_features, seed=0, n_draws=400_000):
    """``(1/2) E ||f_hat - f||^2`` over fresh Gaussian inputs, and its standard
    error."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_draws, n_features))
    if teacher.input_covariance is not None:
        Z = Z @ np.linalg.cholesky(teacher.input_covariance).T
    squares = 0.5 * np.sum(
        np.reshape(as_network(model).predict(Z) - teacher.predict(Z), (n_draws, -1))
        ** 2,
        axis=1,
    )
    return squares.mean(), squares.std() / np.sqrt(n_draws)


@pytest.mark.parametrize(
    "activation", ["relu", "leaky_relu", "squared_relu", "tanh", "sigmoid"]
)
@pytest.mark.parametrize("hidden_biases", [None, 0.7])
def test_population_loss_matches_monte_carlo(activation, hidden_biases):
    X, y, teacher = make_teacher_regression(
        n_samples=2000, n_features=4, n_hidden=3, activation=activation,
        noise=0.2, hidden_biases=hidden_biases, random_state=0,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    # A network near the teacher, as a fit leaves it, with a shifted intercept.
    params = teacher.params
    network = Network(
        params.hidden_weights + 0.05 * rng.standard_normal(params.hidden_weights.shape),
        params.output_weights[0] * 1.05,
        teacher.activation,
        intercept=0.02,
        hidden_biases=None if hidden_biases is None else params.hidden_biases + 0.03,
    )
    mean, error = monte_carlo_excess(teacher, network, 4)
    excess = population_loss(teacher, network) - 0.2**2 / 2
    assert abs(excess - mean) < 4 * error
    assert population_loss(teacher, teacher) == pytest.approx(0.2**2 / 2, rel=1e-12)


def test_population_loss_of_relu_units_is_the_arc_cosine_kernel():
    """``E[relu(w.x) relu(u.x)] = |w||u| (sin t + (pi - t) cos t) / (2 pi)``."""
    rng = np.random.default_rng(2)
    W = rng.standard_normal((2, 5))
    network = Network(W[:1], np.array([1.0]), ReLU())
    other = TeacherNetwork(W[1:], np.array([1.0]), ReLU())
    norms = np.linalg.norm(W, axis=1)
    angle = np.arccos(W[0] @ W[1] / norms.prod())
    kernel = norms.prod() * (np.sin(angle) + (np.pi - angle) * np.cos(angle))
    kernel /= 2 * np.pi
    excess = (norms**2).sum() / 4 - kernel  # E relu(w.x)^2 = |w|^2 / 2
    assert population_loss(other, network) == pytest.approx(excess, rel=1e-10)


def test_population_loss_of_convolutional_and_correlated_teachers():
    X, y, teacher = make_teacher_regression(
        n_samples=500, n_features=8, n_hidden=2, patch_size=4, activation="relu",
        random_state=3,
    )  # fmt: skip
    model = Network(
        teacher.hidden_weights * 1.05,
        teacher.output_weights,
        ReLU(),
        patch_indices=teacher.patch_indices,
    )
    mean, error = monte_carlo_excess(teacher, model, 8)
    assert abs(population_loss(teacher, model) - mean) < 4 * error
    covariance = np.diag(np.linspace(0.5, 2.0, 4))
    X, y, teacher = make_teacher_regression(
        n_samples=500, n_features=4, n_hidden=2, activation="tanh",
        input_covariance=covariance, random_state=4,
    )  # fmt: skip
    shifted = Network(teacher.hidden_weights * 1.1, teacher.output_weights, Tanh())
    mean, error = monte_carlo_excess(teacher, shifted, 4)
    assert abs(population_loss(teacher, shifted) - mean) < 4 * error
    assert mean > 1e-4  # not a trivial match


def test_population_loss_needs_as_many_outputs():
    X, y, teacher = make_teacher_regression(n_samples=50, random_state=0)
    network = Network(teacher.hidden_weights, np.ones((2, 5)), teacher.activation)
    with pytest.raises(ValueError, match="outputs"):
        population_loss(teacher, network)
