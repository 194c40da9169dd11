import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from skrecover import MomentRecovery, TensorInitGD  # noqa: E402
from skrecover.datasets import (  # noqa: E402
    make_teacher_regression,
    make_teacher_two_layer,
)
from skrecover.inspection import LossCurveDisplay, RecoveryDisplay  # noqa: E402
from skrecover.metrics import recovery_error  # noqa: E402


def test_recovery_display_matches_units_like_the_metric():
    X, y, teacher = make_teacher_two_layer(30_000, 6, 3, 4, random_state=0)
    model = MomentRecovery(random_state=0).fit(X, y)
    display = RecoveryDisplay.from_estimator(model, teacher)
    assert np.isclose(display.errors.max(), recovery_error(teacher, model))
    assert display.estimated_weights.shape == teacher.hidden_weights.shape
    assert len(display.scatter_.get_offsets()) == 18
    assert "MomentRecovery" in display.ax_.get_title()
    # Perfect recovery lies on the diagonal.
    perfect = RecoveryDisplay.from_estimator(teacher, teacher, name="teacher")
    assert np.allclose(perfect.true_weights, perfect.estimated_weights)


def test_recovery_display_shows_hidden_biases():
    X, y, teacher = make_teacher_regression(
        n_samples=20_000, activation="tanh", hidden_biases=0.5, random_state=0
    )
    model = TensorInitGD(activation="tanh", random_state=0).fit(X, y)
    display = RecoveryDisplay.from_estimator(model, teacher)
    assert np.isclose(display.errors.max(), recovery_error(teacher, model))
    assert np.allclose(display.estimated_biases, display.true_biases, atol=1e-6)
    assert display.true_weights.shape == teacher.hidden_weights.shape
    assert "bias" in display.ax_.get_xlabel()
    unbiased = RecoveryDisplay.from_estimator(teacher, teacher, name="teacher")
    # Canonical form: units sorted, tanh units flipped to positive output weights.
    assert np.allclose(
        np.sort(np.abs(unbiased.true_biases)), np.sort(np.abs(teacher.hidden_biases))
    )


def test_loss_curve_display_and_replotting():
    import matplotlib.pyplot as plt

    X, y, _ = make_teacher_regression(
        n_samples=2000, n_features=5, n_hidden=2, random_state=0
    )
    model = TensorInitGD(early_stopping=True, random_state=0).fit(X, y)
    display = LossCurveDisplay.from_estimator(model)
    assert len(display.lines_) == 2  # training and validation
    assert np.allclose(display.lines_[0].get_ydata(), model.loss_curve_)
    _, ax = plt.subplots()
    assert display.plot(ax=ax).ax_ is ax
    with pytest.raises(ValueError, match="no loss_curve_"):
        LossCurveDisplay.from_estimator(MomentRecovery())
    plt.close("all")
