"""The one-hidden-layer network family: one forward pass, one gradient, two losses.

Every model in skrecover is an instance of

.. math::

    f(x)_o = c_o + \\sum_{l=1}^{r} \\sum_{j=1}^{k} V_{o l j} \\, \\phi(w_j^T x_l + b_j),

with ``x_l`` the ``r`` patches of ``x`` (one patch, ``x`` itself, for a fully
connected network) and ``b_j`` the hidden biases (zero when a model has none).
Output weights are either shared by the patches, ``V_{olj} = V_{oj}`` (sum
pooling: the fully connected networks, the non-overlapping CNNs with several
kernels), or given per patch (Convotron: one kernel, ``V_{0l0} = a_l``).

Two losses: the squared loss of ``f``, and the cross-entropy of a *mean of
probabilities* ``P_o(x) = f(x)_o`` with fixed non-negative output weights summing
to one and no intercept (the classifier of Fu, Chi and Liang), computed in log
space: ``log P_o = logsumexp_lj(log V_olj + log phi(z_lj))`` and likewise
``log(1 - P_o)`` with ``1 - phi``, so that no probability is ever clipped and the
loss the solver sees is exactly the log-loss of the model that predicts.

The teacher generators of :mod:`skrecover.datasets` and every estimator call the
functions here; each pass over the rows runs on the data-pass engine.
"""

# SPDX-License-Identifier: BSD-3-Clause

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._engine import as_rows, map_rows, reduce_rows

# Weights beyond this magnitude (or below its inverse) are not cast to float32.
_FLOAT32_LARGE = 1e30
# Pre-activations computed in float32 beyond this magnitude are computed again in
# float64: a squared ReLU squares them, and float32 ends at 3.4e38.
_FLOAT32_LARGEST_PRE = 1e15


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
    hidden_biases : ndarray of shape (n_hidden,) or None
        Biases of the hidden units; None for units without.
    """

    hidden_weights: np.ndarray
    output_weights: np.ndarray
    intercept: np.ndarray
    hidden_biases: np.ndarray | None = None


class Network:
    """A one-hidden-layer network with given weights.

    What ``network_`` of a fitted estimator returns, and the base of the teacher
    networks of :mod:`skrecover.datasets`. The metrics and displays read weights
    through it.

    Parameters
    ----------
    hidden_weights : ndarray of shape (n_hidden, n_inputs_per_unit)
        Hidden units ``w_j`` as rows (kernels for convolutional networks).
    output_weights : ndarray of shape (n_hidden,), (n_outputs, n_hidden) or \
            (n_patches,)
        Output weights ``v_j``: one per unit, a matrix for several outputs, or one
        per patch for a single kernel (``output_per_patch=True``).
    activation : Activation
        Hidden activation.
    intercept : float or ndarray of shape (n_outputs,), default=0.0
        Output bias.
    hidden_biases : ndarray of shape (n_hidden,), default=None
        Biases ``b_j`` of the hidden units; None for units without.
    patch_indices : ndarray of shape (n_patches, patch_length), default=None
        Feature indices of the patches of a convolutional network; None for a fully
        connected one.
    output_per_patch : bool, default=False
        The output weights are one per patch, ``f(x) = sum_l a_l phi(w^T x_l)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover import Network
    >>> from skrecover.activations import ReLU
    >>> net = Network(np.eye(2), np.array([1.0, -1.0]), ReLU(), intercept=0.5)
    >>> net.predict(np.array([[2.0, 1.0]]))
    array([1.5])
    """

    def __init__(
        self,
        hidden_weights,
        output_weights,
        activation,
        *,
        intercept=0.0,
        hidden_biases=None,
        patch_indices=None,
        output_per_patch=False,
    ):
        self.hidden_weights = hidden_weights
        self.output_weights = output_weights
        self.activation = activation
        self.intercept = intercept
        self.hidden_biases = hidden_biases
        self.patch_indices = patch_indices
        self.output_per_patch = output_per_patch

    @property
    def n_hidden(self):
        """Number of hidden units (kernels)."""
        return np.shape(self.hidden_weights)[0]

    @property
    def params(self):
        """The weights as a named tuple ``(hidden_weights, output_weights, intercept,
        hidden_biases)`` (output weights 2-D or 3-D)."""
        output = np.asarray(self.output_weights, dtype=float)
        biases = self.hidden_biases
        return NetworkParams(
            np.asarray(self.hidden_weights, dtype=float),
            output.reshape(1, -1, 1)
            if self.output_per_patch
            else np.atleast_2d(output),
            np.atleast_1d(np.asarray(self.intercept, dtype=float)),
            None if biases is None else np.asarray(biases, dtype=float),
        )

    def predict(self, X):
        """Noise-free output of the network.

        Parameters
        ----------
        X : ndarray or dask array of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray or dask array of shape (n_samples,) or (n_samples, n_outputs)
            Two-dimensional when ``output_weights`` is a matrix (several outputs);
            lazy (a dask array) for a dask ``X``.
        """
        output = forward(
            as_rows(X),
            self.params,
            self.activation,
            patch_indices=self.patch_indices,
        )
        return output if np.ndim(self.output_weights) == 2 else output[:, 0]

    def __repr__(self):
        inputs = np.shape(self.hidden_weights)[1]
        shape = (
            f"n_features={inputs}"
            if self.patch_indices is None
            else f"n_patches={len(self.patch_indices)}, patch_length={inputs}"
        )
        return (
            f"{type(self).__name__}(n_hidden={self.n_hidden}, {shape}, "
            f"activation={self.activation!r})"
        )


def gather_patches(X, patch_indices):
    """Patches of the rows of ``X`` as an array of shape (n, n_patches, patch_size).

    A fully connected network (``patch_indices=None``), a layout that tiles the
    features in order, and strided windows of a 1-D signal are views of ``X``;
    other layouts are gathered (a copy), which is why callers pass blocks of rows.
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


def gathered_width(n_features, patch_indices):
    """Floats per row of the gathered patches."""
    return n_features if patch_indices is None else patch_indices.size


def pre_activations(patches, hidden_weights, hidden_biases=None, dtype=None):
    """``w_j^T x_l + b_j`` for patches of shape (n, n_patches, patch_size).

    Computed in ``dtype``, by default that of the patches (float32 inputs stay
    float32) unless the weights lie outside what float32 holds.
    """
    n_samples, n_patches, patch_size = patches.shape
    if dtype is None and patches.dtype == np.float32:
        dtype = np.float32 if _fits_float32(hidden_weights) else np.float64
    patches = patches.astype(dtype or patches.dtype, copy=False)
    weights = hidden_weights.astype(patches.dtype, copy=False)
    if n_patches == 1:
        pre = (patches[:, 0, :] @ weights.T)[:, np.newaxis, :]
    elif not patches.flags.c_contiguous:  # a strided view: no copy
        pre = patches @ weights.T
    else:
        flat = patches.reshape(n_samples * n_patches, patch_size) @ weights.T
        pre = flat.reshape(n_samples, n_patches, -1)
    if hidden_biases is not None:
        pre += hidden_biases.astype(pre.dtype, copy=False)
    return pre


def _fits_float32(weights):
    """Whether float32 holds ``weights`` to its full precision, with headroom."""
    magnitudes = np.abs(weights[weights != 0])
    return not magnitudes.size or (
        magnitudes.max() < _FLOAT32_LARGE and magnitudes.min() > 1 / _FLOAT32_LARGE
    )


def network_pre_activations(patches, params):
    """The hidden layer's pre-activations on a block of patches: in float32 for
    float32 patches while the float32 result stays within ``_FLOAT32_LARGEST_PRE``
    (extreme data, whose weights carry the scale of y, can leave it: the block is
    then computed again in float64), in float64 otherwise. Checking the result
    reads ``n_hidden`` floats per row where bounding it by ``max |x|`` reads
    all the inputs."""
    weights, biases = params.hidden_weights, params.hidden_biases
    if patches.dtype == np.float32 and _fits_float32(weights):
        with np.errstate(over="ignore", invalid="ignore"):
            pre = pre_activations(patches, weights, biases, np.float32)
        # (NaN, from an overflow, fails the comparison too.)
        if not pre.size or max(pre.max(), -pre.min()) < _FLOAT32_LARGEST_PRE:
            return pre
    return pre_activations(patches, weights, biases, np.float64)


def pool(hidden, output_weights):
    """The output layer on hidden activations of shape (n, n_patches, k), in float64."""
    if output_weights.ndim == 2:
        return _summed_over_patches(hidden) @ output_weights.T
    hidden = hidden.astype(np.float64, copy=False)
    n_samples = hidden.shape[0]
    return (
        hidden.reshape(n_samples, -1)
        @ output_weights.reshape(output_weights.shape[0], -1).T
    )


def forward(X, params, activation, *, patch_indices=None):
    """Network output for the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs; with float32 inputs the hidden layer is computed in float32.
    params : NetworkParams
        Network parameters.
    activation : Activation
        Hidden activation.
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
        Feature indices read by each patch; ``None`` for a fully connected network.

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
        In float64: the output layer and the intercept are accumulated in float64,
        so a large output offset costs no accuracy.
    """

    def block(rows):
        patches = gather_patches(rows, patch_indices)
        pre = network_pre_activations(patches, params)
        return pool(activation(pre), params.output_weights) + params.intercept

    return map_rows(block, X, width=_pass_width(X, params, patch_indices))


def hidden_features(
    X, hidden_weights, activation, *, hidden_biases=None, patch_indices=None
):
    """Hidden activations summed over patches, shape (n_samples, n_hidden), float64.

    The features on which the output layer is linear (for shared output weights).
    """

    params = NetworkParams(
        hidden_weights, np.zeros((1, len(hidden_weights))), None, hidden_biases
    )

    def block(rows):
        patches = gather_patches(rows, patch_indices)
        pre = network_pre_activations(patches, params)
        return activation(pre).sum(axis=1, dtype=np.float64)

    return map_rows(block, X, width=_pass_width(X, params, patch_indices))


def _pass_width(X, params, patch_indices):
    """Floats per row of one block's temporaries: patches and hidden activations."""
    n_patches = 1 if patch_indices is None else len(patch_indices)
    n_outputs = params.output_weights.shape[0]
    units = n_patches * len(params.hidden_weights)
    return gathered_width(X.shape[1], patch_indices) + 4 * units * max(n_outputs, 1)


def squared_head(pre, hidden, slope, params, y):
    """Squared loss ``(1/2) ||f(x) - y||^2`` per sample and its derivatives.

    Returns the per-sample losses, the derivative in the pre-activations, and the
    per-sample derivative in the outputs (for the output weights and intercept).
    """
    output = pool(hidden, params.output_weights) + params.intercept
    residual = output - y
    losses = 0.5 * np.einsum("ij,ij->i", residual, residual)
    return (
        losses,
        _back_to_hidden(residual, params.output_weights, hidden) * slope,
        residual,
    )


def _summed_over_patches(hidden):
    """Hidden activations of shape (n, n_patches, k) summed over the patches, in
    float64 (one patch: no sum, which numpy would take the slow way)."""
    if hidden.shape[1] == 1:
        return hidden[:, 0].astype(np.float64, copy=False)
    return hidden.sum(axis=1, dtype=np.float64)


def _back_to_hidden(d_output, output_weights, hidden):
    """The output layer transposed: derivatives in the outputs, shape (n, o), to
    derivatives in the hidden activations (broadcasting to ``hidden``'s shape)."""
    if output_weights.ndim == 2:
        return (d_output @ output_weights)[:, np.newaxis, :]
    flat = output_weights.reshape(output_weights.shape[0], -1)
    return (d_output @ flat).reshape(hidden.shape)


def _output_weight_gradient(d_output, hidden, output_weights):
    """``sum_i d_output_i (x) hidden_i`` in the shape of the output weights."""
    if output_weights.ndim == 2:
        return d_output.T @ _summed_over_patches(hidden)
    pooled = hidden.astype(np.float64, copy=False)
    n_rows = len(pooled)
    return (d_output.T @ pooled.reshape(n_rows, -1)).reshape(output_weights.shape)


def _hidden_weight_gradient(d_pre, patches):
    """``sum_il d_pre_il (x) x_il``, shape (n_hidden, patch_size), in float64."""
    flat = d_pre.reshape(-1, d_pre.shape[-1])
    product = flat.T.astype(patches.dtype, copy=False) @ patches.reshape(len(flat), -1)
    return product.astype(np.float64, copy=False)


class LinearizedNetwork:
    """The network linearised in its parameters at ``params``, on rows in memory.

    The activations and their slopes are computed once; then the Jacobian ``J``
    of the outputs in the parameters is applied, ``J v`` (:meth:`jvp`), and
    transposed, ``J^T r`` (:meth:`vjp`), in one product with the patches each and
    no activation: a Gauss-Newton product ``J^T S J v`` costs two products with
    the rows.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
    params : NetworkParams
    activation : Activation
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
    """

    def __init__(self, rows, params, activation, *, patch_indices=None):
        self.patches = gather_patches(rows, patch_indices)
        pre = network_pre_activations(self.patches, params)
        self.dtype = pre.dtype
        self.hidden, self.slope = activation.value_and_derivative(pre)
        self.params = params

    def jvp(self, direction):
        """``J v`` for a direction ``v`` given as a :class:`NetworkParams` (zeros,
        or ``hidden_biases`` None, where the parameters do not move), shape
        (n_rows, n_outputs)."""
        moved = pre_activations(
            self.patches,
            direction.hidden_weights,
            direction.hidden_biases,
            self.dtype,
        )
        return (
            pool(self.slope * moved, self.params.output_weights)
            + pool(self.hidden, direction.output_weights)
            + direction.intercept
        )

    def vjp(self, d_output):
        """``J^T r`` summed over the rows, for ``r`` of shape (n_rows, n_outputs),
        as a :class:`NetworkParams`."""
        output_weights = self.params.output_weights
        # In the dtype of the patches (float32 for float32 rows): mixed products
        # and float64 sums of float32 arrays take numpy's slow loops.
        d_pre = (
            _back_to_hidden(
                d_output.astype(self.dtype),
                output_weights.astype(self.dtype),
                self.hidden,
            )
            * self.slope
        )
        flat = d_pre.reshape(-1, d_pre.shape[-1])
        return NetworkParams(
            _hidden_weight_gradient(d_pre, self.patches),
            _output_weight_gradient(d_output, self.hidden, output_weights),
            d_output.sum(axis=0),
            None
            if self.params.hidden_biases is None
            else (np.ones(len(flat), self.dtype) @ flat).astype(np.float64),
        )


def cross_entropy_head(pre, activation, params, y):
    """Cross-entropy of the mean-of-probabilities model, in log space.

    ``P_o = sum_lj V_olj phi(z_lj)`` with ``V >= 0``, ``sum_lj V_olj = 1`` and no
    intercept, so ``1 - P_o = sum_lj V_olj (1 - phi(z_lj))``: both logs are
    log-sum-exps of ``log V + log phi`` and ``log V + log(1 - phi)``, exact for any
    pre-activation. Returns the per-sample losses and the derivative in ``pre``.
    """
    terms = _log_probability_terms(pre, activation, params.output_weights)
    losses = -(y * terms.log_p + (1 - y) * terms.log_q).sum(axis=1)
    # d(-log P_o)/dz_lj = -softmax_lj(log V + log phi) d log phi(z_lj), etc.
    if terms.owner is None:
        d_pre = (
            -np.einsum("no,nolj->nlj", y, terms.weight_p) * terms.d_log_value
            - np.einsum("no,nolj->nlj", 1 - y, terms.weight_q) * terms.d_log_complement
        )
    else:
        own = y[:, np.newaxis, terms.owner]
        d_pre = (
            -own * terms.weight_p * terms.d_log_value
            - (1 - own) * terms.weight_q * terms.d_log_complement
        )
    return losses, d_pre


def log_probabilities(X, params, activation, *, patch_indices=None):
    """``log P`` and ``log(1 - P)`` of the mean-of-probabilities model.

    Each of shape (n_samples, n_outputs), exact for any input (no clipping).
    """

    def block(rows):
        patches = gather_patches(rows, patch_indices)
        pre = pre_activations(patches, params.hidden_weights, params.hidden_biases)
        terms = _log_probability_terms(pre, activation, params.output_weights)
        return np.stack([terms.log_p, terms.log_q], axis=-1)

    logs = map_rows(block, X, width=_pass_width(X, params, patch_indices))
    return logs[..., 0], logs[..., 1]


class _LogProbabilityTerms(NamedTuple):
    """``log P`` and ``log(1 - P)`` of each output, the softmax weights of the
    units in them, and the derivatives of ``log phi`` and ``log(1 - phi)``.

    With ``owner`` None the weights have shape (n, outputs, patches, units);
    when every unit feeds one output (``owner[j]``, the classifier's blocks), only
    that output's weights, of shape (n, patches, units).
    """

    log_p: np.ndarray
    log_q: np.ndarray
    weight_p: np.ndarray
    weight_q: np.ndarray
    d_log_value: np.ndarray
    d_log_complement: np.ndarray
    owner: np.ndarray | None


def _log_probability_terms(pre, activation, output_weights):
    """The :class:`_LogProbabilityTerms` of pre-activations ``pre``."""
    pre = pre.astype(np.float64, copy=False)
    log_value, d_log_value = activation.log_value_and_derivative(pre)
    log_complement, d_log_complement = activation.log_complement_and_derivative(pre)
    n_samples, n_patches, n_hidden = pre.shape
    owner = _unit_owners(output_weights)
    if owner is not None:
        log_weights = np.full(n_hidden, -np.inf)
        own = output_weights[owner, np.arange(n_hidden)]
        np.log(own, out=log_weights, where=own > 0)
        n_outputs = len(output_weights)
        log_p, weight_p = _owned_log_sum_exp(log_value + log_weights, owner, n_outputs)
        log_q, weight_q = _owned_log_sum_exp(
            log_complement + log_weights, owner, n_outputs
        )
        return _LogProbabilityTerms(
            log_p, log_q, weight_p, weight_q, d_log_value, d_log_complement, owner
        )
    weights = np.broadcast_to(
        output_weights.reshape(output_weights.shape[0], -1, n_hidden)
        if output_weights.ndim == 3
        else output_weights[:, np.newaxis, :],
        (output_weights.shape[0], n_patches, n_hidden),
    )
    log_weights = np.full(weights.shape, -np.inf)
    np.log(weights, out=log_weights, where=weights > 0)
    log_p, weight_p = _log_sum_exp(log_value[:, np.newaxis] + log_weights)
    log_q, weight_q = _log_sum_exp(log_complement[:, np.newaxis] + log_weights)
    return _LogProbabilityTerms(
        log_p, log_q, weight_p, weight_q, d_log_value, d_log_complement, None
    )


def _unit_owners(output_weights):
    """The output each unit feeds, when shared (2-D) output weights give every
    unit at most one positive weight; else None."""
    if output_weights.ndim != 2:
        return None
    positive = output_weights > 0
    if np.any(positive.sum(axis=0) > 1):
        return None
    return np.argmax(positive, axis=0)


def _owned_log_sum_exp(terms, owner, n_outputs):
    """``log sum exp`` over the patches and the units of each output, and the
    softmax weight of every term in its own output's sum (no dense
    outputs x units array)."""
    logs = np.full((len(terms), n_outputs), -np.inf)
    weights = np.zeros_like(terms)
    for output in range(n_outputs):
        units = np.flatnonzero(owner == output)
        if len(units) == 0:
            continue
        log_sum, share = _log_sum_exp(terms[:, np.newaxis, :, units])
        logs[:, output], weights[:, :, units] = log_sum[:, 0], share[:, 0]
    return logs, weights


def _log_sum_exp(terms):
    """``log sum exp`` over the last two axes and the softmax weights of the terms."""
    largest = terms.max(axis=(2, 3), keepdims=True)
    exponentials = np.exp(terms - largest)
    total = exponentials.sum(axis=(2, 3), keepdims=True)
    return (np.log(total) + largest)[:, :, 0, 0], exponentials / total


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
        ``"cross_entropy"`` is the log-loss of the mean-of-probabilities model
        (fixed output weights: their gradient and the intercept's are zero).
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
    monitor_weights : sequence of ndarray of shape (n_samples,), default=()
        Further weightings (e.g. a validation mask) whose weighted mean loss is
        reported too, at no extra pass; they do not enter the gradient.

    Returns
    -------
    loss : float
        Weighted mean loss.
    gradient : NetworkParams
        Gradient with respect to each parameter (``hidden_biases`` None when the
        network has none).
    monitored : list of float
        Weighted mean loss under each of ``monitor_weights``.
    """
    hidden_weights, output_weights, intercept, hidden_biases = params
    monitors = np.column_stack(monitor_weights) if len(monitor_weights) else None

    def block(rows, targets, weights, monitor):
        patches = gather_patches(rows, patch_indices)
        pre = pre_activations(patches, hidden_weights, hidden_biases)
        if loss == "squared":
            hidden, slope = activation.value_and_derivative(pre)
            losses, d_pre, d_output = squared_head(pre, hidden, slope, params, targets)
            d_output = d_output * weights[:, np.newaxis]
            grad_output = _output_weight_gradient(d_output, hidden, output_weights)
            grad_intercept = d_output.sum(axis=0)
        else:
            losses, d_pre = cross_entropy_head(pre, activation, params, targets)
            grad_output = np.zeros(output_weights.shape)
            grad_intercept = np.zeros(intercept.shape)
        d_pre = d_pre * weights[:, np.newaxis, np.newaxis]
        return {
            "loss": losses @ weights,
            "monitored": None if monitor is None else losses @ monitor,
            "weight": weights.sum(),
            "monitor_weight": None if monitor is None else monitor.sum(axis=0),
            "hidden": _hidden_weight_gradient(d_pre, patches),
            "output": grad_output,
            "intercept": grad_intercept,
            "biases": d_pre.sum(axis=(0, 1)),
        }

    width = _pass_width(X, params, patch_indices) * (4 if loss != "squared" else 2)
    sums = reduce_rows(block, X, y, sample_weight, monitors, width=width)
    total = float(sums["weight"])
    gradient = NetworkParams(
        sums["hidden"] / total,
        sums["output"] / total,
        sums["intercept"] / total,
        None if hidden_biases is None else sums["biases"] / total,
    )
    monitored = (
        []
        if monitors is None
        else [
            float(s / max(float(w), np.finfo(float).tiny))
            for s, w in zip(sums["monitored"], sums["monitor_weight"], strict=True)
        ]
    )
    return float(sums["loss"] / total), gradient, monitored


def row_gradients(
    rows, targets, params, activation, *, loss="squared", patch_indices=None
):
    """The gradient of each sample's loss (the terms :func:`loss_gradient` averages).

    Returns a :class:`NetworkParams` whose arrays carry a leading axis of samples
    (``hidden_biases`` None for a network without biases); the output weights and
    intercept of the cross-entropy model are fixed, their gradients zero.
    """
    patches = gather_patches(rows, patch_indices)
    pre = pre_activations(patches, params.hidden_weights, params.hidden_biases)
    n_rows, output_weights = len(pre), params.output_weights
    if loss == "squared":
        hidden, slope = activation.value_and_derivative(pre)
        _, d_pre, d_output = squared_head(pre, hidden, slope, params, targets)
        hidden = hidden.astype(np.float64, copy=False)
        if output_weights.ndim == 2:
            d_weights = np.einsum("no,nk->nok", d_output, hidden.sum(axis=1))
        else:
            d_weights = np.einsum("no,nlk->nolk", d_output, hidden)
    else:
        _, d_pre = cross_entropy_head(pre, activation, params, targets)
        d_weights = np.zeros((n_rows, *output_weights.shape))
        d_output = np.zeros((n_rows, *np.shape(params.intercept)))
    return NetworkParams(
        np.einsum("nlk,nld->nkd", d_pre, patches.astype(np.float64, copy=False)),
        d_weights,
        d_output,
        None if params.hidden_biases is None else d_pre.sum(axis=1),
    )


def squared_hessian(X, y, sample_weight, params, activation, *, patch_indices=None):
    """The Hessian of the weighted mean squared loss of :func:`loss_gradient`, in
    one pass over ``X`` (output weights shared by the patches).

    ``sum_i s_i (J_i^T J_i + sum_o r_io nabla^2 f_io) / sum_i s_i``: the Gauss-Newton
    term from the per-sample Jacobians, and the residual-weighted curvature of the
    network, which is ``phi''`` within a unit and ``phi'`` between a unit's input
    and output weights. Exact wherever the activation's second derivative exists
    (differences of ReLU gradients across the kinks would be noise).

    Returns
    -------
    hessian : ndarray of shape (n_params, n_params)
        Over all the parameters, flattened in the order of :class:`NetworkParams`
        (hidden weights, output weights, intercept, hidden biases if any).
    """
    weights, output = params.hidden_weights, params.output_weights
    n_hidden, width = weights.shape
    n_outputs = len(output)
    sizes = [weights.size, output.size, n_outputs]
    sizes += [] if params.hidden_biases is None else [n_hidden]
    starts = np.cumsum([0, *sizes])
    size = int(starts[-1])
    blocks = [
        slice(start, end) for start, end in zip(starts[:-1], starts[1:], strict=True)
    ]
    hidden_block, output_block, intercept_block, *bias_block = blocks

    def block(rows, targets, weights_):
        patches = gather_patches(rows, patch_indices).astype(np.float64, copy=False)
        pre = pre_activations(patches, weights, params.hidden_biases)
        hidden, slope = activation.value_and_derivative(pre)
        hidden = hidden.astype(np.float64, copy=False)
        curvature = activation.second_derivative(pre)
        residual = (pool(hidden, output) + params.intercept - targets) * weights_[
            :, np.newaxis
        ]
        n_rows = len(rows)
        jacobian = np.zeros((n_rows, n_outputs, size))
        along = np.einsum("nlk,nld->nkd", slope, patches, optimize=True)
        jacobian[..., hidden_block] = np.einsum("ok,nkd->nokd", output, along).reshape(
            n_rows, n_outputs, -1
        )
        pooled = hidden.sum(axis=1)
        for o in range(n_outputs):
            jacobian[:, o, output_block][:, o * n_hidden : (o + 1) * n_hidden] = pooled
        jacobian[..., intercept_block] = np.eye(n_outputs)
        if params.hidden_biases is not None:
            jacobian[..., bias_block[0]] = output * slope.sum(axis=1)[:, np.newaxis]
        scaled = jacobian * np.sqrt(weights_)[:, np.newaxis, np.newaxis]
        flat = scaled.reshape(-1, size)
        hessian = flat.T @ flat
        # The residual-weighted curvature, block by block.
        within = ((residual @ output)[:, np.newaxis] * curvature).reshape(-1, n_hidden)
        flat_patches = patches.reshape(-1, width)
        for j in range(n_hidden):
            rows_j = slice(starts[0] + j * width, starts[0] + (j + 1) * width)
            weighted = flat_patches * within[:, j : j + 1]
            hessian[rows_j, rows_j] += weighted.T @ flat_patches
            columns = starts[1] + np.arange(n_outputs) * n_hidden + j
            between = along[:, j].T @ residual
            hessian[rows_j, columns] += between
            hessian[columns, rows_j] += between.T
            if params.hidden_biases is not None:
                bias = starts[3] + j
                cross = weighted.sum(axis=0)
                hessian[rows_j, bias] += cross
                hessian[bias, rows_j] += cross
                hessian[bias, bias] += within[:, j].sum()
                bias_output = slope[:, :, j].sum(axis=1) @ residual
                hessian[bias, columns] += bias_output
                hessian[columns, bias] += bias_output
        return {"hessian": hessian, "weight": weights_.sum()}

    row_width = 2 * n_outputs * size + _pass_width(X, params, patch_indices)
    sums = reduce_rows(block, X, y, sample_weight, width=row_width)
    return sums["hessian"] / float(sums["weight"])


def squared_loss(X, y, sample_weight, params, activation, *, patch_indices=None):
    """The weighted mean squared loss of :func:`loss_gradient` without its
    gradient: one forward pass over ``X``."""

    def block(rows, targets, weights):
        patches = gather_patches(rows, patch_indices)
        pre = pre_activations(patches, params.hidden_weights, params.hidden_biases)
        output = pool(activation(pre), params.output_weights) + params.intercept
        residual = output - targets
        losses = 0.5 * np.einsum("ij,ij->i", residual, residual)
        return {"loss": losses @ weights, "weight": weights.sum()}

    width = _pass_width(X, params, patch_indices)
    sums = reduce_rows(block, X, y, sample_weight, width=width)
    return float(sums["loss"] / sums["weight"])


def canonicalize(
    params, activation, *, scale_to="output", shift_intercept=True, patch_indices=None
):
    """Canonical representative of a network's symmetry class.

    Networks related by a permutation of the hidden units, by a positive rescaling
    ``(w_j, b_j, v_j) -> (c w_j, c b_j, v_j / c**q)`` (activations homogeneous of
    degree ``q``), or by a flip ``(w_j, b_j, v_j) -> (-w_j, -b_j, -v_j)`` (odd
    activations, which shifts the intercept by ``v_j phi_offset`` for each patch
    the unit reads) compute the same function. The representative:

    * homogeneous activations: ``scale_to="output"`` makes every output-weight column
      a unit vector (``v_j = +-1`` for one output) and moves the scale into
      ``(w_j, b_j)``; ``scale_to="hidden"`` makes every ``w_j`` a unit vector
      instead;
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
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
        The patches of a convolutional network: a flip shifts the intercept once
        per patch.

    Returns
    -------
    params : NetworkParams
        New arrays; the input is not modified.
    """
    hidden = np.array(params.hidden_weights, dtype=float)
    output = np.array(params.output_weights, dtype=float)
    intercept = np.array(params.intercept, dtype=float)
    biases = None if params.hidden_biases is None else np.array(params.hidden_biases)
    if output.ndim != 2:
        return NetworkParams(hidden, output, intercept, biases)
    units = hidden if biases is None else np.column_stack([hidden, biases])
    degree = activation.degree
    if degree:
        # (w_j, b_j, v_j) -> (t_j w_j, t_j b_j, v_j / t_j**q) leaves f unchanged.
        if scale_to == "output":
            norms = _norms(output, axis=0)
            t = np.where(norms > 0, norms, 1.0) ** (1.0 / degree)
        else:
            norms = _norms(hidden, axis=1)
            t = 1.0 / np.where(norms > 0, norms, 1.0)
        units *= t[:, np.newaxis]
        output /= t**degree
    symmetry = activation.symmetry
    offset = activation.flip_offset if symmetry == "odd" else 0.0
    if symmetry == "odd" and output.shape[0] == 1 and (shift_intercept or offset == 0):
        flip = output[0] < 0
        n_patches = 1 if patch_indices is None else len(patch_indices)
        intercept += n_patches * offset * output[0, flip].sum()
        output[:, flip] *= -1
        units[flip] *= -1
    elif symmetry == "even":
        weights = units[:, : hidden.shape[1]]
        largest = weights[np.arange(len(weights)), np.abs(weights).argmax(axis=1)]
        units[largest < 0] *= -1
    hidden = units[:, : hidden.shape[1]]
    tiny = np.finfo(float).tiny
    importance = np.log(np.maximum(_norms(hidden, axis=1), tiny)) + np.log(
        np.maximum(_norms(output, axis=0), tiny)
    )
    order = np.argsort(-importance, kind="stable")
    return NetworkParams(
        hidden[order],
        output[:, order],
        intercept,
        None if biases is None else units[order, -1],
    )


def _norms(array, axis):
    """Euclidean norms that neither overflow nor underflow (weights of extreme
    data)."""
    return np.hypot.reduce(array, axis=axis)
