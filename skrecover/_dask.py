"""The dask backend of the data-pass engine: passes run where the blocks are.

Imported by :func:`._engine.backend_of` the first time it meets a dask array, so
that dask stays an optional dependency. Each pass is a graph of tasks built from
the row chunks of the arrays (aligned on the chunks of the first one):

* ``reduce``: the pass function on every chunk (split into cache-sized blocks by
  the numpy backend on the worker), then the partial results summed pairwise in a
  tree on the workers; only the total (a few arrays of size ``O(d^2)`` at most)
  comes back to the client;
* ``map``: the pass function on every chunk, as a lazy dask array;
* ``scan``: the state threaded through the steps in row order, each step a task
  that gathers its rows from the chunks that hold them (on the workers): the
  state travels, the rows do not come to the client.

Which scheduler runs the graphs is dask's choice: the ``distributed`` client in
use, else dask's default. A task lost with its worker is recomputed elsewhere by
the scheduler; a pass that cannot complete raises, so a fit never goes on with
a partial sum.
"""

# SPDX-License-Identifier: BSD-3-Clause

import dask
import dask.array as da
import numpy as np

from ._engine import _BACKENDS, NumpyBackend, add_partial, block_rows

_LOCAL = NumpyBackend()


def _reduce_chunk(function, width, threads, *chunks):
    return _LOCAL.reduce(function, chunks, width, threads)


def _map_chunk(function, width, threads, *chunks):
    return _LOCAL.map(function, chunks, width, threads)


def _chunk_bounds(array):
    return np.concatenate([[0], np.cumsum(array.chunks[0])]).astype(np.int64)


def _aligned(arrays):
    """The arrays as dask arrays chunked along rows like the first one, with one
    chunk across the other axes; ``None`` stays ``None``."""
    first = arrays[0]
    if any(np.isnan(size) for size in first.chunks[0]):
        raise ValueError(
            "The dask array has unknown chunk sizes; call X.compute_chunk_sizes() "
            "(or build it with known chunks) before fitting."
        )
    rows = first.chunks[0]
    aligned = []
    for array in arrays:
        if array is None:
            aligned.append(None)
            continue
        if not isinstance(array, da.Array):
            array = da.from_array(
                np.asarray(array), chunks=(rows,) + np.shape(array)[1:]
            )
        whole = dict.fromkeys(range(1, array.ndim), -1)
        if array.chunks[0] != rows or any(len(c) > 1 for c in array.chunks[1:]):
            array = array.rechunk({0: rows, **whole})
        aligned.append(array)
    return aligned


def _chunks(arrays):
    """Per row chunk, the tuple of the arrays' blocks (delayed) or ``None``."""
    columns = []
    for array in _aligned(arrays):
        if array is None:
            columns.append(None)
        else:
            columns.append(array.to_delayed().reshape(len(array.chunks[0]), -1)[:, 0])
    n_chunks = len(arrays[0].chunks[0])
    return [
        tuple(None if c is None else c[i] for c in columns) for i in range(n_chunks)
    ]


def _tree_sum(parts):
    while len(parts) > 1:
        paired = [
            dask.delayed(add_partial, pure=False)(parts[i], parts[i + 1])
            for i in range(0, len(parts) - 1, 2)
        ]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def _output_meta(function, arrays):
    """Shape after the rows and dtype of ``function``'s per-row output, from one
    row of zeros (no data is read)."""
    rows = [
        None if a is None else np.zeros((1, *a.shape[1:]), dtype=a.dtype)
        for a in arrays
    ]
    with np.errstate(all="ignore"):
        sample = np.asarray(function(*rows))
    return sample.shape[1:], sample.dtype


def _gather_step(step_rows, bounds, *blocks_of_arrays):
    """The rows ``step_rows`` (global indices, in order) of each array, from the
    chunks ``blocks_of_arrays`` (per array: the list of the chunks touched)."""
    chunk = np.searchsorted(bounds, step_rows, side="right") - 1
    touched = np.unique(chunk)
    offsets = np.concatenate([[0], np.cumsum(bounds[touched + 1] - bounds[touched])])
    local = offsets[np.searchsorted(touched, chunk)] + step_rows - bounds[chunk]
    return [
        None if blocks is None else np.concatenate(blocks)[local]
        for blocks in blocks_of_arrays
    ]


def _scan_step(function, state, step_rows, bounds, *blocks_of_arrays):
    return function(state, *_gather_step(step_rows, bounds, *blocks_of_arrays))


class DaskBackend:
    """Blocks of dask arrays, on the workers that hold them."""

    def reduce(self, function, arrays, width, threads=False):
        parts = [
            dask.delayed(_reduce_chunk, pure=False)(function, width, threads, *chunk)
            for chunk in _chunks(arrays)
        ]
        return dask.compute(_tree_sum(parts))[0]

    def map(self, function, arrays, width, threads=False):
        trailing, dtype = _output_meta(function, arrays)
        sizes = arrays[0].chunks[0]
        pieces = [
            da.from_delayed(
                dask.delayed(_map_chunk, pure=False)(function, width, threads, *chunk),
                shape=(size, *trailing),
                dtype=dtype,
            )
            for chunk, size in zip(_chunks(arrays), sizes, strict=True)
        ]
        return da.concatenate(pieces, axis=0)

    def scan(self, function, state, arrays, order, width, multiple):
        n_samples = arrays[0].shape[0]
        order = np.arange(n_samples) if order is None else np.asarray(order)
        bounds = _chunk_bounds(arrays[0])
        chunks = _chunks(arrays)
        step = max(multiple, block_rows(width) // multiple * multiple)
        state = dask.delayed(state)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            touched = np.unique(np.searchsorted(bounds, rows, side="right") - 1)
            blocks = [
                None if chunks[0][a] is None else [chunks[c][a] for c in touched]
                for a in range(len(arrays))
            ]
            state = dask.delayed(_scan_step, pure=False)(
                function, state, rows, bounds, *blocks
            )
        return dask.compute(state)[0]


_BACKENDS[da.Array] = DaskBackend()


def _rows_of(X):
    """``X`` with known row chunks and one chunk across the columns."""
    return _aligned([X])[0]


def _float_dtype(array, dtypes, name):
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got a dask array of {array.dtype}.")
    return array if array.dtype in dtypes else array.astype(dtypes[0])


def validate_inputs(estimator, X, *, reset, dtypes):
    """A dask ``X`` checked as ``validate_data`` checks an in-memory one, lazily:
    2-D, numeric (cast to the first of ``dtypes`` unless one of them), the number
    of features of the fit. Finiteness is checked by :func:`check_finite`."""
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    if not isinstance(X, da.Array):
        raise TypeError(
            f"X is a {type(X).__name__} from dask; pass a dask array "
            "(for a dask DataFrame: X.to_dask_array(lengths=True))."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array of shape {X.shape}."
        )
    X = _rows_of(_float_dtype(X, [np.dtype(t) for t in dtypes], "X"))
    _check_feature_names(estimator, X, reset=reset)
    _check_n_features(estimator, X, reset=reset)
    return X


def validate_targets(y, X, *, numeric):
    """A dask (or in-memory) ``y``, lazily, with the row chunks of ``X``."""
    if not isinstance(y, da.Array):
        y = da.from_array(np.asarray(y), chunks=(X.chunks[0],) + np.shape(y)[1:])
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y of shape {y.shape} does not match X of shape {X.shape}: one target "
            "(or one row of targets) per row of X is needed."
        )
    if numeric:
        y = _float_dtype(y, [np.dtype(np.float64)], "y")
    return _aligned([X, y])[1]


def validate_weights(sample_weight, X):
    """Float64 weights with the row chunks of ``X`` (ones when None)."""
    if sample_weight is None:
        return da.ones(X.shape[0], chunks=X.chunks[0], dtype=np.float64)
    weights = validate_targets(sample_weight, X, numeric=True)
    if weights.ndim != 1:
        raise ValueError(f"sample_weight must be 1D; got shape {weights.shape}.")
    return weights


def check_finite(X, y, sample_weight, *, n_min=2):
    """One pass: no NaN or infinity in ``X`` or ``y``, no negative weight, and at
    least ``n_min`` rows."""
    if X.shape[0] < n_min:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
            f"minimum of {n_min} is required."
        )
    checks = [da.isfinite(X).all(), da.isfinite(sample_weight).all()]
    checks.append((sample_weight >= 0).all())
    if y.dtype.kind == "f":
        checks.append(da.isfinite(y).all())
    finite_x, finite_w, positive, *finite_y = dask.compute(*checks)
    for ok, message in [
        (finite_x, "Input X contains NaN or infinity."),
        (all(finite_y), "Input y contains NaN or infinity."),
        (finite_w, "sample_weight contains NaN or infinity."),
        (positive, "Negative values in data passed to sample_weight."),
    ]:
        if not ok:
            raise ValueError(message)


def encode_classes(y):
    """The sorted class labels of a dask ``y`` and its codes (lazy)."""
    classes = np.unique(da.unique(y).compute())
    codes = y.map_blocks(lambda block: np.searchsorted(classes, block), dtype=np.intp)
    return classes, codes


def largest_magnitude(array):
    """``max |a|`` of a dask array, in one pass."""
    lowest, highest = dask.compute(array.min(), array.max())
    return max(abs(float(lowest)), abs(float(highest)))


def take_labels(classes, codes):
    """``classes[codes]`` for lazy integer ``codes``."""
    return codes.map_blocks(lambda block: classes[block], dtype=classes.dtype)


def weighted_lstsq(features, targets, sample_weight, *, intercept, rcond):
    """Weighted least-squares coefficients of lazy ``features`` (a column of ones
    appended when ``intercept``) by a tall-skinny QR on the workers: only the
    triangular factor and ``Q^T y`` come to the client."""
    rows = features.chunks[0]
    if intercept:
        ones = da.ones((features.shape[0], 1), chunks=(rows, 1))
        features = da.concatenate([features, ones], axis=1).rechunk({1: -1})
    root = da.sqrt(sample_weight)
    targets = _aligned([features, da.asarray(targets).astype(np.float64)])[1]
    q, r = da.linalg.tsqr(features * root[:, np.newaxis])
    r, projected = dask.compute(r, q.T @ (targets * root))
    return np.linalg.lstsq(r, projected, rcond=rcond)[0]
