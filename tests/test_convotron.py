import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrecover import Convotron, DoubleConvotron
from skrecover._convotron_updates import convotron_field, drift_matrix
from skrecover.activations import LeakyReLU, Tanh
from skrecover.datasets import make_teacher_convolution
from skrecover.exceptions import AssumptionWarning
from skrecover.metrics import recovery_error


def filter_error(model, teacher):
    return float(np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights))


def data(n_samples=5000, stride=9, **kwargs):
    return make_teacher_convolution(
        n_samples=n_samples, n_features=160, patch_size=16, stride=stride, **kwargs
    )


def test_recovery_from_default_parameters():
    """GKM18's setting: 160 inputs, patches of 16, stride 9 (17 patches), ReLU."""
    X, y, teacher = data(random_state=0)
    model = Convotron(patch_size=16, stride=9).fit(X, y)
    assert filter_error(model, teacher) <= 1e-6
    assert recovery_error(teacher, model) <= 1e-6
    assert model.n_patches_ == 17 and model.filter_.shape == (16,)
    assert np.allclose(model.output_weights_, 1 / 17)
    assert model.predict(X[:5]) == pytest.approx(teacher.predict(X[:5]), abs=1e-6)


@pytest.mark.filterwarnings("ignore:Patches of size:UserWarning")
@pytest.mark.parametrize("stride", range(16, 1, -1))
def test_every_stride_converges_with_the_automatic_step(stride):
    """Batch solver (a preconditioned step from w = 0, then Newton steps): strides
    2-16 at n = 5000 in at most 7 iterations (the preconditioned steps alone took
    37-65 at stride 9 and below); stride 1 below."""
    X, y, teacher = data(stride=stride, random_state=1)
    model = Convotron(patch_size=16, stride=stride).fit(X, y)
    assert filter_error(model, teacher) <= 1e-12
    assert model.n_iter_ <= 7


def test_stride_one_converges():
    """Stride 1 (145 patches of 16 in 160 inputs, condition number ~4300) at n =
    5000: the preconditioned iteration alone stopped at a second zero of the
    empirical update field (error 0.8); the Newton steps reach the filter."""
    X, y, teacher = data(stride=1, random_state=1)
    model = Convotron(patch_size=16, stride=1).fit(X, y)
    assert filter_error(model, teacher) <= 1e-12
    assert model.n_iter_ <= 10
    assert model.condition_number_ > 1000


@pytest.mark.parametrize(
    "fit_intercept, update_patch, slope", [(True, None, 0.0), (False, 0, 0.3)]
)
def test_field_jacobian_matches_differences(fit_intercept, update_patch, slope):
    """``-dF/dw`` of the update field, column by column against central differences
    (a step of 1e-7 moves few rows across the kink)."""
    X, y, _ = data(n_samples=2000, stride=4, random_state=3)
    layout = Convotron(patch_size=16, stride=4).fit(X[:10], y[:10]).patch_indices_
    output = np.full(len(layout), 1 / len(layout))
    weight = np.random.default_rng(0).uniform(0.5, 2, len(y))
    w = np.random.default_rng(1).standard_normal(16)

    def field(w, jacobian=False):
        return convotron_field(
            X, y, weight, w, layout, output, slope, update_patch,
            fit_intercept=fit_intercept, jacobian=jacobian,
        )  # fmt: skip

    step = 1e-7
    differences = np.column_stack(
        [
            (field(w - step * e).update - field(w + step * e).update) / (2 * step)
            for e in np.eye(16)
        ]
    )
    jacobian = field(w, jacobian=True).jacobian
    assert np.abs(jacobian - differences).max() <= 1e-5 * np.abs(jacobian).max()


@pytest.mark.parametrize("stride, noise", [(9, 0.5), (4, 0.2), (16, 1.0)])
def test_noisy_batch_fit_is_the_update_fixed_point(stride, noise):
    """With noise the Newton steps land on the zero of the empirical update field,
    the same filter the preconditioned iteration converges to, in a few steps."""
    X, y, _ = data(stride=stride, noise=noise, random_state=4)
    model = Convotron(patch_size=16, stride=stride).fit(X, y)
    field = convotron_field(
        X,
        y,
        np.ones(len(y)),
        model.hidden_weights_[0],
        model.patch_indices_,
        model.output_weights_,
        0.0,
        fit_intercept=True,
    )
    drift, _ = drift_matrix(
        X, np.ones(len(y)), model.patch_indices_, model.output_weights_
    )
    assert np.linalg.norm(np.linalg.solve(drift, field.update)) <= 1e-9
    assert model.n_iter_ <= 10


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
def test_stochastic_solvers_converge_from_zero(solver):
    X, y, teacher = data(random_state=2)
    model = Convotron(patch_size=16, stride=9, solver=solver, random_state=0).fit(X, y)
    assert filter_error(model, teacher) <= 1e-6
    assert model.t_ > model.n_iter_ * 100


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
def test_a_step_far_too_long_is_halved_without_a_runtime_warning(solver):
    X, y, teacher = make_teacher_convolution(300, 12, 4, stride=2, random_state=0)
    model = Convotron(
        patch_size=4, stride=2, solver=solver, learning_rate=1e6, random_state=0
    ).fit(X, y)
    assert model.learning_rate_ < 10
    assert np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights) < 1e-6


@pytest.mark.parametrize("solver", ["batch", "stochastic", "minibatch"])
def test_early_stopping_with_every_solver(solver):
    """The held-out loss is monitored from the start point on (the stochastic
    solvers once passed it none and failed comparing it)."""
    X, y, teacher = data(random_state=3)
    model = Convotron(
        patch_size=16, stride=9, solver=solver, early_stopping=True, random_state=0
    ).fit(X, y)
    assert filter_error(model, teacher) <= 1e-4
    noisy = data(random_state=3, noise=0.05)[:2]
    stopped = filter_error(model.fit(*noisy), teacher)
    full = filter_error(model.set_params(early_stopping=False).fit(*noisy), teacher)
    assert 0 < stopped <= 1.25 * full


@pytest.mark.parametrize("Estimator", [Convotron, DoubleConvotron])
def test_inputs_whose_square_leaves_float64_are_refused(Estimator):
    """X on scales of 1e+-100 fits as X does (the filter scaled back); on 1e+-200
    the drift matrix and the step, quadratic in X, would over- or underflow (a
    ZeroDivisionError or OverflowError before, or an infinite learning_rate_)."""
    X, y, _ = data(n_samples=2000, random_state=4)
    model = Estimator(patch_size=16, stride=9, random_state=0)
    reference = model.fit(X, y).predict(X)
    for factor in (1e-100, 1e100):
        assert np.allclose(model.fit(X * factor, y).predict(X * factor), reference)
        assert np.isfinite(model.lambda_max_) and model.lambda_max_ > 0
    for factor in (1e-200, 1e200):
        with pytest.raises(ValueError, match="X varies on a scale of .* quadratic"):
            model.fit(X * factor, y)


@pytest.mark.filterwarnings("ignore:Patches of size:UserWarning")
def test_two_dimensional_and_multichannel_images():
    for shape, patch, stride in (((12, 12), (4, 4), (2, 2)), ((10, 10, 3), (3, 3), 2)):
        X, y, teacher = make_teacher_convolution(
            n_samples=4000,
            input_shape=shape,
            patch_size=patch,
            stride=stride,
            random_state=3,
        )
        model = Convotron(patch_size=patch, input_shape=shape, stride=stride).fit(X, y)
        assert filter_error(model, teacher) <= 1e-6
        channels = shape[2:] or ()
        assert model.filter_.shape == tuple(np.atleast_1d(patch)) + tuple(channels)


def test_explicit_patch_indices_and_known_output_weights():
    rng = np.random.default_rng(4)
    patches = np.array([[0, 3, 7, 9], [1, 3, 8, 11], [2, 5, 7, 10], [4, 6, 9, 11]])
    X, y, teacher = make_teacher_convolution(
        n_samples=3000, n_features=12, patch_size=4, stride=2, random_state=4
    )
    a = rng.uniform(0.5, 1.5, 4)
    w = teacher.hidden_weights[0]
    y = np.maximum(np.take(X, patches, axis=1) @ w, 0) @ a
    model = Convotron(patch_indices=patches, output_weights=a).fit(X, y)
    assert np.linalg.norm(model.hidden_weights_[0] - w) <= 1e-6


def test_leaky_and_linear_activations():
    for activation, slope in (("linear", 1.0), (LeakyReLU(slope=0.3), 0.3)):
        X, y, teacher = data(activation=activation, random_state=5)
        model = Convotron(patch_size=16, stride=9, activation=activation).fit(X, y)
        assert model.activation_.slope == slope
        assert filter_error(model, teacher) <= 1e-6


@pytest.mark.parametrize("distribution", ["uniform", "rademacher"])
def test_symmetric_non_gaussian_inputs(distribution):
    X, y, teacher = data(distribution=distribution, random_state=6)
    model = Convotron(patch_size=16, stride=9).fit(X, y)
    assert filter_error(model, teacher) <= 1e-6


def test_one_disjoint_patch_update():
    """Patch 0 reads features 0-3 alone; the others (stride 1) overlap."""
    rng = np.random.default_rng(7)
    others = np.arange(4, 13)[:, np.newaxis] + np.arange(4)[np.newaxis, :]
    patches = np.vstack([np.arange(4), others[: 12 - 3]])
    X = rng.standard_normal((20_000, 16))
    w = rng.standard_normal(4)
    w /= np.linalg.norm(w)
    y = np.maximum(np.take(X, patches, axis=1) @ w, 0).mean(axis=1)
    model = Convotron(
        patch_indices=patches, update_patch=0, solver="minibatch", random_state=0
    ).fit(X, y)
    assert np.linalg.norm(model.hidden_weights_[0] - w) <= 1e-4
    with pytest.raises(ValueError, match="shares features"):
        Convotron(patch_indices=patches, update_patch=1).fit(X, y)


def test_noisy_labels_with_averaging():
    """With label noise 0.5 sd(f*) a constant step leaves an error floor; averaging
    the iterates brings it to the statistical error (spec: 0.03-0.07 at 40k steps)."""
    X, y, teacher = data(n_samples=20_000, random_state=8)
    y = y + 0.5 * y.std() * np.random.default_rng(8).standard_normal(len(y))
    plain = Convotron(
        patch_size=16, stride=9, solver="stochastic", max_iter=4, random_state=0
    )
    averaged = Convotron(
        patch_size=16,
        stride=9,
        solver="stochastic",
        max_iter=4,
        average=20_000,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(X, y)
        averaged.fit(X, y)
    assert filter_error(averaged, teacher) < 0.07
    assert filter_error(averaged, teacher) < filter_error(plain, teacher)


def test_partial_fit_over_chunks_equals_fit():
    X, y, _ = data(n_samples=3000, random_state=9)
    params = dict(
        patch_size=16,
        stride=9,
        solver="stochastic",
        learning_rate=0.2,
        shuffle=False,
        fit_intercept=False,
    )
    whole = Convotron(max_iter=2, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X, y)
    streamed = Convotron(**params)
    for _ in range(2):
        for chunk in np.array_split(np.arange(3000), 7):
            streamed.partial_fit(X[chunk], y[chunk])
    assert np.allclose(streamed.hidden_weights_, whole.hidden_weights_, atol=1e-12)
    assert streamed.t_ == whole.t_ == 6000
    with pytest.raises(ValueError, match="features"):
        streamed.partial_fit(X[:, :100], y)


def test_partial_fit_of_the_batch_solver_makes_minibatch_updates():
    X, y, teacher = data(n_samples=20_000, random_state=4)
    params = dict(patch_size=16, stride=9, shuffle=False, random_state=0)
    batch = Convotron(solver="batch", **params)
    minibatch = Convotron(solver="minibatch", **params)
    for chunk in np.array_split(np.arange(len(y)), 10):
        batch.partial_fit(X[chunk], y[chunk])
        minibatch.partial_fit(X[chunk], y[chunk])
    assert np.allclose(batch.hidden_weights_, minibatch.hidden_weights_)
    assert filter_error(batch, teacher) < 0.1


def test_key_identity_drift_is_c_times_covariance():
    """E[(y - f_w(x)) v(x)] = c C (w* - w) on symmetric inputs (GKM18, Lemma 1)."""
    X, y, teacher = data(n_samples=400_000, random_state=10, distribution="uniform")
    a = teacher.output_weights
    w = teacher.hidden_weights[0] + 0.3 * np.random.default_rng(0).standard_normal(16)
    weights = np.ones(len(y))
    C, _ = drift_matrix(X, weights, teacher.patch_indices, a)
    drift = convotron_field(X, y, weights, w, teacher.patch_indices, a, 0.0).update
    expected = 0.5 * C @ (teacher.hidden_weights[0] - w)
    assert np.linalg.norm(drift - expected) < 0.02 * np.linalg.norm(expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_diagnostics_and_warnings():
    X, y, _ = data(random_state=11)
    model = Convotron(patch_size=16, stride=9).fit(X, y)
    assert 0 < model.lambda_min_ < model.lambda_max_
    assert model.condition_number_ == pytest.approx(
        model.lambda_max_ / model.lambda_min_
    )
    assert model.learning_rate_ > 0
    with pytest.warns(AssumptionWarning, match="symmetric about 0"):
        Convotron(max_iter=5).fit(X + 1.0, y)
    duplicated = np.column_stack([X[:, :10], X[:, :10]])
    with pytest.warns(AssumptionWarning, match="singular"):
        Convotron(max_iter=5).fit(duplicated, y)


def test_bad_parameters():
    X, y, _ = data(n_samples=200, random_state=12)
    with pytest.raises(ValueError, match="odd part being linear"):
        Convotron(activation=Tanh()).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        Convotron(patch_size=16, stride=9, output_weights=np.ones(3)).fit(X, y)
    with pytest.raises(ValueError, match="either patch_indices or patch_size"):
        Convotron(patch_size=4, patch_indices=[[0, 1]]).fit(X, y)
    with pytest.raises(ValueError, match="need a patch_size"):
        Convotron(stride=2).fit(X, y)
    with pytest.raises(ValueError, match="only 17 patches"):
        Convotron(patch_size=16, stride=9, update_patch=20).fit(X, y)


def test_double_convotron_learns_filter_and_output_weights():
    """Du and Goel's setting (160, 16, 16): angle to a* below 0.1 rad."""
    X, y, teacher = data(
        n_samples=30_000, stride=16, output_weights="random", random_state=13
    )
    X_test, y_test = X[20_000:], y[20_000:]
    model = DoubleConvotron(patch_size=16, stride=16, random_state=0)
    model.fit(X[:20_000], y[:20_000])
    assert model.n_iter_ < 100  # stage 1 is one pass; stage 2 converges at once
    angle = np.arccos(min(model.output_weights_ @ teacher.output_weights, 1.0))
    assert angle < 0.1
    assert model.sign_ == 1 and model.candidate_losses_[0] < model.candidate_losses_[1]
    assert np.mean((model.predict(X_test) - y_test) ** 2) < 0.01 * y_test.var()
    assert np.isclose(np.linalg.norm(model.output_weights_), 1.0)
    assert model.stage1_filter_.shape == (16,)


def test_double_convotron_with_overlapping_patches():
    """Stride 12 (exclusive parts of 8): stage 1 needs ~1e5 updates."""
    X, y, teacher = data(
        n_samples=20_000, stride=12, output_weights="random", random_state=0
    )
    model = DoubleConvotron(patch_size=16, stride=12, max_iter=100_000, random_state=0)
    model.fit(X, y)
    assert np.arccos(min(model.output_weights_ @ teacher.output_weights, 1.0)) < 0.1
    with pytest.raises(ValueError, match="stride=7 is below"):
        DoubleConvotron(patch_size=16, stride=7).fit(X, y)


def test_teacher_distributions_are_symmetric_with_identity_covariance():
    for distribution in ("gaussian", "uniform", "rademacher"):
        X, _, _ = make_teacher_convolution(
            n_samples=50_000,
            n_features=8,
            patch_size=4,
            stride=2,
            distribution=distribution,
            random_state=0,
        )
        assert np.allclose(np.cov(X.T), np.eye(8), atol=0.03)
        assert np.abs(X.mean(axis=0)).max() < 0.03
    with pytest.raises(ValueError, match="distribution"):
        make_teacher_convolution(n_samples=5, distribution="cauchy")


def test_double_convotron_checks_the_identity_covariance():
    """Its stage-1 moment needs identity covariance: on the symmetric mixture
    (covariance of rank 3 plus 0.25 I) it scored R^2 0.17-0.8 without a word;
    the symmetric families with identity covariance pass silently."""
    for distribution, warned in (("rademacher", False), ("mixture", True)):
        X, y, _ = make_teacher_convolution(
            n_samples=5000,
            n_features=64,
            patch_size=16,
            stride=16,
            output_weights="random",
            distribution=distribution,
            random_state=32,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            DoubleConvotron(patch_size=16, stride=16, random_state=0).fit(X, y)
        messages = [
            str(w.message) for w in caught if issubclass(w.category, AssumptionWarning)
        ]
        assert bool(messages) == warned
        assert all("identity covariance" in m for m in messages)


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
def test_partial_fit_takes_chunks_of_one_row(solver):
    """A stream may deliver one row at a time after its first chunk: it was
    refused ("minimum of 2"), and a row alone then took the step of a whole
    minibatch (test R^2 -5.6e8)."""
    X, y, teacher = data(n_samples=4000, random_state=41)
    model = Convotron(patch_size=16, stride=9, solver=solver, random_state=0)
    model.partial_fit(X[:2000], y[:2000])
    before = filter_error(model, teacher)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for row in range(2000, 2100):
            model.partial_fit(X[row : row + 1], y[row : row + 1])
    assert filter_error(model, teacher) < 1.5 * before + 0.01
    assert model.score(X[2100:], y[2100:]) > 0.9
    with pytest.raises(ValueError, match="minimum of 2"):
        Convotron(solver=solver).partial_fit(X[:1], y[:1])


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
def test_noisy_labels_average_once_the_constant_step_stalls(solver):
    """A constant step stalls at a noise floor set by the step: R^2 0.81-0.99
    (median 0.92) against the noise-free teacher over 20 teachers, silently.
    average="auto" averages the iterates from the stall on (0.9965 or more)."""
    X, y, teacher = make_teacher_convolution(
        n_samples=10_000,
        n_features=32,
        patch_size=8,
        stride=4,
        noise=0.1,
        random_state=41,
    )
    X_test = np.random.default_rng(0).standard_normal((5000, 32))
    y_test = teacher.predict(X_test)
    params = dict(patch_size=8, stride=4, solver=solver, random_state=0)
    model = Convotron(**params).fit(X, y)
    constant = Convotron(average=False, **params).fit(X, y)
    assert model.score(X_test, y_test) > 0.995
    assert model.n_iter_ > constant.n_iter_
    error = np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights)
    assert error < 0.6 * np.linalg.norm(
        constant.hidden_weights_ - teacher.hidden_weights
    )


def test_double_convotron_refines_output_weights_stage_one_sees_through_noise():
    """Stage 1 sees the output weights only through the filter's exclusive part,
    here small (norm 0.023): its a is noise (signal-to-noise 0.9; the paper's
    three stages score test R^2 0.31). Stage 4 (least squares for a, Convotron
    for w) recovers the network."""
    X, y, teacher = make_teacher_convolution(
        n_samples=10_000, output_weights="random", random_state=44
    )
    X_test = np.random.default_rng(0).standard_normal((5000, 160))
    y_test = teacher.predict(X_test)
    params = dict(patch_size=16, stride=9, random_state=0)
    paper = DoubleConvotron(refine_iter=0, **params).fit(X, y)
    model = DoubleConvotron(**params).fit(X, y)
    assert model.stage1_signal_to_noise_ < 1.5
    assert paper.score(X_test, y_test) < 0.5
    assert model.score(X_test, y_test) > 0.999
    assert model.refine_rounds_ >= 1
    cosine = model.output_weights_ @ teacher.output_weights
    assert cosine / np.linalg.norm(teacher.output_weights) > 0.999
