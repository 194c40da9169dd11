"""Helpers shared by the benchmark scripts: timing, epoch races, tables."""

import datetime
import os
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

RESULTS = Path(__file__).parent / "results"


def timed_fit(make_model, X, y, repeats=3):
    """Median fit time over ``repeats`` fresh models; returns (last model, seconds)."""
    times = []
    for _ in range(repeats):
        model = make_model()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        times.append(time.perf_counter() - start)
    return model, float(np.median(times))


def fit_peak_memory(model, X, y):
    """Peak memory (bytes) numpy allocates during ``model.fit(X, y)`` (tracemalloc)."""
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return peak


def epoch_race(model, X, y, score, targets, budget, classes=None):
    """Train with ``partial_fit`` epoch by epoch until each target score.

    ``score(model)`` is evaluated after every epoch and not timed. Returns the
    training time at which each target was first reached (None if never within
    ``budget`` seconds), the best score, the time it was reached, and the epochs.
    """
    elapsed, best, time_at_best, epochs = 0.0, -np.inf, 0.0, 0
    reached = [None] * len(targets)
    extra = {} if classes is None else {"classes": classes}
    while elapsed < budget and None in reached:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X, y, **extra)
        elapsed += time.perf_counter() - start
        epochs += 1
        value = score(model)
        if value > best:
            best, time_at_best = value, elapsed
        for i, target in enumerate(targets):
            if reached[i] is None and value >= target:
                reached[i] = elapsed
    return reached, best, time_at_best, epochs


def fmt(value):
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_row(row):
    print("  " + ", ".join(f"{k}={fmt(v)}" for k, v in row.items()), flush=True)


def markdown(title, rows):
    if not rows:
        return ""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    lines += ["| " + " | ".join(fmt(r.get(key)) for key in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def machine():
    """The processor (its model name where Linux tells it), cores and BLAS."""
    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    blas = [
        f"{info['internal_api']} {info['version']} ({info.get('architecture')})"
        for info in threadpool_info()
        if info["user_api"] == "blas"
    ]
    return f"{cpu}, {os.cpu_count()} cores, BLAS: {blas[0] if blas else 'unknown'}"


def write_report(
    name,
    title,
    sections,
    timing="skrecover times are medians of repeated fits, baselines single runs",
):
    """Write ``results/<name>.md`` with a header (the machine, and how times were
    taken) and the given markdown sections."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = [
        f"# {title}",
        "",
        f"Machine: {machine()}; Python {platform.python_version()}, run on "
        f"{datetime.date.today()}; one process; {timing}.",
        "",
    ]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(header + list(sections)))
    print(f"written to {path}")
    return path
