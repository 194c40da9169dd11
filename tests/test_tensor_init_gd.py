import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrecover import Network, TensorInitGD, _optim
from skrecover._base import validation_split
from skrecover._tensor_init_gd import _next_moment_rows
from skrecover.activations import Activation, LeakyReLU, Tanh
from skrecover.datasets import make_teacher_regression
from skrecover.exceptions import AssumptionWarning, InitializationWarning
from skrecover.metrics import recovery_error, recovery_success


def Init(model):
    """The initialisation of a fitted model, as a network."""
    return Network(
        model.init_hidden_weights_, model.init_output_weights_, model.activation_
    )


def teacher_data(activation, n_samples, seed, **kwargs):
    params = {"n_features": 10, "n_hidden": 5, "condition_number": 2.0}
    params.update(kwargs)
    return make_teacher_regression(
        n_samples=n_samples, activation=activation, random_state=seed, **params
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_squared_relu_recovery_to_1e6_noise_free(seed):
    """The setting of Zhong et al.: d = 10, k = 5, kappa = 2, n = 3e4."""
    X, y, teacher = teacher_data("squared_relu", 30_000, seed)
    model = TensorInitGD(activation="squared_relu", random_state=seed).fit(X, y)
    assert model.n_hidden_ == 5
    assert recovery_error(teacher, model) <= 1e-6
    assert recovery_success(teacher, model)
    assert abs(model.intercept_) < 1e-6
    # The initialisation alone is already close, with every output sign right.
    assert recovery_error(teacher, Init(model)) < 0.3
    assert recovery_success(teacher, Init(model), threshold=0.3)


@pytest.mark.parametrize(
    "activation, n_samples",
    [
        ("relu", 10_000),
        (LeakyReLU(slope=0.1), 10_000),
        ("tanh", 10_000),
        ("sigmoid", 10_000),
    ],
    ids=["relu", "leaky_relu", "tanh", "sigmoid"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_recovery_of_other_activations(activation, n_samples, seed):
    """d = 10, k = 5, kappa = 2: n = 1e4 noise-free samples suffice (10/10 seeds in
    the benchmark sweep recover to 1e-9 even at n = 3e3)."""
    X, y, teacher = teacher_data(activation, n_samples, seed)
    model = TensorInitGD(activation=activation, max_iter=1000, random_state=seed)
    model.fit(X, y)
    assert model.n_hidden_ == 5
    assert recovery_error(teacher, model) <= 1e-6
    assert recovery_success(teacher, model)
    assert recovery_error(teacher, Init(model)) < 0.6


def test_tensor_initialisation_beats_random_initialisation():
    X, y, teacher = teacher_data("squared_relu", 20_000, 0)
    tensor = TensorInitGD(activation="squared_relu", random_state=0).fit(X, y)
    random = TensorInitGD(activation="squared_relu", init="random", random_state=0)
    random.fit(X, y)
    assert recovery_error(teacher, tensor) < 1e-6
    assert recovery_error(teacher, random) > 0.1
    assert tensor.loss_curve_[-1] < 1e-15 * y.var() < random.loss_curve_[-1]
    assert random.diagnostics_.fallback is False


def test_noisy_labels_give_an_error_of_the_noise_level():
    X, y, teacher = teacher_data("squared_relu", 30_000, 3, noise=0.1)
    model = TensorInitGD(activation="squared_relu", random_state=0).fit(X, y)
    assert recovery_error(teacher, model) < 0.02
    assert recovery_success(teacher, model, threshold=0.02)
    assert model.loss_curve_[-1] == pytest.approx(0.5 * 0.1**2, rel=0.05)


def test_whitening_recovers_a_teacher_with_correlated_inputs():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 8))
    covariance = A @ A.T / 8 + 0.2 * np.eye(8)
    X, y, teacher = teacher_data(
        "squared_relu", 30_000, 4, n_features=8, n_hidden=3, input_covariance=covariance
    )
    model = TensorInitGD(activation="squared_relu", whiten=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssumptionWarning)
        model.fit(X, y)
    assert recovery_error(teacher, model) < 1e-6
    with pytest.warns(AssumptionWarning, match="correlated"):
        TensorInitGD(activation="squared_relu", max_iter=0, random_state=0).fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "squared_relu", "tanh"])
def test_auto_n_hidden_finds_the_teachers_units(activation):
    X, y, _ = teacher_data(activation, 20_000, 5, n_hidden=3)
    model = TensorInitGD(activation=activation, max_iter=0, random_state=0).fit(X, y)
    assert model.n_hidden_ == 3
    assert model.diagnostics_.eigen_gap > 2


@pytest.mark.parametrize(
    "activation, seed", [("tanh", 42), ("tanh", 49), ("sigmoid", 47)]
)
def test_auto_n_hidden_tries_a_unit_the_residual_does_not_show(activation, seed):
    """At the moments' detection limit (the third unit's moment at 0.85-0.89 of
    the noise edge, the noise's top values 0.80-0.82) "auto" counted 2 units
    and the 2-unit fit absorbed the third, leaving a residual within its noise
    (test R^2 0.96-0.98 without a warning, in 10 of 20 tanh and sigmoid
    teachers). One more unit is now tried whenever the fit is not exact."""
    X, y, teacher = make_teacher_regression(
        n_samples=20_000,
        n_features=60,
        n_hidden=3,
        activation=activation,
        random_state=seed,
    )
    model = TensorInitGD(activation=activation, random_state=0).fit(X, y)
    assert model.n_hidden_ == 3
    assert model.diagnostics_.added_units == 1  # the moments counted 2
    X_test = np.random.default_rng(0).standard_normal((5000, 60))
    assert model.score(X_test, teacher.predict(X_test)) > 1 - 1e-6


def test_auto_n_hidden_keeps_the_teachers_count_on_noisy_data():
    """The larger networks tried on noisy data are rejected by the criterion."""
    for activation, seed in [("relu", 41), ("tanh", 42), ("sigmoid", 43)]:
        X, y, _ = make_teacher_regression(
            n_samples=3000,
            n_features=20,
            n_hidden=4,
            activation=activation,
            noise=0.1,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = TensorInitGD(activation=activation, random_state=0).fit(X, y)
        assert model.n_hidden_ == 4


def test_auto_n_hidden_never_exceeds_what_the_data_allow():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 6))
    y = rng.standard_normal(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGD(random_state=0).fit(X, y)
    assert model.n_hidden_ <= 30 // 7


def test_user_defined_activation_recovers_like_the_builtin():
    X, y, teacher = teacher_data("tanh", 10_000, 6)
    mine = Activation(np.tanh, Tanh().derivative, name="my_tanh")
    model = TensorInitGD(activation=mine, max_iter=1000, random_state=0).fit(X, y)
    assert recovery_error(teacher, model) < 1e-6


def test_sigmoid_without_intercept_resolves_signs_from_the_mean():
    X, y, teacher = teacher_data("sigmoid", 20_000, 7, n_hidden=3)
    model = TensorInitGD(
        activation="sigmoid", fit_intercept=False, max_iter=1000, random_state=0
    ).fit(X, y)
    assert recovery_success(teacher, model, threshold=1e-6)
    assert model.intercept_ == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_units_start_from_their_moments_though_their_trend_fits_better(
    seed,
):
    """Sigmoid units of norm 1 are nearly linear: at d = 20, k = 5, n = 1e4 the
    linear trend fits the rows better than the moments' units (every one of 8 seeds
    measured), yet only these descend to the teacher (the trend ended 0.5-1.5 off
    in 200 iterations). The two are compared after a few iterations of descent."""
    X, y, teacher = teacher_data(
        "sigmoid", 10_000, seed, n_features=20, n_hidden=5, condition_number=1.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TensorInitGD(n_hidden=5, activation="sigmoid", random_state=0).fit(X, y)
    assert model.diagnostics_["start"] != "linear trend"
    assert recovery_error(teacher, Init(model)) < 0.6
    assert recovery_success(teacher, model)


def test_plain_gradient_descent_solver():
    X, y, teacher = teacher_data("squared_relu", 5_000, 8, n_features=5, n_hidden=2)
    model = TensorInitGD(
        activation="squared_relu", solver="gd", max_iter=3000, random_state=0
    ).fit(X, y)
    assert model.solver_ == "gd"
    assert recovery_error(teacher, model) < 1e-6
    assert np.all(np.diff(model.loss_curve_) <= 0)


def test_integer_sample_weights_equal_repeated_samples():
    X, y, _ = teacher_data("relu", 3_000, 9, n_features=6, n_hidden=3, noise=0.3)
    counts = np.random.default_rng(0).integers(0, 3, len(y))
    weighted = TensorInitGD(random_state=0).fit(X, y, sample_weight=counts)
    repeated = TensorInitGD(random_state=0).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts)
    )
    assert np.allclose(weighted.predict(X), repeated.predict(X), atol=1e-6)


def test_early_stopping_keeps_the_best_validation_weights():
    X, y, _ = teacher_data("relu", 2_000, 10, n_features=6, n_hidden=3, noise=1.0)
    model = TensorInitGD(
        n_hidden=6, early_stopping=True, validation_fraction=0.2, random_state=0
    )
    with pytest.warns(InitializationWarning, match="within the sampling noise"):
        model.fit(X, y)  # 6 units asked for, 3 in the data
    curve = model.validation_loss_curve_
    assert len(curve) == model.n_iter_ == len(model.loss_curve_)
    assert np.argmin(curve) < len(curve) - 1  # it ran past the best point ...
    # The rows the fit held out: the split is the first draw of its random state.
    _, validation = validation_split(
        X, np.ones(len(y)), 0.2, "early_stopping", np.random.RandomState(0)
    )
    held_out = validation > 0
    assert 0.15 < held_out.mean() < 0.25
    loss = 0.5 * np.mean((model.predict(X[held_out]) - y[held_out]) ** 2)
    assert loss == pytest.approx(min(curve), rel=1e-6)  # ... and went back to it


@pytest.mark.parametrize("activation", ["relu", "squared_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("hidden_biases", [None, 1.0])
def test_fewer_rows_than_a_warm_start_needs_take_newton_steps(
    activation, hidden_biases
):
    """n = 2e4 (below the warm start's 1e5): after L-BFGS's 30 iterations, Newton
    steps on the Gauss-Newton matrix of all the rows converge in a handful (1-4
    measured). L-BFGS alone took 57-200 and stopped at max_iter=200 on sigmoid
    units, with 1 - R^2 of 1e-11 to 2e-9 and a ConvergenceWarning."""
    X, y, _ = make_teacher_regression(
        n_samples=20_000,
        n_features=20,
        n_hidden=4,
        activation=activation,
        condition_number=3.0,
        hidden_biases=hidden_biases,
        random_state=21,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = TensorInitGD(4, activation=activation, random_state=0).fit(X, y + 2)
    assert model.n_iter_ <= _optim._LBFGS_LEAD + 8
    assert 1 - model.score(X, y + 2) < 1e-12


@pytest.mark.parametrize("seed", [31, 35])
def test_sigmoid_convolutional_teachers_keep_their_intercept(seed):
    """The canonical form flips sigmoid kernels with negative output weights;
    each flip shifts the intercept once per patch (the fits had exact kernels and
    test R^2 of -8.3 and -2.2)."""
    X, y, teacher = make_teacher_regression(
        n_samples=25_000,
        n_features=8,
        n_hidden=2,
        activation="sigmoid",
        patch_size=4,
        random_state=seed,
    )
    model = TensorInitGD(activation="sigmoid", patch_size=4, random_state=0)
    model.fit(X[:20_000], y[:20_000])
    assert recovery_error(teacher, model) < 1e-10
    assert 1 - model.score(X[20_000:], y[20_000:]) < 1e-12


def test_warm_start_continues_from_the_previous_solution():
    X, y, teacher = teacher_data("squared_relu", 10_000, 11)
    model = TensorInitGD(activation="squared_relu", max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        model.fit(X, y)
    init = model.init_hidden_weights_.copy()
    errors = [recovery_error(teacher, model)]
    model.set_params(warm_start=True, max_iter=500)
    model.fit(X, y)
    errors.append(recovery_error(teacher, model))
    assert errors[1] < 1e-6 < errors[0]
    assert np.array_equal(model.init_hidden_weights_, init)
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X[:, :5], y)
    with pytest.raises(ValueError, match="n_hidden=3 differs"):
        model.set_params(n_hidden=3).fit(X, y)


def test_max_iter_zero_keeps_the_initialisation():
    X, y, _ = teacher_data("relu", 5_000, 12)
    model = TensorInitGD(max_iter=0, random_state=0).fit(X, y)
    assert model.n_iter_ == 0 and model.loss_curve_ == []
    assert np.array_equal(model.hidden_weights_, model.init_hidden_weights_)


@pytest.mark.parametrize("fit_hidden_bias", [True, False])
def test_diagnostics_explain_the_initialisation(fit_hidden_bias):
    X, y, _ = teacher_data("relu", 5_000, 13)
    model = TensorInitGD(max_iter=0, fit_hidden_bias=fit_hidden_bias, random_state=0)
    diagnostics = model.fit(X, y).diagnostics_
    assert diagnostics.moment_orders == (2, 4, 1, 2)
    assert diagnostics.spectrum[4] > diagnostics.noise_level > diagnostics.spectrum[5]
    assert 0 <= diagnostics.cp_residual < 0.5
    if fit_hidden_bias:
        # Each unit's moment coefficients are explained to about their noise.
        assert diagnostics.unit_fit_chi2.shape == (5,)
        assert np.median(diagnostics.unit_fit_chi2) < 10
    else:
        assert diagnostics.magnitude_estimates.z.shape == (5,)
    assert set(diagnostics.input_statistics) >= {"mean", "variance", "kurtosis"}


def test_labels_linear_in_x_fall_back_to_random_initialisation():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5_000, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    with pytest.warns(InitializationWarning, match="no information"):
        model = TensorInitGD(random_state=0).fit(
            X, y + 0.1 * rng.standard_normal(5_000)
        )
    assert model.diagnostics_.fallback
    assert model.score(X, y) > 0.99
    # Noise-free, the fit is exact: the warning about its start is moot.
    with warnings.catch_warnings():
        warnings.simplefilter("error", InitializationWarning)
        model = TensorInitGD(random_state=0).fit(X, y)
    assert model.diagnostics_.fallback
    assert model.score(X, y) > 1 - 1e-9


def test_non_gaussian_inputs_are_reported():
    rng = np.random.default_rng(3)
    X = rng.exponential(size=(2_000, 3))
    y = np.maximum(X @ np.array([1.0, -1.0, 0.5]), 0)
    with pytest.warns(AssumptionWarning, match="skewness") as record:
        TensorInitGD(max_iter=0, random_state=0).fit(X, y)
    assert "StandardScaler" in str(record[0].message)


def test_convergence_warning_says_what_to_change():
    X, y, _ = teacher_data("relu", 2_000, 14)
    with pytest.warns(ConvergenceWarning, match="Increase max_iter"):
        TensorInitGD(max_iter=2, random_state=0).fit(X, y)


def test_verbose_prints_the_loss(capsys):
    X, y, _ = teacher_data("relu", 1_000, 15)
    model = TensorInitGD(verbose=1, max_iter=3, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    output = capsys.readouterr().out
    assert output.count("Iteration") == 3 and "loss = " in output


def test_float32_inputs_and_a_large_target_offset():
    """float32 X is fitted as float32; the targets and the output offset live in
    float64, so an offset of 1e6 changes nothing but the intercept."""
    X, y, teacher = teacher_data("squared_relu", 20_000, 16)
    X32 = X.astype(np.float32)
    model = TensorInitGD(activation="squared_relu", random_state=0).fit(X32, y)
    shifted = TensorInitGD(activation="squared_relu", random_state=0).fit(X32, y + 1e6)
    prediction = model.predict(X32)
    assert prediction.dtype == np.float64
    assert recovery_error(teacher, model) < 1e-3
    assert recovery_error(teacher, shifted) < 1e-3
    assert shifted.intercept_ == pytest.approx(model.intercept_ + 1e6, abs=1e-4)
    # float32 resolves 1e6 to 0.06: the offset never enters float32 arithmetic.
    assert np.abs(shifted.predict(X32) - 1e6 - prediction).max() < 1e-4


def test_inputs_are_not_modified_and_pickling_round_trips():
    X, y, _ = teacher_data("relu", 2_000, 17)
    X_copy, y_copy = X.copy(), y.copy()
    model = TensorInitGD(random_state=0).fit(X, y)
    assert np.array_equal(X, X_copy) and np.array_equal(y, y_copy)
    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(restored.predict(X), model.predict(X))


def test_pipeline_and_grid_search_in_parallel():
    X, y, _ = teacher_data("squared_relu", 3_000, 18, n_features=6, n_hidden=2)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), TensorInitGD(random_state=0)),
        {"tensorinitgd__activation": ["relu", "squared_relu"]},
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_params_["tensorinitgd__activation"] == "squared_relu"
    assert search.best_score_ > 0.999


@pytest.mark.parametrize(
    "X_change, message",
    [
        (lambda X: np.where(X > 2, np.nan, X), "NaN"),
        (lambda X: np.where(X > 2, np.inf, X), "infinity"),
        (lambda X: X[:1], "1 sample"),
    ],
)
def test_bad_training_inputs_get_clear_errors(X_change, message):
    X, y, _ = teacher_data("relu", 200, 19)
    X = X_change(X)
    with pytest.raises(ValueError, match=message):
        TensorInitGD().fit(X, y[: len(X)])


def test_other_bad_inputs():
    X, y, _ = teacher_data("relu", 200, 20)
    with pytest.raises(TypeError, match="[Ss]parse"):
        TensorInitGD().fit(sp.csr_matrix(X), y)
    with pytest.raises(ValueError, match="n_hidden=12 is larger than n_features=10"):
        TensorInitGD(n_hidden=12).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        TensorInitGD(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="not identifiable"):
        TensorInitGD(activation=LeakyReLU(slope=1.0)).fit(X, y)
    with pytest.raises(ValueError, match="non-zero|positive sum"):
        TensorInitGD().fit(X, y, sample_weight=np.zeros(len(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGD(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="10 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full_like(X, np.nan))


# -- non-overlapping convolutional networks (Zhong, Song, Dhillon 2017)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_convolutional_recovery_squared_relu(seed):
    """4 patches of length 5, 2 kernels, noise-free."""
    X, y, teacher = make_teacher_regression(
        n_samples=10_000,
        n_features=20,
        n_hidden=2,
        activation="squared_relu",
        patch_size=5,
        random_state=seed,
    )
    model = TensorInitGD(activation="squared_relu", patch_size=5, random_state=seed)
    model.fit(X, y)
    assert model.hidden_weights_.shape == (2, 5)
    assert np.array_equal(model.patch_indices_, np.arange(20).reshape(4, 5))
    assert recovery_error(teacher, model) <= 1e-6
    assert recovery_success(teacher, model)
    assert recovery_error(teacher, Init(model)) < 0.3


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_convolutional_recovery_other_activations(activation):
    """n = 5e3 suffices for 4 patches of length 5 and 2 kernels (5/5 seeds of the
    sweep recover to 1e-9 at n = 3e3)."""
    X, y, teacher = make_teacher_regression(
        n_samples=5_000,
        n_features=20,
        n_hidden=2,
        activation=activation,
        patch_size=5,
        random_state=3,
    )
    model = TensorInitGD(
        activation=activation, patch_size=5, max_iter=1000, random_state=0
    ).fit(X, y)
    assert model.n_hidden_ == 2
    assert recovery_error(teacher, model) <= 1e-6


def test_convolutional_recovery_on_multichannel_images():
    """6 x 6 images with 2 channels, 3 x 3 tiles (patch length 18), 3 kernels."""
    X, y, teacher = make_teacher_regression(
        n_samples=10_000,
        n_hidden=3,
        activation="relu",
        patch_size=(3, 3),
        input_shape=(6, 6, 2),
        random_state=4,
    )
    assert X.shape == (10_000, 72)
    model = TensorInitGD(patch_size=(3, 3), input_shape=(6, 6, 2), random_state=0)
    model.fit(X, y)
    assert model.hidden_weights_.shape == (3, 18)
    assert recovery_error(teacher, model) <= 1e-6


def test_convolutional_layout_errors():
    X = np.random.default_rng(0).standard_normal((50, 12))
    y = X[:, 0] ** 2
    with pytest.raises(ValueError, match="do not tile"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        TensorInitGD(patch_size=5).fit(X, y)
    with pytest.raises(ValueError, match="larger than the patch length 4"):
        TensorInitGD(n_hidden=5, patch_size=4).fit(X, y)
    with pytest.raises(ValueError, match="only used together with patch_size"):
        TensorInitGD(input_shape=(3, 4)).fit(X, y)
    with pytest.raises(ValueError, match="has 16 entries but X has 12 features"):
        TensorInitGD(patch_size=(2, 2), input_shape=(4, 4)).fit(X, y)


@pytest.mark.parametrize(
    "needed, expected",
    [
        (104_397, 200_000),
        (150_000, 225_000),
        (333_333, 499_999),
        (333_334, 10**6),
        (522_318, 10**6),
    ],
)
def test_the_moments_grow_to_the_rows_their_noise_asks_for(needed, expected):
    """1.5 times the rows the measured signal-to-noise ratio asks for, at least
    twice the last subsample, all rows when that is more than half of them."""
    assert _next_moment_rows(needed, 100_000, 10**6) == expected


@pytest.mark.parametrize("noise, moment_rows", [(0.0, 100_000), (10.0, 400_000)])
def test_large_data_take_the_moments_of_a_subsample_grown_to_their_noise(
    monkeypatch, noise, moment_rows
):
    """On 400 000 rows the moments come from 100 000 random rows while the weakest
    unit stands 3 times above its noise there (measured 15.8 without noise), from
    all rows when it does not (2.0 at noise 10 times the spread of y), and the
    projected moments then from a random quarter of them; the descent uses every
    row either way."""
    from skrecover._moments import MomentSample

    projected_rows = []
    projected = MomentSample.projected_hermite_moments

    def spy(self, *args, **kwargs):
        projected_rows.append(len(self.X))
        return projected(self, *args, **kwargs)

    monkeypatch.setattr(MomentSample, "projected_hermite_moments", spy)
    X, y, teacher = make_teacher_regression(
        n_samples=400_000, n_features=8, n_hidden=3, activation="relu", random_state=0
    )
    noisy = y + noise * y.std() * np.random.RandomState(1).standard_normal(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TensorInitGD(n_hidden=3, random_state=0).fit(X, noisy)
    assert model.diagnostics_.moment_rows == moment_rows
    assert projected_rows[0] == 100_000
    if noise == 0:
        assert model.diagnostics_.signal_to_noise >= 3
        assert recovery_error(teacher, model) < 1e-8
    else:
        assert model.diagnostics_.signal_to_noise < 3
        # The statistical error of 400 000 rows at this noise.
        assert recovery_error(teacher, model) < 0.5


def test_float32_fit_stops_at_its_rounding_level(monkeypatch):
    """float32 inputs leave the loss at about 15 eps^2 of y's scale; the fit stops
    there (measured 240 passes chasing 1e-24 before) and predicts as the float64
    fit does."""
    from skrecover import _optim

    X, y, teacher = make_teacher_regression(
        n_samples=200_000, n_features=10, n_hidden=3, activation="relu", random_state=0
    )
    original, rows = _optim.loss_gradient, []

    def counting(X, *args, **kwargs):
        rows.append(len(X))
        return original(X, *args, **kwargs)

    monkeypatch.setattr(_optim, "loss_gradient", counting)
    fits = {}
    for dtype in (np.float64, np.float32):
        rows.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            fits[dtype] = TensorInitGD(n_hidden=3, random_state=0).fit(
                X.astype(dtype), y
            )
        assert rows.count(len(y)) <= 3
    assert recovery_error(teacher, fits[np.float32]) < 1e-3
    assert abs(fits[np.float32].score(X, y) - fits[np.float64].score(X, y)) < 1e-5


def test_projected_moments_read_a_random_quarter_of_many_rows():
    """From 4 * 100 000 rows on, a random quarter of them (sorted, distinct), with
    their labels; below, the sample itself."""
    from skrecover._moments import MomentSample
    from skrecover._tensor_init import _projected_sample

    for n_samples in (399_999, 400_000):
        X = np.arange(2.0 * n_samples).reshape(n_samples, 2)
        sample = MomentSample(X, np.ones(n_samples))
        labels = np.arange(float(n_samples))
        subset, sub_labels = _projected_sample(sample, labels, np.random.RandomState(0))
        if n_samples < 400_000:
            assert subset is sample and sub_labels is labels
            continue
        rows = sub_labels.astype(int)
        assert len(rows) == 100_000 and np.all(np.diff(rows) > 0)
        assert subset.n_effective == 100_000
        np.testing.assert_array_equal(subset.X[:], X[rows])


@pytest.mark.parametrize("fit_hidden_bias", [False, True])
def test_moments_too_weak_stop_before_their_decomposition(fit_hidden_bias):
    """With ``min_signal_to_noise`` above the measured ratio the initialisation
    returns no parameters and that ratio; below it, the initialisation it would
    have returned anyway."""
    from skrecover._moments import MomentSample
    from skrecover._tensor_init import tensor_initialization
    from skrecover.activations import get_activation

    X, y, _ = make_teacher_regression(
        n_samples=5_000, n_features=8, n_hidden=3, noise=0.5, random_state=0
    )
    sample = MomentSample(X, np.ones(len(y)))

    def initialise(**options):
        return tensor_initialization(
            sample,
            y - y.mean(),
            get_activation("squared_relu"),
            3,
            fit_hidden_bias=fit_hidden_bias,
            random_state=np.random.RandomState(0),
            **options,
        )

    params, diagnostics = initialise()
    ratio = diagnostics.signal_to_noise
    weak, measured = initialise(min_signal_to_noise=1.01 * ratio)
    assert weak is None and measured.signal_to_noise == pytest.approx(ratio)
    strong, _ = initialise(min_signal_to_noise=0.99 * ratio)
    np.testing.assert_array_equal(strong.hidden_weights, params.hidden_weights)
    np.testing.assert_array_equal(strong.output_weights, params.output_weights)
