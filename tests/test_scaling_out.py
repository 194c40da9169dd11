"""Scaling out with dask: fits on dask arrays run blockwise on a local cluster
(equal to the in-memory fits, out of core, through a worker's death),
cross-validation folds on the cluster, and moment accumulation over the chunks of
a dask array through dask-ml's Incremental."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

from joblib import parallel_config  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skrecover import (  # noqa: E402
    Convotron,
    DoubleConvotron,
    MomentRecovery,
    PracticalSizeGD,
    TensorInitGD,
    TensorInitGDClassifier,
)
from skrecover.datasets import (  # noqa: E402
    make_teacher_classification,
    make_teacher_convolution,
    make_teacher_regression,
    make_teacher_two_layer,
)
from skrecover.metrics import recovery_error  # noqa: E402

psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def no_gathering(monkeypatch):
    """Fail if a fit turns a dask array of more than 1 MB into a numpy array (the
    bounded subsamples of a fit are taken explicitly, with ``compute``)."""
    to_numpy = da.Array.__array__

    def guarded(array, *args, **kwargs):
        if array.nbytes > 2**20:
            raise AssertionError(f"a dask array of shape {array.shape} was gathered")
        return to_numpy(array, *args, **kwargs)

    monkeypatch.setattr(da.Array, "__array__", guarded)


def _regression(n_samples=120_000):
    """Above 100 000 rows: the warm-up subsamples of the descent are drawn too."""
    return make_teacher_regression(
        n_samples=n_samples, n_features=8, n_hidden=2, activation="relu", random_state=0
    )[:2]


def _classification():
    return make_teacher_classification(n_samples=8_000, n_features=6, random_state=0)[
        :2
    ]


def _two_layer():
    return make_teacher_two_layer(20_000, 8, 2, 3, random_state=0)[:2]


def _convolution(stride):
    return make_teacher_convolution(
        n_samples=20_000, n_features=40, patch_size=8, stride=stride, random_state=0
    )[:2]


CASES = {
    "TensorInitGD": (lambda: TensorInitGD(n_hidden=2, random_state=0), _regression),
    "TensorInitGDClassifier": (
        lambda: TensorInitGDClassifier(n_hidden=3, n_init=1, tol=1e-12, random_state=0),
        _classification,
    ),
    "MomentRecovery": (lambda: MomentRecovery(random_state=0), _two_layer),
    "Convotron": (
        lambda: Convotron(patch_size=8, stride=4, random_state=0),
        lambda: _convolution(4),
    ),
    "DoubleConvotron": (
        lambda: DoubleConvotron(patch_size=8, stride=5, random_state=0),
        lambda: _convolution(5),
    ),
}


def _parameters(estimator):
    network = estimator.network_.params
    return [np.atleast_1d(p) for p in network if p is not None]


def _relative_difference(first, second):
    scale = max(np.abs(p).max() for p in _parameters(first))
    return max(
        np.abs(a - b).max() / scale
        for a, b in zip(_parameters(first), _parameters(second), strict=True)
    )


@pytest.mark.parametrize("name", CASES)
def test_dask_fit_equals_the_in_memory_fit(client, no_gathering, name):
    """Same data, same random_state: the same model to 1e-10, predictions lazy.
    (Not the same n_iter_: a noise-free fit stops at the iteration where its loss
    first falls below the floor, which rounding moves; CI saw 26 against 31.)
    Uneven chunks, so that no chunk boundary coincides with a numpy block."""
    make_estimator, make_data = CASES[name]
    X, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same warnings either way
        in_memory = make_estimator().fit(X, y)
        chunks = (len(X) // 3 + 1001, -1)
        distributed = make_estimator().fit(
            da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks[0])
        )
    assert _relative_difference(in_memory, distributed) <= 1e-10
    predictions = distributed.predict(da.from_array(X[:5000], chunks=2000))
    assert isinstance(predictions, da.Array)
    expected = in_memory.predict(X[:5000])
    if name == "TensorInitGDClassifier":
        assert np.array_equal(predictions.compute(), expected)
        proba = distributed.predict_proba(da.from_array(X[:5000], chunks=2000))
        assert isinstance(proba, da.Array)
        assert np.allclose(proba.compute(), in_memory.predict_proba(X[:5000]))
    else:
        assert np.allclose(predictions.compute(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["MomentRecovery", "Convotron"])
def test_dask_partial_fit_equals_the_in_memory_one(client, no_gathering, name):
    X, y = CASES[name][1]()
    params = {"MomentRecovery": {}, "Convotron": {"solver": "minibatch"}}[name]
    in_memory, distributed = (
        type(CASES[name][0]())(**{**CASES[name][0]().get_params(), **params})
        for _ in range(2)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rows in np.array_split(np.arange(len(X)), 2):
            in_memory.partial_fit(X[rows], y[rows])
            distributed.partial_fit(
                da.from_array(X[rows], chunks=(3000, -1)),
                da.from_array(y[rows], chunks=3000),
            )
    assert _relative_difference(in_memory, distributed) <= 1e-10


def test_a_dask_dataframe_gets_a_clear_error():
    dd = pytest.importorskip("dask.dataframe")
    pandas = pytest.importorskip("pandas")
    X, y = make_teacher_regression(n_samples=200, n_features=6, random_state=0)[:2]
    frame = dd.from_pandas(pandas.DataFrame(X), npartitions=2)
    with pytest.raises(TypeError, match="to_dask_array"):
        TensorInitGD().fit(frame, y)


def test_practical_size_gd_fits_a_gathered_dask_array():
    """Not blockwise (its feature matrix is n x 2n anyway): the dask array is
    gathered, and the fit is the in-memory one."""
    X, y = make_teacher_regression(n_samples=1000, n_features=5, random_state=0)[:2]
    in_memory = PracticalSizeGD(random_state=0).fit(X, y)
    gathered = PracticalSizeGD(random_state=0).fit(
        da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)
    )
    assert np.array_equal(gathered.predict(X), in_memory.predict(X))


def test_an_out_of_core_fit_leaves_the_data_on_the_workers():
    """X (440 MB, drawn lazily on the workers) is larger than a worker's memory
    limit; the fit recovers the teacher and the client grows by far less than X.
    (Workers start at about 210 MB: pausing at 80% of the limit is turned off.)"""
    _, _, teacher = make_teacher_two_layer(10, 10, 2, 3, random_state=0)
    n_samples, n_features = 5_500_000, 10
    with (
        dask.config.set({"distributed.worker.memory.pause": False}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="400MiB",
        ) as cluster,
        distributed.Client(cluster),
    ):
        X = da.random.RandomState(0).standard_normal(
            (n_samples, n_features), chunks=(200_000, n_features)
        )
        y = teacher.predict(X)
        small = X[:50_000], y[:50_000]
        MomentRecovery(random_state=0).fit(*small)  # imports, caches, connections
        process = psutil.Process()
        before = process.memory_info().rss
        peak = _PeakMemory(process)
        with peak:
            model = MomentRecovery(random_state=0).fit(X, y)
    assert X.nbytes > 400 * 2**20
    assert peak.value - before < X.nbytes / 8
    assert recovery_error(teacher, model) < 0.05


def test_a_worker_killed_in_the_middle_of_a_fit_changes_nothing():
    """The scheduler recomputes the lost chunks on the other worker (and on the
    restarted one): the fit completes, equal to the in-memory fit."""
    X, y = _regression(40_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = TensorInitGD(n_hidden=2, random_state=0).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        X_d = da.from_array(X, chunks=(10_000, -1))
        y_d = da.from_array(y, chunks=10_000)
        victim, pid = sorted(client.run(os.getpid).items())[0]
        killed = threading.Event()

        def kill_when_busy():
            while not client.processing(workers=[victim]).get(victim):
                time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            killed.set()

        threading.Thread(target=kill_when_busy, daemon=True).start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = TensorInitGD(n_hidden=2, random_state=0).fit(X_d, y_d)
    assert killed.is_set()
    assert _relative_difference(expected, model) <= 1e-10


class _PeakMemory:
    """The largest resident size of ``process`` while the block runs."""

    def __init__(self, process):
        self.process, self.value, self._done = process, 0, threading.Event()

    def _watch(self):
        while not self._done.is_set():
            self.value = max(self.value, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_grid_search_on_a_local_dask_cluster(client):
    X, y, _ = make_teacher_regression(
        n_samples=2000, n_features=6, n_hidden=2, random_state=0
    )
    grid = GridSearchCV(
        TensorInitGD(random_state=0),
        {"n_hidden": [1, 2], "activation": ["relu", "tanh"]},
        cv=3,
        n_jobs=-1,
    )
    with parallel_config(backend="dask"):
        grid.fit(X, y)
    local = GridSearchCV(grid.estimator, grid.param_grid, cv=3).fit(X, y)
    assert grid.best_params_ == local.best_params_
    assert grid.best_params_["n_hidden"] == 2
    assert np.allclose(
        grid.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert len(client.scheduler_info()["workers"]) == 2


def test_incremental_convotron_over_dask_chunks_equals_in_memory():
    X, y, _ = make_teacher_convolution(
        n_samples=4000, n_features=40, patch_size=8, stride=4, random_state=0
    )
    params = dict(
        patch_size=8, stride=4, solver="minibatch", shuffle=False, random_state=0
    )
    streamed = dask_ml_wrappers.Incremental(Convotron(**params), shuffle_blocks=False)
    streamed.fit(da.from_array(X, chunks=1000), da.from_array(y, chunks=1000))
    in_memory = Convotron(**params)
    for rows in np.array_split(np.arange(4000), 4):
        in_memory.partial_fit(X[rows], y[rows])
    assert np.array_equal(
        streamed.estimator_.hidden_weights_, in_memory.hidden_weights_
    )


def test_incremental_moment_recovery_over_dask_chunks_equals_one_fit():
    """dask-ml's Incremental slices ``y`` by row blocks only, so one output (one
    hidden unit) here; several outputs stream through ``partial_fit`` directly."""
    X, y, _ = make_teacher_two_layer(8000, 8, 1, 1, random_state=0)
    streamed = dask_ml_wrappers.Incremental(
        MomentRecovery(random_state=0), shuffle_blocks=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moment health checks on small chunks
        streamed.fit(da.from_array(X, chunks=2000), da.from_array(y, chunks=2000))
    in_memory = MomentRecovery(output_solver="moments", random_state=0).fit(X, y)
    assert np.allclose(
        streamed.estimator_.hidden_weights_, in_memory.hidden_weights_, atol=1e-12
    )
    assert np.allclose(
        streamed.estimator_.output_weights_, in_memory.output_weights_, atol=1e-12
    )
