import functools
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from skrecover import (
    Convotron,
    MomentRecovery,
    PracticalSizeGD,
    TensorInitGD,
    TensorInitGDClassifier,
    experiments,
)
from skrecover.datasets import make_teacher_regression
from skrecover.experiments import BestOfRestarts, recovery_sweep
from skrecover.metrics import as_network, function_error, recovery_error

pd = pytest.importorskip("pandas")

# The sweep of the first tests: TensorInitGD on a 2-unit squared-ReLU teacher.
SMALL = dict(n_trials=2, n_features=5, n_hidden=2, random_state=0)
SAMPLE_GRID = {"n_samples": [200, 2000]}


def squared_relu_sweep(**params):
    return recovery_sweep(
        TensorInitGD(activation="squared_relu"),
        grid=SAMPLE_GRID,
        **{**SMALL, **params},
    )


@pytest.fixture(scope="module")
def reference_sweep():
    return squared_relu_sweep()


def without_fit_time(results):
    return results.drop(columns="fit_time")


class RecordingTensorInitGD(TensorInitGD):
    """TensorInitGD that keeps every fitted instance (sequential sweeps only)."""

    fitted = []

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        type(self).fitted.append(self)
        return self


@pytest.fixture
def recorded(monkeypatch):
    """The parameters the regression teacher is called with, and the fitted
    RecordingTensorInitGD instances."""
    calls = []

    @functools.wraps(make_teacher_regression)
    def recording_teacher(*args, **kwargs):
        calls.append(kwargs)
        return make_teacher_regression(*args, **kwargs)

    monkeypatch.setitem(experiments._TEACHERS, "regression", recording_teacher)
    RecordingTensorInitGD.fitted = []
    return calls, RecordingTensorInitGD.fitted


def test_sweep_frame_layout_and_recovery(reference_sweep):
    results = reference_sweep
    assert list(results.columns) == [
        "n_samples",
        "trial",
        "teacher_seed",
        "estimator_seed",
        "recovery_error",
        "success",
        "init_error",
        "fit_time",
        "n_iter",
        "train_score",
        "train_loss",
        "population_loss",
    ]
    assert results.shape == (4, 12)
    assert results["n_samples"].tolist() == [200, 200, 2000, 2000]
    assert results["trial"].tolist() == [0, 1, 0, 1]
    assert results["n_samples"].dtype == np.int64
    assert results["trial"].dtype == np.int64
    assert results["success"].dtype == bool
    for column in ["recovery_error", "init_error", "fit_time", "n_iter"]:
        assert results[column].dtype == np.float64
    # 2000 samples: exact recovery, from an initialisation that was not exact.
    large = results[results["n_samples"] == 2000]
    assert large["success"].all()
    assert (large["recovery_error"] < 1e-8).all()
    assert (large["init_error"] > 1e-3).all()
    assert (large["train_score"] > 1 - 1e-8).all()
    # Noise-free: the exact fits have no loss, on the data or off them.
    assert (large[["train_loss", "population_loss"]] < 1e-12).all(axis=None)
    small = results[results["n_samples"] == 200]
    assert (small["population_loss"] >= small["train_loss"] - 1e-12).all()
    assert np.isfinite(results["init_error"]).all()
    # Descent from the initialisation brings the exact fits closer. (Not every
    # fit: at 200 samples, n_hidden="auto" keeps a third unit that halves the
    # population loss, 1.06 -> 0.47, and moves the parameters further away.)
    assert (large["init_error"] >= large["recovery_error"] - 1e-12).all()
    assert (results["fit_time"] > 0).all()
    assert (results["n_iter"] >= 1).all()
    assert results["success"].tolist() == list(results["recovery_error"] < 0.01)


def test_a_row_is_reproducible_from_its_seeds(reference_sweep):
    row = reference_sweep.iloc[2]
    X, y, teacher = make_teacher_regression(
        n_samples=2000, n_features=5, n_hidden=2, random_state=row["teacher_seed"]
    )
    model = TensorInitGD(
        activation="squared_relu", random_state=row["estimator_seed"]
    ).fit(X, y)
    assert recovery_error(teacher, model) == row["recovery_error"]
    assert model.n_iter_ == row["n_iter"]


def test_sweep_is_deterministic_whatever_n_jobs(reference_sweep):
    parallel = squared_relu_sweep(n_jobs=2)
    pd.testing.assert_frame_equal(
        without_fit_time(parallel), without_fit_time(reference_sweep)
    )
    again = squared_relu_sweep()
    pd.testing.assert_frame_equal(
        without_fit_time(again), without_fit_time(reference_sweep)
    )
    other = squared_relu_sweep(random_state=1)
    assert not np.array_equal(other["teacher_seed"], reference_sweep["teacher_seed"])
    assert not np.allclose(other["init_error"], reference_sweep["init_error"])


def test_sweep_on_a_dask_cluster_matches_sequential(reference_sweep):
    distributed = pytest.importorskip("distributed")
    client = distributed.Client(processes=False, n_workers=1, threads_per_worker=2)
    with client, joblib.parallel_backend("dask"):
        on_dask = squared_relu_sweep()
    pd.testing.assert_frame_equal(
        without_fit_time(on_dask), without_fit_time(reference_sweep)
    )


def test_estimator_random_state_is_seeded_only_when_none(recorded):
    _, fitted = recorded
    recovery_sweep(RecordingTensorInitGD(), grid={"n_samples": [300]}, **SMALL)
    seeds = [model.random_state for model in fitted]
    assert all(isinstance(seed, int) for seed in seeds) and seeds[0] != seeds[1]
    fitted.clear()
    recovery_sweep(
        RecordingTensorInitGD(random_state=7), grid={"n_samples": [300]}, **SMALL
    )
    assert [model.random_state for model in fitted] == [7, 7]


def test_grid_keys_are_routed_to_teacher_and_estimator(recorded):
    calls, fitted = recorded
    results = recovery_sweep(
        RecordingTensorInitGD(activation="squared_relu"),
        grid={
            "n_hidden": [3],
            "teacher__noise": [0.5],
            "estimator__max_iter": [0],
            "activation": ["relu"],
        },
        n_trials=1,
        n_samples=500,
        n_features=5,
        random_state=0,
    )
    # n_hidden and activation go to both sides, the prefixed keys to one.
    (call,) = calls
    assert call["n_hidden"] == 3 and call["noise"] == 0.5
    assert call["activation"] == "relu" and call["n_features"] == 5
    assert "max_iter" not in call and isinstance(call["random_state"], int)
    (model,) = fitted
    assert model.n_hidden == 3 and model.hidden_weights_.shape == (3, 5)
    assert model.activation == "relu" and model.max_iter == 0
    assert model.n_iter_ == 0
    assert results["estimator__max_iter"].tolist() == [0]
    assert results["teacher__noise"].tolist() == [0.5]
    # max_iter=0 keeps the initialisation.
    assert results["recovery_error"].iloc[0] == pytest.approx(
        results["init_error"].iloc[0]
    )


@pytest.mark.filterwarnings("ignore::skrecover.exceptions.AssumptionWarning")
@pytest.mark.filterwarnings("ignore::skrecover.exceptions.InitializationWarning")
def test_grid_values_that_are_arrays_are_kept_as_objects(recorded):
    calls, _ = recorded
    covariances = [np.eye(5), np.diag([1.0, 2.0, 1.0, 2.0, 1.0])]
    results = recovery_sweep(
        TensorInitGD(max_iter=0),
        grid={"input_covariance": covariances, "hidden_biases": [None, 0.5]},
        n_trials=1,
        n_samples=300,
        n_features=5,
        n_hidden=2,
        random_state=0,
    )
    assert results["input_covariance"].dtype == object
    # ParameterGrid orders the keys: hidden_biases varies slowest.
    assert results["hidden_biases"].tolist() == [None, None, 0.5, 0.5]
    for value, call in zip(results["input_covariance"], calls, strict=True):
        assert value is call["input_covariance"]
    assert results["input_covariance"].iloc[1] is covariances[1]


def test_unknown_keys_raise_naming_them(recorded):
    calls, _ = recorded
    with pytest.raises(ValueError, match="'n_sample'.*n_samples.*n_iter_no_change"):
        recovery_sweep(TensorInitGD(), grid={"n_sample": [100]})
    with pytest.raises(ValueError, match="TensorInitGD has no parameter 'noise'"):
        recovery_sweep(TensorInitGD(), grid={"estimator__noise": [0.1]})
    with pytest.raises(ValueError, match="parameter 'max_iter'.*condition_number"):
        recovery_sweep(TensorInitGD(), grid={"teacher__max_iter": [1]})
    with pytest.raises(ValueError, match="parameter 'n_feature'"):
        recovery_sweep(TensorInitGD(), grid={}, n_feature=3)
    with pytest.raises(ValueError, match="estimator__random_state"):
        recovery_sweep(TensorInitGD(), grid={"random_state": [0]})
    assert calls == []  # nothing ran


def test_estimators_without_a_network_are_rejected_before_fitting(recorded):
    calls, _ = recorded
    with pytest.raises(TypeError, match="PracticalSizeGD cannot be compared"):
        recovery_sweep(PracticalSizeGD(), grid={"n_samples": [100]})
    with pytest.raises(TypeError, match="2 hidden layers"):
        recovery_sweep(
            MLPRegressor(),
            grid={"estimator__hidden_layer_sizes": [(3,), (3, 3)]},
        )
    assert calls == []


def custom_teacher(n_samples=500, scale=1.0, random_state=None):
    """A teacher with the generators' contract: a scaled regression teacher."""
    X, y, teacher = make_teacher_regression(
        n_samples, 5, 2, activation="squared_relu", random_state=random_state
    )
    teacher.output_weights = scale * teacher.output_weights
    return X, scale * y, teacher


def test_callable_teacher():
    results = recovery_sweep(
        TensorInitGD(activation="squared_relu"),
        grid={"scale": [1.0, 3.0], "n_samples": [3000]},
        teacher=custom_teacher,
        n_trials=1,
        random_state=0,
    )
    assert results["scale"].tolist() == [1.0, 3.0]
    assert results["success"].all()
    with pytest.raises(ValueError, match=r"custom_teacher accepts \['n_samples'"):
        recovery_sweep(TensorInitGD(), grid={}, teacher=custom_teacher, noise=0.1)
    with pytest.raises(ValueError, match="teacher must be one of"):
        recovery_sweep(TensorInitGD(), grid={}, teacher="regresion")


def test_classification_teacher():
    results = recovery_sweep(
        TensorInitGDClassifier(),
        teacher="classification",
        grid={"n_samples": [20_000]},
        n_trials=1,
        n_features=4,
        n_hidden=2,
        threshold=0.2,
        random_state=0,
    )
    (row,) = results.itertuples()
    assert row.recovery_error < 0.2 and row.success
    assert np.isfinite(row.init_error)
    assert 0.5 < row.train_score < 1  # Bernoulli labels: accuracy, not 1


def test_two_layer_teacher():
    results = recovery_sweep(
        MomentRecovery(),
        teacher="two_layer",
        grid={"distribution": ["gaussian", "uniform"]},
        n_trials=1,
        n_samples=5000,
        n_features=4,
        n_hidden=2,
        n_outputs=3,
        threshold=0.05,
        random_state=0,
    )
    assert results["distribution"].tolist() == ["gaussian", "uniform"]
    assert (results["recovery_error"] < 0.05).all() and results["success"].all()
    assert results["init_error"].isna().all()  # no initialisation kept
    assert (results["n_iter"] == 0).all()


def test_convolution_teacher_with_per_patch_output_weights():
    results = recovery_sweep(
        Convotron(patch_size=8, stride=4),
        teacher="convolution",
        grid={"n_samples": [2000]},
        n_trials=2,
        n_features=40,
        patch_size=8,
        stride=4,
        threshold=1e-6,
        random_state=0,
    )
    assert (results["recovery_error"] < 1e-6).all()
    # The output weights are one per patch: success compares their signs too.
    assert results["success"].all()


def test_mlp_regressor_network_is_exact():
    X, y, teacher = make_teacher_regression(
        activation="tanh", n_samples=5000, n_features=10, n_hidden=5, random_state=0
    )
    mlp = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", random_state=0).fit(
        X, y
    )
    network = as_network(mlp)
    assert network.hidden_weights.shape == (5, 10)
    assert network.output_weights.shape == (5,)
    assert np.isfinite(recovery_error(teacher, mlp))
    truth = teacher.predict(X)
    by_hand = np.linalg.norm(mlp.predict(X) - truth) / np.linalg.norm(
        truth - truth.mean()
    )
    assert function_error(teacher, mlp, X) == pytest.approx(by_hand, rel=1e-12)
    assert np.allclose(network.predict(X), mlp.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_with_two_hidden_layers_is_not_a_network():
    X, y, _ = make_teacher_regression(n_samples=200, random_state=0)
    mlp = MLPRegressor(hidden_layer_sizes=(3, 3), solver="lbfgs", max_iter=5)
    mlp.fit(X, y)
    with pytest.raises(TypeError, match="2 hidden layers"):
        as_network(mlp)


def test_mlp_regressor_baseline_row():
    results = recovery_sweep(
        MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs"),
        grid={"n_samples": [2000]},
        n_trials=1,
        n_features=5,
        n_hidden=3,
        activation="tanh",
        random_state=0,
    )
    (row,) = results.itertuples()
    assert np.isfinite(row.recovery_error) and row.n_iter > 0
    assert np.isnan(row.init_error)
    X, y, teacher = make_teacher_regression(
        n_samples=2000,
        n_features=5,
        n_hidden=3,
        activation="tanh",
        random_state=row.teacher_seed,
    )
    mlp = MLPRegressor(
        hidden_layer_sizes=(3,),
        activation="tanh",
        solver="lbfgs",
        random_state=row.estimator_seed,
    ).fit(X, y)
    assert recovery_error(teacher, mlp) == row.recovery_error
    assert mlp.score(X, y) == row.train_score


# -- PhaseDiagramDisplay


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def hand_made_results():
    """Two trials for 3 sample sizes x 2 dimensions; (300, 20) has none."""
    rows = []
    success = {
        (100, 5): [True, False],
        (300, 5): [True, True],
        (1000, 5): [True, True],
        (100, 20): [False, False],
        (1000, 20): [True, False],
    }
    for (n_samples, n_features), outcomes in success.items():
        for trial, outcome in enumerate(outcomes):
            rows.append(
                dict(
                    n_samples=n_samples,
                    n_features=n_features,
                    trial=trial,
                    success=outcome,
                    recovery_error=0.001 if outcome else 0.5 + trial,
                )
            )
    return pd.DataFrame(rows)


def test_phase_diagram_orientation_ticks_and_annotations(pyplot):
    from skrecover.inspection import PhaseDiagramDisplay

    display = PhaseDiagramDisplay.from_sweep(
        hand_made_results(), x="n_samples", y="n_features"
    )
    # Rows are the y values (increasing upwards), columns the x values.
    expected = np.array([[0.5, 1.0, 1.0], [0.0, np.nan, 0.5]])
    image = display.image_.get_array()
    assert image.shape == (2, 3)
    assert np.array_equal(image.mask, np.isnan(expected))
    assert np.allclose(image.filled(np.nan), expected, equal_nan=True)
    assert np.allclose(display.table, expected, equal_nan=True)
    assert display.image_.origin == "lower"
    ax = display.ax_
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100", "300", "1000"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["5", "20"]
    assert ax.get_xlabel() == "n_samples" and ax.get_ylabel() == "n_features"
    assert ax.get_title() == "success"
    assert display.image_.get_clim() == (0.0, 1.0)  # a rate
    assert display.colorbar_.ax.get_ylabel() == "success"
    # One number per non-empty cell, at the cell's (column, row) position.
    assert len(ax.texts) == 5
    assert display.text_[1, 1] is None
    assert display.text_[0, 0].get_text() == "0.5"
    assert display.text_[1, 2].get_position() == (2, 1)
    assert display.figure_ is ax.figure


def test_phase_diagram_aggregate_replot_and_errors(pyplot):
    from skrecover.inspection import PhaseDiagramDisplay

    results = hand_made_results()
    display = PhaseDiagramDisplay.from_sweep(
        results,
        x="n_features",
        y="n_samples",
        value="recovery_error",
        aggregate="max",
        annotate=False,
    )
    assert display.table.shape == (3, 2)  # transposed layout
    assert display.table[0].tolist() == [1.5, 1.5]
    assert display.ax_.get_title() == "max of recovery_error"
    assert display.text_ is None and not display.ax_.texts
    assert display.image_.get_clim() == (0.001, 1.5)
    _, ax = pyplot.subplots()
    assert display.plot(ax=ax, cmap="magma").ax_ is ax
    assert display.image_.get_cmap().name == "magma"
    with pytest.raises(ValueError, match="no column 'n_hidden'"):
        PhaseDiagramDisplay.from_sweep(results, x="n_hidden", y="n_samples")


def test_phase_diagram_of_a_real_sweep(pyplot, reference_sweep):
    from skrecover.inspection import PhaseDiagramDisplay

    results = reference_sweep.assign(n_features=5)
    display = PhaseDiagramDisplay.from_sweep(results, x="n_samples", y="n_features")
    assert display.table.shape == (1, 2)
    assert display.table[0, 1] == 1.0
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == ["200", "2000"]


def test_best_of_restarts_keeps_the_lowest_training_loss():
    X, y, teacher = make_teacher_regression(
        n_samples=400, n_features=4, n_hidden=3, random_state=2
    )
    mlp = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BestOfRestarts(mlp, n_restarts=4, random_state=0).fit(X, y)
        seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=4)
        fits = [clone(mlp).set_params(random_state=s).fit(X, y) for s in seeds]
        losses = [np.mean((fit.predict(X) - y) ** 2) for fit in fits]
        results = recovery_sweep(
            BestOfRestarts(mlp, n_restarts=2),
            grid={"n_samples": [300]},
            n_trials=1,
            n_features=4,
            n_hidden=3,
            random_state=0,
        )
    assert np.allclose(model.training_losses_, losses, rtol=1e-12)
    assert np.array_equal(model.predict(X), fits[int(np.argmin(losses))].predict(X))
    assert model.network_.hidden_weights.shape == (3, 4)
    assert np.isfinite(results.recovery_error).all()
