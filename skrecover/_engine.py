"""The one data-pass engine: every pass over the rows of ``X`` goes through here.

A pass is a function of a block of rows. :func:`reduce_rows` sums the partial
results of the blocks (moments, losses and gradients, drift matrices),
:func:`map_rows` stacks per-row results (predictions, hidden features) and
:func:`scan_rows` threads a state through the blocks in order (the stochastic
updates of online algorithms). Arrays passed together are split at the same rows;
``None`` passes through as ``None``.

The block size keeps the largest temporary of a block near 8 MB in float64
(``width`` floats per row): large enough that the few dozen numpy calls of a block
cost little against its products (measured: 15% of a tanh fit at 4 MB), small enough
that never more than a block of ``X`` is copied.

The backend is chosen from the type of the first array. The numpy backend below
runs the blocks one after the other or, for passes that ask for it (``threads``:
those whose blocks are mostly matrix products), on as many threads as BLAS would
use, each block's products then on one BLAS thread, so that the numpy calls
around the products run in parallel too; either way the partial results are
combined in row order. A backend for arrays whose blocks live on other machines
(dask) registers itself in ``_BACKENDS`` and runs the same block functions where
the blocks are, reducing the partial sums in a tree.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

# Floats in the largest temporary of one block (8 MB in float64).
_BLOCK_FLOATS = 2**20
_MIN_BLOCK_ROWS = 256


def block_rows(width, n_samples=None):
    """Rows per block when each row makes ``width`` floats of temporaries."""
    rows = max(_MIN_BLOCK_ROWS, _BLOCK_FLOATS // max(int(width), 1))
    return rows if n_samples is None else min(rows, max(int(n_samples), 1))


def add_partial(total, part):
    """Sum two partial results: numbers, arrays, or tuples, lists and dicts of them."""
    if total is None:
        return part
    if isinstance(part, dict):
        return {key: add_partial(total[key], value) for key, value in part.items()}
    if isinstance(part, (tuple, list)):
        parts = [add_partial(t, p) for t, p in zip(total, part, strict=True)]
        return type(part)(*parts) if hasattr(part, "_fields") else type(part)(parts)
    if part is None:
        return None
    return total + part


class Largest:
    """A partial result that :func:`add_partial` (its ``+``) reduces by taking the
    larger (NaN if either is NaN): maxima through :func:`reduce_rows`."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __add__(self, other):
        return Largest(np.maximum(self.value, other.value))


def _take(array, rows):
    return None if array is None else array[rows]


class _BlockThreads:
    """The threads that run the blocks of a pass: as many as BLAS would use (none
    when it is limited to one thread, as in the workers of joblib or within
    ``threadpool_limits``), each block's products then on one BLAS thread. Only
    passes from the main thread use them: a fit running in a thread of its own
    leaves the process's BLAS settings alone."""

    def __init__(self):
        self._blas = None
        self._pool = None
        self._owner = None

    def count(self, n_blocks):
        if n_blocks < 2 or threading.current_thread() is not threading.main_thread():
            return 1
        if self._blas is None:
            self._blas = ThreadpoolController().select(user_api="blas")
        threads = [lib.num_threads for lib in self._blas.lib_controllers]
        return min(max(threads, default=1), n_blocks)

    def results(self, call, items, n_threads):
        """``call(item)`` for every item, in order, ``n_threads`` at a time (and
        as many waiting)."""
        # A forked child inherits the pool but not its threads: it makes its own.
        if self._owner != (os.getpid(), n_threads):
            if self._owner is not None and self._owner[0] == os.getpid():
                self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(n_threads, "skrecover-pass")
            self._owner = (os.getpid(), n_threads)
        pending = deque()
        with self._blas.limit(limits=1):
            for item in items:
                pending.append(self._pool.submit(call, item))
                if len(pending) >= 2 * n_threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


_THREADS = _BlockThreads()


class NumpyBackend:
    """Blocks of in-memory arrays: one after the other, or on the threads BLAS
    would use for the passes that ask for them."""

    @staticmethod
    def blocks(n_samples, width):
        step = block_rows(width)
        for start in range(0, n_samples, step):
            yield slice(start, min(start + step, n_samples))

    def _results(self, function, arrays, width, threads):
        """``(rows, function(*blocks))`` for every block, in row order."""
        blocks = list(self.blocks(len(arrays[0]), width))

        def call(rows):
            return rows, function(*(_take(a, rows) for a in arrays))

        n_threads = _THREADS.count(len(blocks)) if threads else 1
        if n_threads == 1:
            return map(call, blocks)
        return _THREADS.results(call, blocks, n_threads)

    def reduce(self, function, arrays, width, threads=False):
        total = None
        for _, part in self._results(function, arrays, width, threads):
            total = add_partial(total, part)
        return total

    def map(self, function, arrays, width, threads=False):
        output = None
        for rows, part in self._results(function, arrays, width, threads):
            part = np.asarray(part)
            if output is None:
                output = np.empty((len(arrays[0]), *part.shape[1:]), part.dtype)
            output[rows] = part
        return output

    def scan(self, function, state, arrays, order, width, multiple):
        if order is None:
            order = np.arange(len(arrays[0]))
        step = max(multiple, block_rows(width) // multiple * multiple)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            state = function(state, *(_take(a, rows) for a in arrays))
        return state


_BACKENDS = {np.ndarray: NumpyBackend()}


def is_dask(array):
    """Whether ``array`` is a dask array (without importing dask)."""
    return type(array).__module__.startswith("dask.")


def backend_of(array):
    """The backend that runs passes over ``array`` (numpy for anything array-like)."""
    if is_dask(array):
        from . import _dask  # noqa: F401  (registers the dask backend)
    for kind, backend in _BACKENDS.items():
        if kind is not np.ndarray and isinstance(array, kind):
            return backend
    return _BACKENDS[np.ndarray]


def as_rows(array, dtype=None):
    """``np.asarray(array, dtype)``, but a dask array stays where it is (lazy)."""
    if is_dask(array):
        return array if dtype is None else array.astype(dtype)
    return np.asarray(array, dtype=dtype)


def persist_rows(*arrays):
    """The arrays, with those on a cluster computed and kept there (per-row
    vectors that many passes read: targets and weights)."""
    if not any(is_dask(a) for a in arrays):
        return arrays
    import dask

    return dask.persist(*arrays)


def take_rows(array, rows):
    """``array[rows]`` in memory, wherever ``array`` is (a bounded subsample)."""
    if array is None:
        return None
    taken = array[rows]
    return taken.compute() if is_dask(taken) else taken


class RowSubset:
    """The rows ``rows`` of an in-memory array, gathered block by block as a pass
    reads them: a random subsample of ``X`` without its copy.

    Indexing it with a slice or with row indices gathers those rows (a copy of
    what is asked for, never of the whole subset); everything else reads it
    through the engine like an array of shape ``(len(rows), *X.shape[1:])``.
    """

    def __init__(self, array, rows):
        self.array = array
        self.rows = np.asarray(rows)

    @property
    def shape(self):
        return (len(self.rows), *self.array.shape[1:])

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.array[self.rows[index]]


# Subsets of at most this fraction of an in-memory array's rows are copied (passes
# read a contiguous copy faster); larger ones are gathered block by block.
_COPY_FRACTION = 1 / 8


def subset_rows(array, rows):
    """The rows ``rows`` (sorted indices) of ``array``, for many passes: a copy
    when they are few (or ``array`` is lazy), else a :class:`RowSubset`."""
    if array is None:
        return None
    if is_dask(array) or len(rows) <= _COPY_FRACTION * len(array) or array.ndim < 2:
        return array[rows]
    return RowSubset(array, rows)


def random_rows(random_state, n_samples, size):
    """A uniformly random subset of ``size`` of ``n_samples`` rows, as sorted
    indices: about ``size`` random integers (for more than half of the rows, the
    rows left out), where ``RandomState.choice`` without replacement permutes all
    the rows (20-40 ms at a million)."""
    if 2 * size > n_samples:
        left_out = np.zeros(n_samples, dtype=bool)
        left_out[random_rows(random_state, n_samples, n_samples - size)] = True
        return np.flatnonzero(~left_out)
    chosen = np.zeros(n_samples, dtype=bool)
    missing = size
    # Duplicates are drawn again: the subset is symmetric in the rows, so uniform.
    while missing:
        chosen[random_state.randint(n_samples, size=missing)] = True
        missing = size - np.count_nonzero(chosen)
    return np.flatnonzero(chosen)


def random_prefixes(random_state, n_samples):
    """``first(size)``: the sorted indices of the first ``size`` rows of one
    random order of the rows, nested as ``size`` grows (the rows of the ``size``
    smallest of random keys; no permutation of all the rows)."""
    keys = random_state.random_sample(n_samples)

    def first(size):
        chosen = np.zeros(n_samples, dtype=bool)
        chosen[np.argpartition(keys, size - 1)[:size]] = True
        return np.flatnonzero(chosen)

    return first


def reduce_rows(function, *arrays, width, threads=False):
    """``sum over blocks b of function(*(a[b] for a in arrays))``.

    Parameters
    ----------
    function : callable
        Maps blocks of the arrays (same rows) to a partial result: a number, an
        array, or a tuple, list or dict of them.
    *arrays : ndarray or None
        Arrays aligned on their first axis.
    width : int
        Floats of temporaries per row in ``function``: sets the block size.
    threads : bool, default=False
        Whether the blocks may run on several threads: for passes whose blocks
        are mostly products of d-wide matrices (moments of order 2 and more).
        The numpy calls of lighter blocks wait for each other on several
        threads (measured on 2 cores: a first moment took 1.4-1.8 times as long
        on two threads as on one, and ReLU fits with every pass threaded
        1.15-1.23 times as long).

    Returns
    -------
    total
        The sum of the partial results, with the structure of one of them.
    """
    return backend_of(arrays[0]).reduce(function, arrays, width, threads)


def map_rows(function, *arrays, width, threads=False):
    """The per-row results of ``function`` on every block, stacked in row order
    (``threads`` as in :func:`reduce_rows`)."""
    return backend_of(arrays[0]).map(function, arrays, width, threads)


def scan_rows(function, state, *arrays, order=None, width, multiple=1):
    """``state = function(state, *blocks)`` over the blocks of the rows ``order``.

    For sequential algorithms (stochastic updates): the blocks are visited in the
    given order of rows (all rows in order when ``order`` is None), and hold a
    multiple of ``multiple`` rows (minibatches never straddle two blocks).
    """
    return backend_of(arrays[0]).scan(function, state, arrays, order, width, multiple)
