import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning

from skrecover import PracticalSizeGD, PracticalSizeGDClassifier
from skrecover.activations import LeakyReLU, Softplus
from skrecover.model_selection import label_randomization_test


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", Softplus(slope=4.0)])
def test_zero_training_loss_on_natural_and_shuffled_labels(digits, activation):
    X, y = digits
    shuffled = np.random.default_rng(0).permutation(y)
    for labels in (y, shuffled):
        model = PracticalSizeGD(alpha=0, activation=activation, random_state=0).fit(
            X, labels.astype(float)
        )
        certificate = model.certificate_
        assert certificate["train_loss"] <= 1e-10
        assert certificate["full_rank"] and certificate["rank"] == 600
        assert model.is_global_minimum_
        assert certificate["gradient_norm"] < 1e-8


def test_certificate_agrees_with_numpy():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((80, 4)), rng.standard_normal(80)
    model = PracticalSizeGD(alpha=0, width=100, random_state=0).fit(X, y)
    features = model.layers_.features((X - model.x_mean_) / model.x_scale_)
    design = np.hstack([features, np.ones((80, 1))])
    singular_values = np.linalg.svd(design, compute_uv=False)
    certificate = model.certificate_
    assert certificate["rank"] == np.linalg.matrix_rank(design) == 80
    assert np.isclose(certificate["sigma_min"], singular_values[79])
    assert np.isclose(certificate["sigma_max"], singular_values[0])
    assert np.isclose(certificate["condition_number"], np.linalg.cond(design[:, :]))
    assert certificate["n_trainable_params"] == 101


def test_gradient_descent_reaches_the_least_squares_interpolant():
    """GD from 0 converges to the minimum-norm solution lstsq computes; with
    well-conditioned features (width 8n, few samples) it gets there quickly."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    exact = PracticalSizeGD(alpha=0, width=240, solver="lstsq", random_state=0).fit(
        X, y
    )
    kwargs = dict(width=240, max_iter=20_000, global_tol=1e-8, random_state=0)
    descent = PracticalSizeGD(alpha=0, solver="agd", **kwargs).fit(X, y)
    assert descent.is_global_minimum_
    assert np.allclose(descent.coefs_, exact.coefs_, atol=1e-3)
    predicted = descent.certificate_["predicted_gd_iterations"]
    plain = PracticalSizeGD(
        alpha=0, solver="gd", **{**kwargs, "max_iter": int(predicted)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(X, y)
    # The condition-number bound holds: plain GD meets the tolerance within it.
    assert plain.is_global_minimum_ and plain.n_iter_ <= predicted


def test_auto_solver_is_lstsq_when_gd_would_take_too_long(digits):
    X, y = digits
    model = PracticalSizeGD(alpha=0, random_state=0).fit(X, y.astype(float))
    assert model.certificate_["solver"] == "lstsq"
    assert model.certificate_["predicted_gd_iterations"] > model.max_iter


def test_classifier_reaches_full_training_accuracy(digits):
    X, y = digits
    for labels in (y, np.random.default_rng(0).permutation(y)):
        model = PracticalSizeGDClassifier(alpha=0, random_state=0).fit(X, labels)
        assert model.score(X, labels) == 1.0
        assert model.certificate_["train_accuracy"] == 1.0
        assert model.certificate_["train_loss"] <= 1e-4
        assert model.is_global_minimum_
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1) and proba.shape == (600, 10)


def test_relu_and_other_non_analytic_activations_are_refused():
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20.0)
    for activation in ("relu", LeakyReLU(0.1), "squared_relu"):
        with pytest.raises(ValueError, match="not analytic.*softplus"):
            PracticalSizeGD(activation=activation).fit(X, y)


def test_too_narrow_width_fails_the_certificate_honestly(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="rank 301 < 600"):
        model = PracticalSizeGD(alpha=0, width=300, random_state=0).fit(
            X, y.astype(float)
        )
    assert not model.is_global_minimum_
    assert model.certificate_["rank"] == 301 and model.certificate_["sigma_min"] == 0
    assert model.certificate_["train_loss"] > 1e-3


def test_memory_budget_is_checked_before_allocating():
    X, y = np.zeros((5000, 2)), np.zeros(5000)
    with pytest.raises(ValueError, match="need about 1.12 GiB, above max_memory"):
        PracticalSizeGD(max_memory=2**28).fit(X, y)


def test_pretraining_keeps_the_certificate_and_helps_generalisation(digits):
    X, y = digits
    X_test, y_test = load_digits(return_X_y=True)
    X_test, y_test = X_test[600:1200], y_test[600:1200]
    plain = PracticalSizeGDClassifier(alpha=0, random_state=0).fit(X, y)
    pretrained = PracticalSizeGDClassifier(
        alpha=0, pretrain_iter=30, random_state=0
    ).fit(X, y)
    assert pretrained.is_global_minimum_ and len(pretrained.pretrain_loss_curve_) > 0
    assert pretrained.score(X_test, y_test) > plain.score(X_test, y_test) - 0.02


def test_label_randomization_test_separates_natural_from_random_labels():
    X, y = load_wine(return_X_y=True)
    result = label_randomization_test(
        PracticalSizeGDClassifier(random_state=0), X, y, n_permutations=4, cv=3
    )
    assert result.train_score == 1.0 and np.all(result.shuffled_train_scores == 1.0)
    assert result.certificate["full_rank"]
    assert all(c["full_rank"] for c in result.shuffled_certificates)
    assert result.cv_scores.mean() > 0.9 > 0.6 > result.shuffled_cv_scores.mean()
    assert result.pvalue == 0.2


@pytest.mark.parametrize("alpha", ["auto", 0.0])
@pytest.mark.parametrize("factor", [1e-200, 1e-300])
def test_targets_on_a_tiny_scale_fit_as_unscaled_ones(alpha, factor):
    """The training loss is kept in working units: in y's units it underflows to
    0 (the squared scale 1e-400), and dividing by that unit raised
    ZeroDivisionError."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6))
    y = np.tanh(X @ rng.standard_normal((6, 3))).sum(axis=1)
    model = PracticalSizeGD(alpha=alpha, random_state=0)
    reference = model.fit(X, y).predict(X)
    assert np.allclose(model.fit(X, y * factor).predict(X) / factor, reference)


def test_alpha_by_leave_one_out_equals_refitting_without_each_row():
    """The efficient leave-one-out error of ``_Gram`` equals ridge fits that leave
    each row out, on a design wider than its rows (where D D^T has full rank)."""
    from skrecover._practical_size import _Gram

    rng = np.random.default_rng(0)
    design, Y = rng.standard_normal((12, 30)), rng.standard_normal((12, 2))
    gram = _Gram(design)
    alpha = gram.loo_alpha(Y)

    def loo_error(alpha):
        errors = []
        for i in range(len(Y)):
            keep = np.arange(len(Y)) != i
            # argmin ||D theta - Y||^2 / (2 n) + alpha ||theta||^2 / 2 on n - 1 rows,
            # with the penalty scale n of the full problem.
            D = design[keep]
            theta = D.T @ np.linalg.solve(
                D @ D.T + len(Y) * alpha * np.eye(11), Y[keep]
            )
            errors.append(np.sum((design[i] @ theta - Y[i]) ** 2))
        return np.sum(errors)

    grid = gram.values[0] * np.logspace(-12, 1, 66) / len(Y)
    assert alpha in grid
    assert loo_error(alpha) == pytest.approx(min(loo_error(a) for a in grid))


def test_auto_alpha_does_not_pick_the_interpolating_fit_on_small_data():
    """Generalised cross-validation divides 0 by 0 as alpha -> 0 when the wide
    layer is as wide as n, and picked alpha = 2e-11 on these 15 rows (test R^2
    -18, against -0.13 for the mean); leave-one-out does not."""
    from sklearn.datasets import load_linnerud
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    X, Y = load_linnerud(return_X_y=True)
    train, test = list(KFold(4, shuffle=True, random_state=0).split(X))[3]
    scaler = StandardScaler().fit(X[train])
    model = PracticalSizeGD(random_state=0).fit(scaler.transform(X[train]), Y[train])
    assert model.alpha_ > 1e-3
    assert model.score(scaler.transform(X[test]), Y[test]) > -5


def test_uncertified_fits_give_advice_the_estimator_accepts(digits):
    """The classifier's warning advised solver='lstsq', which it refuses."""
    X, y = digits
    for model, advice in [
        (PracticalSizeGD(alpha=1e-10, solver="lbfgs", max_iter=2), "solver='lstsq'"),
        (PracticalSizeGDClassifier(alpha=1e-10, max_iter=2), "larger alpha"),
    ]:
        with pytest.warns(ConvergenceWarning, match="Training stopped") as record:
            model.set_params(random_state=0).fit(X[:200] / 16, y[:200])
        message = str(record[0].message)
        assert advice in message
        if "lstsq" in advice:
            model.set_params(solver="lstsq").fit(X[:200] / 16, y[:200])
        else:
            assert "lstsq" not in message
