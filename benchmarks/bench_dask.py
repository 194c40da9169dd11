"""TensorInitGD on a dask array that lives on a local cluster, beside numpy.

Fits TensorInitGD (relu teacher, d = 100, k = 10, noise-free) at n = 1e7 from a
dask array drawn lazily on the workers (``dask.array.random``; 8 GB in float64,
never on the client) and persisted there, with 1 and then 2 worker processes of
one thread, and the numpy fit at n = 1e6 in this process. Reported per fit: the
time of one pass over the data (a forward pass of the fitted network, summed on
the workers), the fit time, passes per fit (fit time / one pass), the speedup from
1 to 2 workers, the recovery error and the client's resident-memory growth.

Run ``python benchmarks/bench_dask.py`` (about 20 minutes on 2 cores; it needs
about 10 GB of memory), or ``--quick`` (n = 1e6 on the cluster). Tables go to
stdout and to ``benchmarks/results/dask.md``.
"""

import argparse
import time
import warnings

import dask.array as da
import numpy as np
import psutil
from _common import markdown, print_row, write_report
from distributed import Client, LocalCluster, wait

from skrecover import TensorInitGD
from skrecover.datasets import make_teacher_regression
from skrecover.metrics import recovery_error

N_FEATURES, N_HIDDEN = 100, 10


def teacher():
    return make_teacher_regression(
        n_samples=10,
        n_features=N_FEATURES,
        n_hidden=N_HIDDEN,
        activation="relu",
        random_state=0,
    )[2]


def one_pass_seconds(model, X, repeats=3):
    """Median time of one forward pass over ``X`` (summed where the rows are)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = model.predict(X)
        total = output.sum()
        float(total.compute() if hasattr(total, "compute") else total)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fit(X, y, net):
    process = psutil.Process()
    before = process.memory_info().rss
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGD(n_hidden=N_HIDDEN, random_state=0).fit(X, y)
    seconds = time.perf_counter() - start
    growth = (process.memory_info().rss - before) / 2**20
    one_pass = one_pass_seconds(model, X)
    return model, {
        "fit (s)": seconds,
        "one pass (s)": one_pass,
        "passes": seconds / one_pass,
        "n_iter": model.n_iter_,
        "recovery error": recovery_error(net, model),
        "client RSS growth (MiB)": growth,
    }


def cluster_row(n_samples, n_workers, net, chunk_rows):
    # X persisted below 60% of the limit: dask spills to disk beyond it.
    memory = f"{int(2 * n_samples * N_FEATURES * 8 / n_workers / 2**20) + 1024}MiB"
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=memory,
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        X = da.random.RandomState(1).standard_normal(
            (n_samples, N_FEATURES), chunks=(chunk_rows, N_FEATURES)
        )
        X = client.persist(X)
        wait(X)
        drawn = time.perf_counter() - start
        y = net.predict(X)
        _, row = fit(X, y, net)
    return {
        "data": f"dask, {n_workers} worker(s)",
        "n": n_samples,
        "draw X (s)": drawn,
        **row,
    }


def main(quick):
    net = teacher()
    n_cluster = 1_000_000 if quick else 10_000_000
    rows = []
    X = np.random.default_rng(1).standard_normal((1_000_000, N_FEATURES))
    _, row = fit(X, net.predict(X), net)
    del X
    rows.append({"data": "numpy", "n": 1_000_000, **row})
    print_row(rows[-1])
    for n_workers in (1, 2):
        rows.append(cluster_row(n_cluster, n_workers, net, chunk_rows=250_000))
        print_row(rows[-1])
    speedup = rows[1]["fit (s)"] / rows[2]["fit (s)"]
    rows[2]["speedup 1 -> 2 workers"] = speedup
    write_report(
        "dask",
        "TensorInitGD on a local dask cluster (relu, d = 100, k = 10, noise-free)",
        [markdown("One fit per row; one pass = median of 3 forward passes", rows)],
        timing="single runs; one pass is a median of 3",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
