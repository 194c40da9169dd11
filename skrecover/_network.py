"""The one-hidden-layer network family: one forward pass and one gradient.

Every model in skrecover is an instance of

.. math::

    f(x)_o = b_o + \\sum_{l=1}^{r} \\sum_{j=1}^{k} V_{o l j} \\, \\phi(w_j^T x_l),

with ``x_l`` the ``r`` patches of ``x`` (one patch, ``x`` itself, for a fully
connected network). Output weights are either shared by the patches,
``V_{olj} = V_{oj}`` (sum pooling: the fully connected networks, the non-overlapping
CNNs with several kernels), or given per patch (Convotron: one kernel,
``V_{0l0} = a_l``).

The teacher generators of :mod:`skrecover.datasets` and every estimator call the
functions here. Rows are processed in chunks, so gathering overlapping patches never
copies more than one chunk of ``X``.
"""

# SPDX-License-Identifier: BSD-3-Clause

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Gathered patches of one chunk hold at most this many floats (4 MB in float64):
# small enough to stay in cache between the forward and the backward product.
_CHUNK_FLOATS = 2**19
# Probabilities are clipped into [eps, 1 - eps] in the cross-entropy.
_PROBABILITY_EPS = 1e-15


class NetworkParams(NamedTuple):
    """The parameters of a one-hidden-layer network.

    Attributes
    ----------
    hidden_weights : ndarray of shape (n_hidden, n_inputs_per_unit)
        Rows are the hidden units ``w_j`` (kernels for convolutional models).
    output_weights : ndarray of shape (n_outputs, n_hidden) or \
            (n_outputs, n_patches, n_hidden)
        Output weights shared by all patches, or one per patch.
    intercept : ndarray of shape (n_outputs,)
        Output bias.
    """

    hidden_weights: np.ndarray
    output_weights: np.ndarray
    intercept: np.ndarray


def chunk_rows(n_features_per_row, n_samples=None):
    """Number of rows per chunk so that one chunk of gathered patches stays small."""
    rows = max(256, _CHUNK_FLOATS // max(int(n_features_per_row), 1))
    return rows if n_samples is None else min(rows, max(n_samples, 1))


def gather_patches(X, patch_indices):
    """Patches of the rows of ``X`` as an array of shape (n, n_patches, patch_size).

    A fully connected network (``patch_indices=None``), a layout that tiles the
    features in order, and strided windows of a 1-D signal are views of ``X``;
    other layouts are gathered (a copy), which is why callers pass chunks of rows.
    """
    n_samples = X.shape[0]
    if patch_indices is None:
        return X[:, np.newaxis, :]
    n_patches, patch_size = patch_indices.shape
    if patch_indices.size == X.shape[1] and np.array_equal(
        patch_indices.ravel(), np.arange(X.shape[1])
    ):
        return X.reshape(n_samples, n_patches, patch_size)
    stride = _window_stride(patch_indices)
    if stride is not None:
        windows = sliding_window_view(X, patch_size, axis=1)
        return windows[:, : stride * (n_patches - 1) + 1 : stride, :]
    # np.take, unlike X[:, patch_indices], returns C-contiguous patches.
    return np.take(X, patch_indices, axis=1)


def _window_stride(patch_indices):
    """The stride if the patches are 1-D windows ``l s + arange(r)``, else None."""
    n_patches, patch_size = patch_indices.shape
    stride = int(patch_indices[1, 0] - patch_indices[0, 0]) if n_patches > 1 else 1
    if stride < 1:
        return None
    expected = (
        stride * np.arange(n_patches)[:, np.newaxis]
        + np.arange(patch_size)[np.newaxis, :]
    )
    return stride if np.array_equal(patch_indices, expected) else None


def _pre_activations(patches, hidden_weights):
    n_samples, n_patches, patch_size = patches.shape
    weights = hidden_weights.astype(patches.dtype, copy=False)
    if n_patches == 1:
        return (patches[:, 0, :] @ weights.T)[:, np.newaxis, :]
    if not patches.flags.c_contiguous:  # a strided view: no copy
        return patches @ weights.T
    flat = patches.reshape(n_samples * n_patches, patch_size) @ weights.T
    return flat.reshape(n_samples, n_patches, -1)


def _pool(hidden, output_weights):
    """Apply the output layer to hidden activations of shape (n, n_patches, k)."""
    weights = output_weights.astype(hidden.dtype, copy=False)
    if weights.ndim == 2:
        return hidden.sum(axis=1) @ weights.T
    n_samples = hidden.shape[0]
    return hidden.reshape(n_samples, -1) @ weights.reshape(weights.shape[0], -1).T


def forward(X, params, activation, *, patch_indices=None):
    """Network output for the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs; float32 inputs give float32 outputs.
    params : NetworkParams
        Network parameters.
    activation : Activation
        Hidden activation.
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
        Feature indices read by each patch; ``None`` for a fully connected network.

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
    """
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    n_samples = X.shape[0]
    n_outputs = params.output_weights.shape[0]
    output = np.empty((n_samples, n_outputs), dtype=dtype)
    step = chunk_rows(_gathered_width(X, patch_indices), n_samples)
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        patches = gather_patches(X[rows], patch_indices)
        hidden = activation(_pre_activations(patches, params.hidden_weights))
        output[rows] = _pool(hidden, params.output_weights)
    output += params.intercept.astype(dtype, copy=False)
    return output


def hidden_features(X, hidden_weights, activation, *, patch_indices=None):
    """Hidden activations summed over patches, shape (n_samples, n_hidden).

    The features on which the output layer is linear (for shared output weights).
    """
    n_samples = X.shape[0]
    features = np.empty((n_samples, hidden_weights.shape[0]), dtype=np.float64)
    step = chunk_rows(_gathered_width(X, patch_indices), n_samples)
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        patches = gather_patches(X[rows], patch_indices)
        features[rows] = activation(_pre_activations(patches, hidden_weights)).sum(1)
    return features


def squared_loss(output, y):
    """Per-sample loss ``(1/2) ||output - y||^2`` and its derivative in ``output``."""
    residual = output - y
    return 0.5 * np.einsum("ij,ij->i", residual, residual), residual


def cross_entropy_loss(output, y):
    """Per-sample binary cross-entropy of probabilities ``output`` against labels.

    Probabilities are clipped into ``[1e-15, 1 - 1e-15]``; the derivative is taken in
    the probability.
    """
    p = np.clip(output, _PROBABILITY_EPS, 1 - _PROBABILITY_EPS)
    loss = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return loss.sum(axis=1), (p - y) / (p * (1 - p))


LOSSES = {"squared": squared_loss, "cross_entropy": cross_entropy_loss}


def loss_gradient(
    X,
    y,
    sample_weight,
    params,
    activation,
    *,
    loss="squared",
    patch_indices=None,
    monitor_weights=(),
):
    """Weighted mean loss of the network and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights; the loss is ``sum_i s_i loss_i / sum_i s_i``.
    params : NetworkParams
    activation : Activation
    loss : {"squared", "cross_entropy"}, default="squared"
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
    monitor_weights : sequence of ndarray of shape (n_samples,), default=()
        Further weightings (e.g. a validation mask) whose weighted mean loss is
        reported too, at no extra pass; they do not enter the gradient.

    Returns
    -------
    loss : float
        Weighted mean loss.
    gradient : NetworkParams
        Gradient with respect to each parameter.
    monitored : list of float
        Weighted mean loss under each of ``monitor_weights``.
    """
    loss_function = LOSSES[loss]
    hidden_weights, output_weights, _ = params
    n_samples = X.shape[0]
    total_weight = float(sample_weight.sum())
    grad_hidden = np.zeros(hidden_weights.shape)
    grad_output = np.zeros(output_weights.shape)
    grad_intercept = np.zeros(params.intercept.shape)
    loss_sum = 0.0
    monitored = np.zeros(len(monitor_weights))
    pooled_weights = output_weights.reshape(output_weights.shape[0], -1)
    step = chunk_rows(_gathered_width(X, patch_indices), n_samples)
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        patches = gather_patches(X[rows], patch_indices)
        pre = _pre_activations(patches, hidden_weights)
        hidden, slope = activation.value_and_derivative(pre)
        output = _pool(hidden, output_weights) + params.intercept
        losses, d_output = loss_function(output, y[rows])
        weights = sample_weight[rows]
        loss_sum += losses @ weights
        for m, monitor in enumerate(monitor_weights):
            monitored[m] += losses @ monitor[rows]
        d_output *= weights[:, np.newaxis]
        n_chunk, n_patches, n_hidden = hidden.shape
        if output_weights.ndim == 2:
            d_hidden = (d_output @ output_weights)[:, np.newaxis, :]
            grad_output += d_output.T @ hidden.sum(axis=1)
        else:
            d_hidden = (d_output @ pooled_weights).reshape(n_chunk, n_patches, -1)
            grad_output += (d_output.T @ hidden.reshape(n_chunk, -1)).reshape(
                output_weights.shape
            )
        d_pre = (d_hidden * slope).astype(patches.dtype, copy=False)
        grad_hidden += d_pre.reshape(-1, n_hidden).T @ patches.reshape(
            n_chunk * n_patches, -1
        )
        grad_intercept += d_output.sum(axis=0)
    gradient = NetworkParams(
        grad_hidden / total_weight,
        grad_output / total_weight,
        grad_intercept / total_weight,
    )
    monitored_means = [
        float(monitored[m] / max(float(w.sum()), np.finfo(float).tiny))
        for m, w in enumerate(monitor_weights)
    ]
    return float(loss_sum / total_weight), gradient, monitored_means


def _gathered_width(X, patch_indices):
    return X.shape[1] if patch_indices is None else patch_indices.size


def canonicalize(params, activation, *, scale_to="output", shift_intercept=True):
    """Canonical representative of a network's symmetry class.

    Networks related by a permutation of the hidden units, by a positive rescaling
    ``(w_j, v_j) -> (c w_j, v_j / c**q)`` (activations homogeneous of degree ``q``),
    or by a flip ``(w_j, v_j) -> (-w_j, -v_j)`` (odd activations, which shifts the
    intercept by ``v_j phi_offset``) compute the same function. The representative:

    * homogeneous activations: ``scale_to="output"`` makes every output-weight column
      a unit vector (``v_j = +-1`` for one output) and moves the scale into ``w_j``;
      ``scale_to="hidden"`` makes every ``w_j`` a unit vector instead;
    * odd activations with one output: ``v_j >= 0`` (unless the flip would shift a
      fixed intercept: ``shift_intercept=False`` and ``phi(0) != 0``);
    * even activations: the largest entry of ``w_j`` in magnitude is positive;
    * units sorted by decreasing ``||w_j|| * ||v_j||``.

    Only shared (2-D) output weights are canonicalized; per-patch output weights are
    returned unchanged.

    Parameters
    ----------
    params : NetworkParams
    activation : Activation
    scale_to : {"output", "hidden"}, default="output"
    shift_intercept : bool, default=True
        Whether the intercept may absorb the shift of a flip.

    Returns
    -------
    params : NetworkParams
        New arrays; the input is not modified.
    """
    hidden = np.array(params.hidden_weights, dtype=float)
    output = np.array(params.output_weights, dtype=float)
    intercept = np.array(params.intercept, dtype=float)
    if output.ndim != 2:
        return NetworkParams(hidden, output, intercept)
    degree = activation.degree
    if degree:
        # (w_j, v_j) -> (t_j w_j, v_j / t_j**q) leaves the network unchanged.
        if scale_to == "output":
            norms = np.linalg.norm(output, axis=0)
            t = np.where(norms > 0, norms, 1.0) ** (1.0 / degree)
        else:
            norms = np.linalg.norm(hidden, axis=1)
            t = 1.0 / np.where(norms > 0, norms, 1.0)
        hidden *= t[:, np.newaxis]
        output /= t**degree
    symmetry = activation.symmetry
    offset = activation.flip_offset if symmetry == "odd" else 0.0
    if symmetry == "odd" and output.shape[0] == 1 and (shift_intercept or offset == 0):
        flip = output[0] < 0
        intercept += offset * output[0, flip].sum()
        output[:, flip] *= -1
        hidden[flip] *= -1
    elif symmetry == "even":
        largest = hidden[np.arange(len(hidden)), np.abs(hidden).argmax(axis=1)]
        hidden[largest < 0] *= -1
    importance = np.linalg.norm(hidden, axis=1) * np.linalg.norm(output, axis=0)
    order = np.argsort(-importance, kind="stable")
    return NetworkParams(hidden[order], output[:, order], intercept)
