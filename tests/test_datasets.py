import numpy as np
import pytest

from skrecover.activations import SquaredReLU, Tanh
from skrecover.datasets import TeacherNetwork, make_teacher_regression


def test_shapes_and_labels_come_from_the_teacher():
    X, y, teacher = make_teacher_regression(
        n_samples=300, n_features=7, n_hidden=4, activation="tanh", random_state=0
    )
    assert X.shape == (300, 7) and y.shape == (300,)
    assert isinstance(teacher, TeacherNetwork) and isinstance(teacher.activation, Tanh)
    assert teacher.hidden_weights.shape == (4, 7)
    assert np.allclose(teacher.predict(X), y, atol=1e-14)
    assert set(np.abs(teacher.output_weights)) == {1.0}


@pytest.mark.parametrize("kappa", [1.0, 2.0, 10.0])
def test_hidden_weights_have_the_papers_singular_values(kappa):
    _, _, teacher = make_teacher_regression(
        n_samples=5, n_features=9, n_hidden=5, condition_number=kappa, random_state=1
    )
    singular = np.linalg.svd(teacher.hidden_weights, compute_uv=False)
    assert np.allclose(np.sort(singular), np.linspace(1, kappa, 5))


def test_noise_has_the_requested_standard_deviation():
    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=5, n_hidden=2, noise=0.5, random_state=2
    )
    assert np.std(y - teacher.predict(X)) == pytest.approx(0.5, rel=0.02)


def test_input_covariance():
    covariance = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    X, y, teacher = make_teacher_regression(
        n_samples=200_000,
        n_features=3,
        n_hidden=2,
        input_covariance=covariance,
        random_state=3,
    )
    assert np.allclose(np.cov(X.T), covariance, atol=0.02)
    assert np.allclose(teacher.input_covariance, covariance)


def test_output_weight_options():
    _, _, positive = make_teacher_regression(
        n_samples=5, n_hidden=3, output_weights="positive", random_state=4
    )
    assert np.array_equal(positive.output_weights, np.ones(3))
    _, _, given = make_teacher_regression(
        n_samples=5, n_hidden=3, output_weights=[0.5, -2, 1], random_state=4
    )
    assert np.array_equal(given.output_weights, [0.5, -2, 1])
    with pytest.raises(ValueError, match="shape"):
        make_teacher_regression(n_samples=5, n_hidden=3, output_weights=[1, 2])
    with pytest.raises(ValueError, match="'sign', 'positive'"):
        make_teacher_regression(n_samples=5, n_hidden=3, output_weights="random")


def test_reproducible_and_default_activation():
    first = make_teacher_regression(n_samples=20, random_state=5)
    second = make_teacher_regression(n_samples=20, random_state=5)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert isinstance(first[2].activation, SquaredReLU)
    assert "TeacherNetwork(n_hidden=5" in repr(first[2])


def test_invalid_sizes():
    with pytest.raises(ValueError, match="between 1 and the input dimension"):
        make_teacher_regression(n_features=3, n_hidden=4)
    with pytest.raises(ValueError, match="condition_number"):
        make_teacher_regression(condition_number=0.5)
