import numpy as np
import pytest

from skrecover import Network
from skrecover.activations import ReLU, Tanh
from skrecover.datasets import TeacherNetwork
from skrecover.metrics import (
    hidden_weights_error,
    match_hidden_units,
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
