"""Patch layouts: which input features each patch of a convolutional model reads.

A layout is an integer array ``patch_indices`` of shape ``(n_patches, patch_size)``:
``X[:, patch_indices]`` gathers the patches of every row, and patch ``l`` of a row
``x`` is ``x[patch_indices[l]]``. Inputs are flattened in C order, channels last:
feature ``(i, j, c)`` of an ``(H, W, C)`` image is ``(i W + j) C + c``, and the
entries of a patch run over its rows, then its columns, then the channels.

The number of spatial dimensions is the length of ``patch_size`` (an int means one):
``input_shape`` is those dimensions, optionally followed by a number of channels.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np

__all__ = [
    "check_patch_indices",
    "is_tiling",
    "make_patch_indices",
    "patch_layout",
    "tiling_patch_indices",
]


def make_patch_indices(n_features, patch_size, *, input_shape=None, stride=None):
    """Feature indices of the patches of a 1-D or 2-D (multichannel) input.

    Parameters
    ----------
    n_features : int
        Number of input features, ``prod(input_shape)``.
    patch_size : int or tuple of int
        Spatial size of a patch: ``r`` for 1-D signals, ``(r1, r2)`` for images.
    input_shape : tuple of int, default=None
        ``(L,)`` or ``(L, C)`` for 1-D signals, ``(H, W)`` or ``(H, W, C)`` for
        images (channels last). ``None`` means a 1-D signal of length ``n_features``.
    stride : int or tuple of int, default=None
        Step between patches along each spatial dimension (an int applies to all of
        them); ``None`` is the patch size (non-overlapping patches). Padding is
        "valid": a trailing part that no patch reaches is left out, with a warning.

    Returns
    -------
    patch_indices : ndarray of shape (n_patches, patch_length)
        ``patch_length`` is the product of the patch size and the number of
        channels.

    Examples
    --------
    >>> from skrecover.patches import make_patch_indices
    >>> make_patch_indices(6, 3)
    array([[0, 1, 2],
           [3, 4, 5]])
    >>> make_patch_indices(5, 3, stride=1)
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4]])
    >>> make_patch_indices(16, (2, 2), input_shape=(4, 4))[:2]
    array([[0, 1, 4, 5],
           [2, 3, 6, 7]])
    """
    size = _as_tuple(patch_size, "patch_size")
    n_spatial = len(size)
    if n_spatial not in (1, 2):
        raise ValueError(f"patch_size must have 1 or 2 entries, got {patch_size!r}.")
    step = size if stride is None else _as_tuple(stride, "stride")
    if len(step) == 1:
        step = step * n_spatial
    if len(step) != n_spatial:
        raise ValueError(
            f"stride {stride!r} must have as many entries as patch_size {patch_size!r}."
        )
    shape = (
        (n_features,) if input_shape is None else _as_tuple(input_shape, "input_shape")
    )
    if len(shape) not in (n_spatial, n_spatial + 1):
        raise ValueError(
            f"input_shape {shape} does not fit a patch_size with {n_spatial} spatial "
            f"dimension(s): give {n_spatial} spatial sizes, optionally followed by the "
            "number of channels."
        )
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"input_shape {shape} has {int(np.prod(shape))} entries but X has "
            f"{n_features} features."
        )
    spatial, channels = shape[:n_spatial], (shape[n_spatial:] or (1,))[0]
    starts = []
    for length, r, s, axis in zip(spatial, size, step, "HW", strict=False):
        if r > length:
            raise ValueError(
                f"A patch of size {r} does not fit in an input of size {length} along "
                f"axis {axis if n_spatial == 2 else 'L'}."
            )
        count = (length - r) // s + 1
        if (length - r) % s:
            warnings.warn(
                f"Patches of size {r} with stride {s} leave the last "
                f"{(length - r) % s} of {length} positions unread.",
                UserWarning,
                stacklevel=2,
            )
        starts.append(np.arange(count) * s)
    offsets = np.arange(int(np.prod(size)) * channels)
    if n_spatial == 1:
        corner = starts[0] * channels
        within = offsets
    else:
        width = spatial[1]
        corner = (starts[0][:, None] * width + starts[1][None, :]).ravel() * channels
        u, v, c = np.unravel_index(offsets, size + (channels,))
        within = (u * width + v) * channels + c
    return (corner[:, None] + within[None, :]).astype(np.intp)


def check_patch_indices(patch_indices, n_features):
    """Validate an explicit patch layout.

    Parameters
    ----------
    patch_indices : array-like of shape (n_patches, patch_length)
        Integer feature indices; patches may overlap each other but no patch may
        read a feature twice.
    n_features : int
        Number of input features.

    Returns
    -------
    patch_indices : ndarray of shape (n_patches, patch_length), dtype intp

    Examples
    --------
    >>> from skrecover.patches import check_patch_indices
    >>> check_patch_indices([[0, 1], [1, 2]], 3)
    array([[0, 1],
           [1, 2]])
    """
    indices = np.asarray(patch_indices)
    if indices.ndim != 2 or indices.shape[0] < 1 or indices.shape[1] < 1:
        raise ValueError(
            "patch_indices must be a 2-D array of shape (n_patches, patch_length), got "
            f"shape {indices.shape}."
        )
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"patch_indices must be integers, got dtype {indices.dtype}.")
    if indices.min() < 0 or indices.max() >= n_features:
        raise ValueError(
            f"patch_indices must lie in [0, {n_features}): X has {n_features} "
            f"features, got indices from {indices.min()} to {indices.max()}."
        )
    ordered = np.sort(indices, axis=1)
    if np.any(ordered[:, 1:] == ordered[:, :-1]):
        raise ValueError("A patch reads the same feature twice in patch_indices.")
    return indices.astype(np.intp)


def is_tiling(patch_indices, n_features):
    """Whether the patches are disjoint and together read every feature once.

    Examples
    --------
    >>> from skrecover.patches import is_tiling, make_patch_indices
    >>> is_tiling(make_patch_indices(6, 3), 6)
    True
    >>> is_tiling(make_patch_indices(6, 2, stride=1), 6)
    False
    """
    indices = np.asarray(patch_indices).ravel()
    return indices.size == n_features and np.array_equal(
        np.sort(indices), np.arange(n_features)
    )


def _as_tuple(value, name):
    values = (value,) if isinstance(value, Integral) else tuple(value)
    if not values or not all(isinstance(v, Integral) and v >= 1 for v in values):
        raise ValueError(f"{name} must be positive integers, got {value!r}.")
    return tuple(int(v) for v in values)


def patch_layout(
    n_features, patch_size=None, *, input_shape=None, stride=None, patch_indices=None
):
    """The patches an estimator's layout parameters describe, and a patch's shape.

    Either explicit ``patch_indices``, or ``patch_size`` (with ``input_shape`` and
    ``stride``, see :func:`make_patch_indices`), or neither: one patch of all the
    features.

    Returns
    -------
    patch_indices : ndarray of shape (n_patches, patch_length)
    patch_shape : tuple of int
        The shape of one patch: ``(r,)``, or the spatial size followed by the
        channels, e.g. ``(r1, r2, C)`` (``(patch_length,)`` for explicit indices).

    Examples
    --------
    >>> from skrecover.patches import patch_layout
    >>> indices, shape = patch_layout(48, (2, 2), input_shape=(4, 4, 3))
    >>> indices.shape, shape
    ((4, 12), (2, 2, 3))
    """
    if patch_indices is not None:
        if patch_size is not None or input_shape is not None:
            raise ValueError(
                "Give either patch_indices or patch_size (with input_shape and "
                "stride), not both."
            )
        indices = check_patch_indices(patch_indices, n_features)
        return indices, (indices.shape[1],)
    if patch_size is None:
        if input_shape is not None or stride is not None:
            raise ValueError("input_shape and stride need a patch_size.")
        return np.arange(n_features)[np.newaxis, :], (n_features,)
    indices = make_patch_indices(
        n_features, patch_size, input_shape=input_shape, stride=stride
    )
    size = _as_tuple(patch_size, "patch_size")
    shape = (n_features,) if input_shape is None else tuple(input_shape)
    return indices, size + tuple(shape[len(size) :])


def tiling_patch_indices(n_features, patch_size, *, input_shape=None):
    """Disjoint patches reading every feature once (None without ``patch_size``).

    The layout of the non-overlapping convolutional networks; a ValueError says why
    ``patch_size`` and ``input_shape`` do not tile the input.

    Examples
    --------
    >>> from skrecover.patches import tiling_patch_indices
    >>> tiling_patch_indices(6, 3)
    array([[0, 1, 2],
           [3, 4, 5]])
    """
    if patch_size is None:
        if input_shape is not None:
            raise ValueError("input_shape is only used together with patch_size.")
        return None
    indices = make_patch_indices(n_features, patch_size, input_shape=input_shape)
    if not is_tiling(indices, n_features):
        raise ValueError(
            f"Patches of size {patch_size} do not tile an input of shape "
            f"{input_shape or (n_features,)} exactly: the non-overlapping "
            "convolutional model needs every feature in exactly one patch."
        )
    return indices
