"""Scaling out with dask: cross-validation folds on a local cluster, and moment
accumulation over the chunks of a dask array through dask-ml's Incremental."""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

from joblib import parallel_config  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skrecover import Convotron, MomentRecovery, TensorInitGD  # noqa: E402
from skrecover.datasets import (  # noqa: E402
    make_teacher_convolution,
    make_teacher_regression,
    make_teacher_two_layer,
)


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
