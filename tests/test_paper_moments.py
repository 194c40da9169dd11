"""``moments="paper"``: the plain empirical moments of Zhong et al. (2017) in the
tensor initialisation, against the default Hermite control variates."""

import warnings

import numpy as np
import pytest

from skrecover import TensorInitGD, TensorInitGDClassifier
from skrecover._moments import MomentSample
from skrecover._tensor_init import moment_labels
from skrecover.datasets import make_teacher_classification, make_teacher_regression
from skrecover.experiments import _initial_network
from skrecover.metrics import recovery_error


def squared_relu_teacher(n_samples, seed):
    return make_teacher_regression(
        n_samples=n_samples,
        n_features=10,
        n_hidden=5,
        activation="squared_relu",
        condition_number=2,
        random_state=seed,
    )


def paper_model(**params):
    """The model of the paper: no hidden biases, the tensor initialisation."""
    return TensorInitGD(
        n_hidden=5,
        activation="squared_relu",
        fit_hidden_bias=False,
        n_init=1,
        random_state=0,
        **params,
    )


def hermite_2(X):
    """``x x^T - I`` of every row."""
    return X[:, :, np.newaxis] * X[:, np.newaxis, :] - np.eye(X.shape[1])


def hermite_3(X):
    """``x (x) x (x) x - sym(x (x) I)`` of every row."""
    identity = np.eye(X.shape[1])
    cube = np.einsum("ni,nj,nk->nijk", X, X, X)
    return cube - (
        np.einsum("ni,jk->nijk", X, identity)
        + np.einsum("nj,ik->nijk", X, identity)
        + np.einsum("nk,ij->nijk", X, identity)
    )


def test_default_is_control_variates():
    X, y, _ = squared_relu_teacher(3000, 0)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    default = TensorInitGD(activation="squared_relu", max_iter=10, random_state=0)
    explicit = TensorInitGD(
        activation="squared_relu",
        max_iter=10,
        moments="control_variates",
        random_state=0,
    )
    assert default.get_params()["moments"] == "control_variates"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default.fit(X, y, sample_weight=w)
        explicit.fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(
        default.init_hidden_weights_, explicit.init_hidden_weights_
    )
    np.testing.assert_array_equal(default.hidden_weights_, explicit.hidden_weights_)
    np.testing.assert_array_equal(default.output_weights_, explicit.output_weights_)


def test_paper_moments_are_noisier_and_both_recover():
    """Measured init errors (d=10, k=5, kappa=2, seeds 0-4, n=10 000): paper 0.19
    to 2.4 (mean 0.77), control variates 0.09 to 0.15 (mean 0.12); after descent
    at n=30 000 both ~3e-12."""
    errors = {"control_variates": [], "paper": []}
    for seed in range(3):
        X, y, teacher = squared_relu_teacher(10_000, seed)
        for moments, found in errors.items():
            with warnings.catch_warnings():
                # (The residual of the initialisation still shows units.)
                warnings.simplefilter("ignore")
                model = paper_model(moments=moments, max_iter=0).fit(X, y)
            found.append(recovery_error(teacher, _initial_network(model)))
    paper, control = np.mean(errors["paper"]), np.mean(errors["control_variates"])
    assert np.all(np.isfinite(errors["paper"]))
    assert max(errors["control_variates"]) < 0.25
    assert paper > 2 * control
    X, y, teacher = squared_relu_teacher(30_000, 0)
    for moments in errors:
        model = paper_model(moments=moments).fit(X, y)
        assert recovery_error(teacher, model) < 1e-9


def test_paper_second_moment_by_hand():
    """The labels of ``"paper"`` give ``P_2 = mean(y (x x^T - I))`` (and ``M_1``,
    ``M_3``) of the observed labels, not those of the control variates."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal(40) + 3.0
    offset = 0.75  # the labels as the estimator sees them: centred by 0.75
    sample = MomentSample(X, np.ones(40), label_offset=offset)
    first, labels, drop_quadratic = moment_labels(sample, y - offset, "paper")
    assert not drop_quadratic
    np.testing.assert_allclose(first, np.mean(y[:, np.newaxis] * X, axis=0))
    expected = np.mean(y[:, np.newaxis, np.newaxis] * hermite_2(X), axis=0)
    np.testing.assert_allclose(sample.p2_product(labels), expected, atol=1e-12)
    third = sample.projected_hermite_moments(labels, np.eye(3), 3)[2]
    expected_third = np.mean(y[:, None, None, None] * hermite_3(X), axis=0)
    np.testing.assert_allclose(third, expected_third, atol=1e-12)
    # The control variates estimate the same moment differently.
    _, residual, drop_quadratic = moment_labels(sample, y - offset)
    assert drop_quadratic
    assert np.abs(sample.p2_product(residual) - expected).max() > 1e-3


@pytest.mark.parametrize("fit_hidden_bias", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_estimator_uses_the_papers_moments(monkeypatch, fit_hidden_bias, fit_intercept):
    """Inside the fit, ``P_2`` is ``mean(y (x x^T - I))`` of the raw targets
    (weighted), and no quadratic term is removed from the higher moments."""
    seen = {"p2": [], "quadratic": []}
    p2_product = MomentSample.p2_product
    projected = MomentSample.projected_hermite_moments

    def p2_spy(self, y, basis=None, **kwargs):
        result = p2_product(self, y, basis, **kwargs)
        if basis is None:
            seen["p2"].append(result[0] if kwargs.get("return_noise") else result)
        return result

    def projected_spy(self, y, basis, max_order, *, quadratic=None, **kwargs):
        seen["quadratic"].append(quadratic)
        return projected(self, y, basis, max_order, quadratic=quadratic, **kwargs)

    monkeypatch.setattr(MomentSample, "p2_product", p2_spy)
    monkeypatch.setattr(MomentSample, "projected_hermite_moments", projected_spy)
    rng = np.random.RandomState(1)
    X = rng.standard_normal((3000, 3))
    y = np.maximum(X @ [1.0, -0.5, 0.2], 0) ** 2 + 2.0  # far from centred
    w = rng.uniform(0.5, 2.0, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TensorInitGD(
            n_hidden=2,
            activation="squared_relu",
            moments="paper",
            fit_intercept=fit_intercept,
            fit_hidden_bias=fit_hidden_bias,
            max_iter=0,
            n_init=1,
            random_state=0,
        ).fit(X, y, sample_weight=w)
    # The first full P_2 is that of the initialisation (later ones, of the
    # residual of the fit, look for a missing unit).
    expected = np.average(y[:, None, None] * hermite_2(X), axis=0, weights=w)
    np.testing.assert_allclose(seen["p2"][0], expected, rtol=1e-10, atol=1e-12)
    assert seen["quadratic"] and all(q is None for q in seen["quadratic"])


@pytest.mark.parametrize("fit_hidden_bias", [False, True])
def test_sample_weights_are_repetitions(fit_hidden_bias):
    """Integer weights initialise as repeated rows do."""
    X, y, _ = squared_relu_teacher(2000, 1)
    counts = np.random.RandomState(0).randint(1, 4, len(y))
    params = dict(
        activation="squared_relu",
        n_hidden=5,
        moments="paper",
        fit_hidden_bias=fit_hidden_bias,
        max_iter=0,
        n_init=1,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = TensorInitGD(**params).fit(X, y, sample_weight=counts)
        repeated = TensorInitGD(**params).fit(
            np.repeat(X, counts, axis=0), np.repeat(y, counts)
        )
        control = TensorInitGD(**{**params, "moments": "control_variates"}).fit(
            X, y, sample_weight=counts
        )
    np.testing.assert_allclose(
        weighted.init_hidden_weights_, repeated.init_hidden_weights_, atol=1e-8
    )
    assert not np.allclose(weighted.init_hidden_weights_, control.init_hidden_weights_)


def test_classifier():
    X, y, teacher = make_teacher_classification(
        n_samples=20_000, n_features=6, n_hidden=2, random_state=0
    )
    models = {
        moments: TensorInitGDClassifier(
            moments=moments, n_hidden=2, n_init=1, random_state=0
        ).fit(X, y)
        for moments in ("control_variates", "paper")
    }
    paper, control = models["paper"], models["control_variates"]
    assert paper.get_params()["moments"] == "paper"
    # Measured: init errors 1.26 (paper) and 0.31; both fits end at 0.115, the
    # maximum-likelihood weights.
    init_error = recovery_error(teacher, _initial_network(paper))
    assert np.isfinite(init_error)
    assert init_error > recovery_error(teacher, _initial_network(control))
    assert recovery_error(teacher, paper) < 0.2
    np.testing.assert_allclose(
        recovery_error(teacher, paper), recovery_error(teacher, control), rtol=0.1
    )
    assert abs(paper.score(X, y) - control.score(X, y)) < 0.005


def test_invalid_moments():
    X, y, _ = squared_relu_teacher(200, 0)
    with pytest.raises(ValueError, match="moments"):
        TensorInitGD(moments="raw").fit(X, y)
