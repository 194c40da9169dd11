"""Weighted empirical Hermite moments, each one pass of the data-pass engine.

All estimators of the moment family read ``X`` here, block by block, with sample
weights. A ``d x d x d`` array is never formed: the second-order moment is applied to a
block of vectors (or formed as a ``d x d`` matrix), the third-order moment is sketched
by contractions, and higher orders are computed in projected coordinates ``z = P^T x``
of dimension ``k``.

With ``patch_indices``, every patch of every row is one observation with the row's
label (the patch-averaged moments of non-overlapping CNNs): all functions then work in
the patch space.

Conventions: ``E`` is the weighted mean ``sum_i s_i (.) / sum_i s_i``. Labels ``y`` are
used as given; callers centre them (which leaves every moment of order >= 1 unchanged
and removes most of the variance).
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ._engine import map_rows, reduce_rows, subset_rows, take_rows
from ._network import gather_patches, gathered_width

# Eigenvalues of the input second moment below this fraction of the largest are
# treated as zero when whitening.
_RANK_TOL = 1e-10
# Passes of ``single`` precision (:func:`_reduce_patches`) over fewer (patch) rows
# than this stay in float64: they cost milliseconds, and keep the moments of small
# samples exact to float64 rounding.
_SINGLE_MIN_ROWS = 50_000


class MomentSample:
    """Weighted rows of ``X`` (or their patches), optionally whitened.

    Binds the arguments every moment of one fit shares, so that the algorithms read
    as the mathematics: ``sample.p2_product(y)``, ``sample.first_moment(y)``.
    Vectors and matrices it takes and returns live in the whitened patch space of
    dimension ``dim``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    whitening : ndarray of shape (dim, dim), default=None
        Symmetric ``R``: the moments are those of ``R x`` (or ``R x_l``).
    patch_indices : ndarray of shape (n_patches, dim), default=None
    label_offset : float, default=0.0
        The constant the labels were centred by (the working units of a model with
        an output offset): the moments of Zhong et al. (2017) take the labels as
        observed, and add it back (``moments="paper"`` of
        :func:`~skrecover._tensor_init.moment_labels`).
    """

    def __init__(
        self,
        X,
        sample_weight,
        *,
        whitening=None,
        patch_indices=None,
        label_offset=0.0,
    ):
        self.X = X
        self.sample_weight = sample_weight
        self.whitening = whitening
        self.patch_indices = patch_indices
        self.label_offset = float(label_offset)

    @property
    def dim(self):
        """Dimension of the (patch) inputs."""
        return (
            self.X.shape[1]
            if self.patch_indices is None
            else self.patch_indices.shape[1]
        )

    @property
    def n_effective(self):
        """Number of samples, counting weights as frequencies."""
        return float(self.sample_weight.sum())

    def subset(self, rows, *, in_memory=False):
        """The same sample on the rows ``rows`` (sorted indices): gathered into
        memory with ``in_memory``, else read where they are unless few."""
        take = take_rows if in_memory else subset_rows
        return MomentSample(
            take(self.X, rows),
            take(self.sample_weight, rows),
            whitening=self.whitening,
            patch_indices=self.patch_indices,
            label_offset=self.label_offset,
        )

    def to_original(self, vectors):
        """Map row vectors from whitened to original coordinates (``v R``)."""
        return vectors if self.whitening is None else vectors @ self.whitening

    def first_moment(self, y):
        return first_moment(self.X, y, self.sample_weight, **self._options())

    def remove_linear_part(self, y, first):
        """``y`` minus ``first^T (R x)`` (summed over patches)."""
        return remove_linear_part(
            self.X, y, self.to_original(first), patch_indices=self.patch_indices
        )

    def p2_product(self, y, basis=None, *, return_noise=False):
        return p2_product(
            self.X,
            y,
            self.sample_weight,
            basis,
            return_noise=return_noise,
            **self._options(),
        )

    def m3_sketch(self, y, left, right, *, return_noise=False):
        return m3_sketch(
            self.X,
            y,
            self.sample_weight,
            left,
            right,
            return_noise=return_noise,
            **self._options(),
        )

    def projected_hermite_moments(
        self, y, basis, max_order, *, quadratic=None, return_halves=False
    ):
        """Hermite moments of ``z = V^T R x`` for an orthonormal basis ``V``."""
        return projected_hermite_moments(
            self.X,
            y,
            self.sample_weight,
            self.to_original(basis.T).T,
            max_order,
            quadratic=quadratic,
            patch_indices=self.patch_indices,
            return_halves=return_halves,
        )

    def _options(self):
        return {"whitening": self.whitening, "patch_indices": self.patch_indices}


def _reduce_patches(
    function, X, y, sample_weight, patch_indices, width=0, *, single=False, threads=True
):
    """Sum of ``function(rows, weights, labels)`` over blocks of (patch) rows.

    ``rows`` has shape (n_block * n_patches, patch_size); ``weights`` holds
    ``s_i / (n_patches sum_i s_i)`` for each of them, so that weighted sums over
    all blocks are weighted means; ``labels`` holds the matching ``y_i`` (None
    without ``y``). All three are float32 for float32 ``X`` (and with ``single``
    for any ``X``) and ``function`` computes in that dtype (its own matrices cast
    with :func:`_like`), unless a block's result overflows float32: that block is
    taken again in float64. The sums over blocks accumulate in float64. ``width``:
    further floats of temporaries per patch row.

    ``single`` suits the moments that only start a descent: their sampling noise,
    a relative ``1 / sqrt(n)`` (1e-4 at 1e8 rows), stays far above float32
    rounding (about 1e-7 relative per product, in sums over one block's rows),
    and their products take half the time of float64 ones (from
    ``_SINGLE_MIN_ROWS`` patch rows on). ``threads`` as in
    :func:`~skrecover._engine.reduce_rows`, but on by default here: most moments
    are products of d-wide matrices (the light ones turn it off).
    """
    n_patches = _n_patches(patch_indices)
    scale = 1.0 / (float(sample_weight.sum()) * n_patches)
    single = single and len(X) * n_patches >= _SINGLE_MIN_ROWS

    def block(X_block, y_block, weight_block):
        patches = gather_patches(X_block, patch_indices)
        rows = patches.reshape(-1, patches.shape[-1])
        weights = np.repeat(weight_block * scale, n_patches)
        labels = None if y_block is None else np.repeat(y_block, n_patches)
        if single or rows.dtype == np.float32:
            with np.errstate(over="ignore", invalid="ignore"):
                arrays = [
                    a if a is None else a.astype(np.float32, copy=False)
                    for a in (rows, weights, labels)
                ]
                part = _finite_float64(function(*arrays))
            if part is not None:
                return part
        return function(rows.astype(np.float64, copy=False), weights, labels)

    total_width = 2 * gathered_width(X.shape[1], patch_indices) + n_patches * width
    return reduce_rows(block, X, y, sample_weight, width=total_width, threads=threads)


def _like(rows, matrix):
    """``matrix`` in the dtype of ``rows`` (products then stay in float32)."""
    return None if matrix is None else np.asarray(matrix, dtype=rows.dtype)


def _finite_float64(part):
    """A block's partial result (arrays, numbers, and lists or tuples of them) in
    float64, so that the sum over blocks accumulates in float64; None if any of it
    is not finite."""
    if isinstance(part, (list, tuple)):
        parts = [_finite_float64(p) for p in part]
        return None if any(p is None for p in parts) else type(part)(parts)
    part = np.asarray(part, dtype=np.float64)
    return part if np.all(np.isfinite(part)) else None


def second_moment(X, sample_weight, *, patch_indices=None):
    """``E[x x^T]``, shape (d, d)."""

    def block(rows, weights, _):
        return rows.T @ (weights[:, np.newaxis] * rows)

    return _reduce_patches(block, X, None, sample_weight, patch_indices)


def first_moment(X, y, sample_weight, *, whitening=None, patch_indices=None):
    """The first Hermite moment ``M_1 = E[y x]`` (of the whitened inputs ``R x``)."""

    def block(rows, weights, labels):
        return rows.T @ (weights * labels)

    # One product per block: the numpy calls around it (not the arithmetic) set
    # its time, and they wait for each other on several threads.
    total = _reduce_patches(block, X, y, sample_weight, patch_indices, threads=False)
    return total if whitening is None else whitening @ total


class Whitening(NamedTuple):
    """``whiten = S^{-1/2}`` and ``color = S^{1/2}`` for the input second moment S."""

    whiten: np.ndarray
    color: np.ndarray


def whitening(X, sample_weight, *, patch_indices=None):
    """Whitening from the weighted second moment ``E[x x^T]`` (no centring).

    Not centring keeps the model class: a unit ``w`` of the whitened problem is the
    unit ``S^{-1/2} w`` of the original one. Directions with (numerically) zero
    variance are projected out.
    """
    second = second_moment(X, sample_weight, patch_indices=patch_indices)
    return whitening_from_moment(second)


def whitening_from_moment(second):
    """:func:`whitening` of a given second-moment matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh(second)
    keep = eigenvalues > _RANK_TOL * max(eigenvalues.max(), np.finfo(float).tiny)
    root = np.sqrt(eigenvalues[keep])
    basis = eigenvectors[:, keep]
    return Whitening((basis / root) @ basis.T, (basis * root) @ basis.T)


def remove_linear_part(X, y, coefficients, *, patch_indices=None):
    """``y - sum_l x_l^T c``: the labels minus their first-order Hermite term.

    Every Hermite moment of order ``j >= 2`` is unchanged (``E[(c^T x) H_j(x)] = 0``)
    while the variance of their estimates drops, often several-fold: the linear
    part of a ReLU network's output is most of its variance and none of its
    higher moments. (For patch models the linear part sums over the patches.)
    """

    def block(X_block, y_block):
        patches = gather_patches(X_block, patch_indices)
        linear = patches @ coefficients.astype(patches.dtype, copy=False)
        return y_block - linear.sum(axis=1)

    width = 2 * gathered_width(X.shape[1], patch_indices)
    return map_rows(block, X, y, width=width)


def p2_product(
    X,
    y,
    sample_weight,
    basis=None,
    *,
    whitening=None,
    patch_indices=None,
    return_noise=False,
):
    """The second Hermite moment ``P_2 = E[y (x x^T - I)]`` applied to a block.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,)
    basis : ndarray of shape (d, m), default=None
        Block of vectors; ``None`` forms the full ``d x d`` matrix. A block costs
        ``O(n d m)``, the full matrix ``O(n d^2)``.
    whitening : ndarray of shape (d, d), default=None
        Symmetric ``R``: the moment is that of the whitened inputs ``R x``.
    patch_indices : ndarray of shape (n_patches, patch_size), default=None
    return_noise : bool, default=False
        Also return the mean variance of one entry of a sample's contribution
        ``y mean_l H_2(x_l)`` (``y H_2(x)`` without patches): the sampling noise of
        each entry of ``P_2`` is its square root over ``sqrt(n)``.

    Returns
    -------
    product : ndarray of shape (d, m) or (d, d)
    entry_variance : float
        Only with ``return_noise=True``.
    """
    effective = (
        basis
        if whitening is None
        else (whitening if basis is None else whitening @ basis)
    )
    n_patches = _n_patches(patch_indices)

    stride = _noise_stride(len(X))

    def block(rows, weights, labels):
        weighted = weights * labels
        projected = rows if effective is None else rows @ _like(rows, effective)
        total = rows.T @ (weighted[:, np.newaxis] * projected)
        noise = (0.0, 0.0)
        if return_noise:
            some, s, t = _noise_samples(stride, n_patches, rows, weights, labels)
            white = some if whitening is None else some @ _like(some, whitening)
            gram = _patch_gram(white, n_patches)
            # ||sum_l H_2(x_l)||_F^2 = sum_lm (x_l^T x_m)^2 - 2 r sum_l |x_l|^2 + r^2 d
            squared_norms = np.einsum("ill->i", gram)
            hermite_norm = (
                np.einsum("ilm,ilm->i", gram, gram)
                - 2 * n_patches * squared_norms
                + n_patches**2 * rows.shape[1]
            ) / n_patches**2
            noise = _weighted_noise(s, t, n_patches, hermite_norm)
        return total, weighted.sum(), np.array(noise)

    m = X.shape[1] if basis is None else basis.shape[1]
    total, mean, (variance, noise_weight) = _reduce_patches(
        block, X, y, sample_weight, patch_indices, m + 2 * n_patches, single=True
    )
    if whitening is not None:
        total = whitening @ total
    identity = np.eye(total.shape[0]) if basis is None else basis
    product = total - mean * identity
    if return_noise:
        return product, variance / noise_weight / product.shape[0] ** 2
    return product


def m3_sketch(
    X,
    y,
    sample_weight,
    left,
    right,
    *,
    whitening=None,
    patch_indices=None,
    return_noise=False,
):
    """Columns ``M_3(I, a_l, b_l)`` of the third Hermite moment ``E[y H_3(x)]``.

    ``M_3(I, a, b) = E[y ((a^T x)(b^T x) x - (a^T b) x - (b^T x) a - (a^T x) b)]``: a
    randomized sketch of the ``d x d^2`` unfolding of ``M_3`` whose range is the span of
    the hidden units (for activations whose second moment vanishes, such as tanh).

    Parameters
    ----------
    left, right : ndarray of shape (d, p)
        The contraction vectors ``a_l`` and ``b_l`` as unit columns.
    whitening : ndarray of shape (d, d), default=None
        Symmetric ``R``: the moment is that of the whitened inputs ``R x``.
    return_noise : bool, default=False
        Also return the mean variance of one entry of a sample's contribution to
        the sketch (averaged over its patches).

    Returns
    -------
    sketch : ndarray of shape (d, p)
    entry_variance : float
        Only with ``return_noise=True``.
    """
    project_left = left if whitening is None else whitening @ left
    project_right = right if whitening is None else whitening @ right
    inner = np.einsum("dp,dp->p", left, right)
    n_patches = _n_patches(patch_indices)

    stride = _noise_stride(len(X))

    both = np.hstack([project_left, project_right])
    n_sketch = left.shape[1]

    def block(rows, weights, labels):
        weighted = weights * labels
        along = rows @ _like(rows, both)
        along_left, along_right = along[:, :n_sketch], along[:, n_sketch:]
        product = along_left * along_right
        noise = (0.0, 0.0)
        if return_noise:
            some, s, t, a, b = _noise_samples(
                stride, n_patches, rows, weights, labels, along_left, along_right
            )
            white = some if whitening is None else some @ _like(some, whitening)
            norms = _sketch_summand_norms(white, a, b, inner, n_patches)
            noise = _weighted_noise(s, t, n_patches, norms)
        return (
            rows.T @ (weighted[:, np.newaxis] * product),
            rows.T @ weighted,
            weighted @ along_left,
            weighted @ along_right,
            np.array(noise),
        )

    cubic, first, left_mean, right_mean, (variance, noise_weight) = _reduce_patches(
        block, X, y, sample_weight, patch_indices, 4 * left.shape[1], single=True
    )
    if whitening is not None:
        cubic, first = whitening @ cubic, whitening @ first
    sketch = cubic - np.outer(first, inner) - left * right_mean - right * left_mean
    if return_noise:
        return sketch, variance / noise_weight / (sketch.shape[0] * sketch.shape[1])
    return sketch


def _sketch_summand_norms(rows, along_left, along_right, inner, n_patches):
    """``sum_c ||mean_l g_lc||^2`` per sample, ``g_lc = M_3``'s summand of patch l.

    ``g = (t_a t_b - a^T b) x - t_b a - t_a b`` for unit ``a``, ``b``, with
    ``t_a = a^T x``; summed over patches, ``S = sum_l alpha_l x_l`` has
    ``||S||^2 = alpha^T G alpha`` with ``G`` the Gram matrix of the patches.
    """
    if n_patches == 1:
        # sum_c ||alpha_c x - t_bc a_c - t_ac b_c||^2 with alpha = t_a t_b - a^T b:
        # |x|^2 sum alpha^2 + sum t_a^2 + sum t_b^2 + 2 sum t_a t_b (a^T b - 2 alpha),
        # each sum over the columns one row-wise product (one temporary, alpha).
        product = along_left * along_right
        alpha = product - inner
        return (
            np.einsum("ij,ij->i", rows, rows) * np.einsum("ij,ij->i", alpha, alpha)
            + np.einsum("ij,ij->i", along_left, along_left)
            + np.einsum("ij,ij->i", along_right, along_right)
            + 2 * (product @ inner)
            - 4 * np.einsum("ij,ij->i", product, alpha)
        )
    alpha = _per_sample(along_left * along_right - inner, n_patches)
    t_left = _per_sample(along_left, n_patches)
    t_right = _per_sample(along_right, n_patches)
    gram = _patch_gram(rows, n_patches)
    sum_left, sum_right = t_left.sum(1), t_right.sum(1)
    squared = (
        np.einsum("ilc,ilc->ic", alpha, gram @ alpha)
        + sum_left**2
        + sum_right**2
        - 2 * sum_right * np.einsum("ilc,ilc->ic", alpha, t_left)
        - 2 * sum_left * np.einsum("ilc,ilc->ic", alpha, t_right)
        + 2 * sum_left * sum_right * inner
    )
    return squared.sum(axis=1) / n_patches**2


# Entry variances (the noise levels of the moments) are means over samples of
# per-sample terms: at most about this many samples, evenly spaced, estimate them
# to a few percent.
_NOISE_SAMPLES = 100_000


def _noise_stride(n_samples):
    """Every how many samples the entry variances are estimated on."""
    return max(1, n_samples // _NOISE_SAMPLES)


def _noise_samples(stride, n_patches, *arrays):
    """The patch rows of every ``stride``-th sample of the block in each array."""
    if stride == 1:
        return arrays
    return tuple(
        _per_sample(array, n_patches)[::stride].reshape(-1, *array.shape[1:])
        for array in arrays
    )


def _weighted_noise(weights, labels, n_patches, norms):
    """``(sum_i s_i y_i^2 norms_i, sum_i s_i)`` over the block's samples (the
    weights of their patch rows summed): the variance is the ratio of the totals."""
    per_sample = _per_sample(weights, n_patches).sum(1)
    squared = _per_sample(weights * labels * labels, n_patches).sum(1)
    return squared @ norms, per_sample.sum()


def _n_patches(patch_indices):
    return 1 if patch_indices is None else patch_indices.shape[0]


def _per_sample(values, n_patches):
    """Patch rows back to ``(n_samples, n_patches, ...)``."""
    return values.reshape(-1, n_patches, *values.shape[1:])


def _patch_gram(rows, n_patches):
    """Per sample, the Gram matrix of its patches, shape (n, n_patches, n_patches)."""
    patches = _per_sample(rows, n_patches)
    return np.einsum("ilp,imp->ilm", patches, patches)


def projected_hermite_moments(
    X,
    y,
    sample_weight,
    projection,
    max_order,
    *,
    quadratic=None,
    patch_indices=None,
    return_halves=False,
):
    """Hermite moments ``E[y H_j(z)]``, ``j = 1..max_order``, of ``z = P^T x``.

    When ``P`` has orthonormal columns (or ``P = R V`` with ``R`` a whitening matrix)
    and ``x ~ N(0, I)`` (resp. after whitening), ``z ~ N(0, I_k)`` and these are the
    moments ``M_j(P, ..., P)`` of the full space at a cost of ``O(n k^j)``.

    Parameters
    ----------
    projection : ndarray of shape (d, k)
    max_order : {1, 2, 3, 4}
    quadratic : ndarray of shape (k, k), default=None
        A second Hermite moment ``M_2`` whose term ``<M_2, H_2(z)> / 2`` is
        subtracted from ``y`` (summed over patches) before the moments are taken:
        the moments of order 3 and 4 are unchanged and their variance drops. The
        moment of order 2 is then that of the residual.
    return_halves : bool, default=False
        Also return the moments of two halves of the rows (in the same pass):
        independent halves, whose difference measures the sampling noise. A row's
        half is a function of its values, so that a repeated row and a weighted
        one fall in the same half (weights stay frequencies); None instead when a
        half holds less than a tenth of the weight (inputs with few distinct
        values).

    Returns
    -------
    moments : list of ndarray
        ``moments[j - 1]`` has shape ``(k,) * j``.
    halves : tuple of two lists of ndarray
        Only with ``return_halves=True``.
    """
    k = projection.shape[1]
    n_patches = _n_patches(patch_indices)
    if return_halves:
        # The halving direction rides along in the product of the projection.
        projection = np.column_stack(
            [projection, _halving_direction(projection.shape[0])]
        )

    def block(rows, weights, labels):
        z = rows @ _like(rows, projection)
        if return_halves:
            z, along = z[:, :k], z[::n_patches, k]
        if quadratic is not None:
            term = 0.5 * (
                ((z @ _like(z, quadratic)) * z).sum(axis=1)
                - np.trace(quadratic).astype(z.dtype)
            )
            term = term.reshape(-1, n_patches).sum(axis=1)
            labels = labels - np.repeat(term, n_patches)
        if not return_halves:
            return _raw_moments(z, weights, labels, max_order)[0]
        odd = np.repeat(_odd_half(along), n_patches)
        order = np.argsort(odd, kind="stable")
        cut = len(odd) - np.count_nonzero(odd)
        z, weights, labels = z[order], weights[order], labels[order]
        parts = (slice(None, cut), slice(cut, None))
        sums = _raw_moments(z, weights, labels, max_order, parts)
        return [
            [*raw, weights[part].sum()] for raw, part in zip(sums, parts, strict=True)
        ]

    width = k * (2 + (2 * k if max_order >= 3 else 0))
    # Products of k-wide matrices: as for first_moment, one thread is faster.
    raw = _reduce_patches(
        block, X, y, sample_weight, patch_indices, width, single=True, threads=False
    )
    if not return_halves:
        return hermite_corrected(_unfold_pairs(raw, k), k)
    raw = [[*_unfold_pairs(half[:-1], k), half[-1]] for half in raw]
    moments = hermite_corrected(
        [a + b for a, b in zip(raw[0][:-1], raw[1][:-1], strict=True)], k
    )
    if min(raw[0][-1], raw[1][-1]) < 0.1 * (raw[0][-1] + raw[1][-1]):
        return moments, None
    halves = tuple(
        hermite_corrected([part / half[-1] for part in half[:-1]], k) for half in raw
    )
    return moments, halves


def _odd_half(along):
    """Which half each row belongs to, a deterministic function of its values:
    the parity of ``floor(997 g^T x)``, from ``g^T x`` for the fixed random
    direction ``g`` of :func:`_halving_direction`."""
    return np.floor(997.0 * along) % 2 == 1


@lru_cache(maxsize=8)
def _halving_direction(n_features):
    """The fixed random direction ``g`` of :func:`_odd_half` (drawn once)."""
    direction = np.random.RandomState(0).standard_normal(n_features)
    direction.flags.writeable = False
    return direction


def _raw_moments(z, weights, labels, max_order, parts=(slice(None),)):
    """Weighted sums of ``y``, ``y z``, ``y z z^T``, ... over one block, one list
    of them for each slice of rows in ``parts``.

    The orders 3 and 4 are symmetric in their indices: they are taken on the
    ``k (k + 1) / 2`` distinct products ``z_i z_j`` (``i <= j``), shapes
    ``(k, k (k + 1) / 2)`` and ``(k (k + 1) / 2,) * 2`` (:func:`_unfold_pairs`
    unfolds their sums), a third of the arithmetic of all ``k^2`` products at
    order 4. The products are formed once for all parts, from the rows of
    ``z^T`` (gathering columns is several times slower).
    """
    weights = weights * labels
    columns = np.ascontiguousarray(z.T)
    weighted = columns * weights
    if max_order >= 3:
        pairs = _pair_products(columns)
    if max_order >= 4:
        weighted_pairs = pairs * weights
    sums = []
    for part in parts:
        raw = [weights[part].sum(), weighted[:, part].sum(axis=1)]
        if max_order >= 2:
            raw.append(weighted[:, part] @ z[part])
        if max_order >= 3:
            raw.append(weighted[:, part] @ pairs[:, part].T)
        if max_order >= 4:
            raw.append(weighted_pairs[:, part] @ pairs[:, part].T)
        sums.append(raw)
    return sums


def _unfold_pairs(raw, k):
    """Raw sums of :func:`_raw_moments` with the orders 3 and 4 unfolded from the
    distinct pairs to all of them: shapes ``(k, k^2)`` and ``(k^2, k^2)``."""
    unfold = _distinct_pairs(k)
    raw = list(raw)
    if len(raw) > 3:
        raw[3] = raw[3][:, unfold]
    if len(raw) > 4:
        raw[4] = raw[4][np.ix_(unfold, unfold)]
    return raw


@lru_cache(maxsize=8)
def _distinct_pairs(k):
    """For every ``(i, j)`` in row-major order, the position of the pair
    ``{i, j}`` among the pairs ``i <= j`` in the order of :func:`hvec`."""
    first, second, _ = _hvec_indices(k)
    positions = np.empty((k, k), dtype=np.intp)
    positions[first, second] = positions[second, first] = np.arange(len(first))
    return positions.ravel()


def _pair_products(columns):
    """The products ``c_i c_j`` of the rows of ``columns``, shape (m, n), for the
    pairs ``i <= j`` in the order of :func:`hvec`: shape (m (m + 1) / 2, n).

    Row by row into one array: gathering the rows by index arrays was measured
    10 to 20 times slower (10 and 50 rows of 10 000 to 20 000 columns).
    """
    m = len(columns)
    products = np.empty((m * (m + 1) // 2, columns.shape[1]), dtype=columns.dtype)
    start = 0
    for i in range(m):
        np.multiply(columns[i], columns[i:], out=products[start : start + m - i])
        start += m - i
    return products


def hermite_corrected(raw, k):
    """Hermite moments from the raw moments ``E[y]``, ``E[y z]``, ``E[y z z]``, ...

    ``H_2(z) = z z - I``, ``H_3(z) = z^3 - sym(z (x) I)``,
    ``H_4(z) = z^4 - sym(z z (x) I) + sym(I (x) I)``, the symmetrisations summing over
    the 3, 6 and 3 distinct placements.
    """
    max_order = len(raw) - 1
    identity = np.eye(k)
    moments = [np.asarray(raw[1], dtype=float).reshape(k)]
    if max_order >= 2:
        moments.append(raw[2] - raw[0] * identity)
    if max_order >= 3:
        third = np.reshape(raw[3], (k, k, k))
        moments.append(third - _sym_vector_identity(moments[0]))
    if max_order >= 4:
        fourth = np.reshape(raw[4], (k, k, k, k))
        moments.append(
            fourth
            - _sym_matrix_identity(np.asarray(raw[2]))
            + raw[0] * _sym_matrix_identity(identity) / 2
        )
    return moments


def _sym_vector_identity(a):
    """``sum_j a (x) e_j (x) e_j`` over its 3 distinct placements."""
    identity = np.eye(len(a))
    return (
        np.einsum("p,qr->pqr", a, identity)
        + np.einsum("q,pr->pqr", a, identity)
        + np.einsum("r,pq->pqr", a, identity)
    )


def _sym_matrix_identity(S):
    """``sum_j S (x) e_j (x) e_j`` over its 6 distinct placements (``S`` symmetric).

    For ``S = I`` this is twice ``sym(I (x) I)`` (3 pairings), hence the ``/ 2`` above.
    """
    identity = np.eye(len(S))
    return sum(
        np.einsum(f"{a},{b}->pqrs", S, identity)
        for a, b in (
            ("pq", "rs"),
            ("pr", "qs"),
            ("ps", "qr"),
            ("qr", "ps"),
            ("qs", "pr"),
            ("rs", "pq"),
        )
    )


@lru_cache(maxsize=8)
def _hvec_indices(dim):
    """Upper-triangle indices and the weights (1 on, sqrt(2) off the diagonal),
    computed once per dimension (read-only)."""
    rows, columns = np.triu_indices(dim)
    indices = rows, columns, np.where(rows == columns, 1.0, np.sqrt(2.0))
    for array in indices:
        array.flags.writeable = False
    return indices


def hvec(S):
    """Half-vectorisation of a symmetric matrix: ``hvec(A) . hvec(B) = <A, B>_F``."""
    rows, columns, weight = _hvec_indices(S.shape[0])
    return S[rows, columns] * weight


def unhvec(vector, dim):
    """The symmetric ``dim x dim`` matrix whose :func:`hvec` is ``vector``."""
    rows, columns, weight = _hvec_indices(dim)
    S = np.zeros((dim, dim))
    S[rows, columns] = vector / weight
    S[columns, rows] = vector / weight
    return S


def hvec_outer(Z):
    """``hvec(z z^T)`` of every row ``z`` of ``Z``, shape (n, m (m + 1) / 2) (the
    transpose of a C-contiguous array)."""
    products = _pair_products(np.ascontiguousarray(Z.T))
    products *= _hvec_indices(Z.shape[1])[2][:, np.newaxis]
    return products.T


def hvec_map(L):
    """The matrix ``K`` with ``hvec(L S L^T) = K hvec(S)`` for every symmetric ``S``.

    ``S = sum_ce hvec(S)_ce B_ce`` in the orthonormal basis ``B_cc = e_c e_c^T``,
    ``B_ce = (e_c e_e^T + e_e e_c^T) / sqrt(2)``, and ``(L B_ce L^T)_ab`` is
    ``(L_ac L_be + L_ae L_bc) / 2`` times that basis element's weight.
    """
    a, b, out_weight = _hvec_indices(L.shape[0])
    c, e, in_weight = _hvec_indices(L.shape[1])
    La, Lb = L[a], L[b]
    return (
        out_weight[:, np.newaxis]
        * (La[:, c] * Lb[:, e] + La[:, e] * Lb[:, c])
        * (in_weight / 2)
    )
