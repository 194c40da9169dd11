"""Chunked, weighted empirical Hermite moments.

All estimators of the moment family read ``X`` here, chunk by chunk, with sample
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

import numpy as np

from ._network import chunk_rows, gather_patches

# Subsamples copied for diagnostics hold at most this many bytes.
_CHUNK_BYTES = 2**23
# Random directions along which input symmetry is checked, on this many rows
# (standard error of the skewness sqrt(15 / 10 000) = 0.04).
_N_DIRECTIONS = 50
_DIRECTION_ROWS = 10_000


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
    """

    def __init__(self, X, sample_weight, *, whitening=None, patch_indices=None):
        self.X = X
        self.sample_weight = sample_weight
        self.whitening = whitening
        self.patch_indices = patch_indices

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

    def projected_hermite_moments(self, y, basis, max_order, *, quadratic=None):
        """Hermite moments of ``z = V^T R x`` for an orthonormal basis ``V``."""
        return projected_hermite_moments(
            self.X,
            y,
            self.sample_weight,
            self.to_original(basis.T).T,
            max_order,
            quadratic=quadratic,
            patch_indices=self.patch_indices,
        )

    def _options(self):
        return {"whitening": self.whitening, "patch_indices": self.patch_indices}


def _chunks(X, y, sample_weight, patch_indices):
    """Yield ``(rows, weights, labels)`` in float64 over the (patch) rows of ``X``.

    ``rows`` has shape (n_chunk * n_patches, patch_size); ``weights`` holds
    ``s_i / (n_patches sum_i s_i)`` for each of them, so that weighted sums over all
    chunks are weighted means; ``labels`` holds the matching ``y_i`` (None without
    ``y``).
    """
    n_samples = X.shape[0]
    n_patches = 1 if patch_indices is None else patch_indices.shape[0]
    scale = 1.0 / (float(sample_weight.sum()) * n_patches)
    step = chunk_rows(X.shape[1] if patch_indices is None else patch_indices.size)
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        patches = gather_patches(X[start:stop], patch_indices)
        rows = patches.reshape(-1, patches.shape[-1]).astype(np.float64, copy=False)
        weights = np.repeat(sample_weight[start:stop] * scale, n_patches)
        labels = None if y is None else np.repeat(y[start:stop], n_patches)
        yield rows, weights, labels


def second_moment(X, sample_weight, *, patch_indices=None):
    """``E[x x^T]``, shape (d, d)."""
    total = 0.0
    for rows, weights, _ in _chunks(X, None, sample_weight, patch_indices):
        total = total + rows.T @ (weights[:, np.newaxis] * rows)
    return total


def first_moment(X, y, sample_weight, *, whitening=None, patch_indices=None):
    """The first Hermite moment ``M_1 = E[y x]`` (of the whitened inputs ``R x``)."""
    total = 0.0
    for rows, weights, labels in _chunks(X, y, sample_weight, patch_indices):
        total = total + rows.T @ (weights * labels)
    return total if whitening is None else whitening @ total


def remove_linear_part(X, y, coefficients, *, patch_indices=None):
    """``y - sum_l x_l^T c``: the labels minus their first-order Hermite term.

    Every Hermite moment of order ``j >= 2`` is unchanged (``E[(c^T x) H_j(x)] = 0``)
    while the variance of their estimates drops, often several-fold: the linear
    part of a ReLU network's output is most of its variance and none of its
    higher moments. (For patch models the linear part sums over the patches.)
    """
    residual = np.array(y, dtype=np.float64)
    step = chunk_rows(X.shape[1] if patch_indices is None else patch_indices.size)
    for start in range(0, X.shape[0], step):
        patches = gather_patches(X[start : start + step], patch_indices)
        linear = patches @ coefficients.astype(patches.dtype, copy=False)
        residual[start : start + step] -= linear.sum(axis=1)
    return residual


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
    total, mean, variance = 0.0, 0.0, 0.0
    for rows, weights, labels in _chunks(X, y, sample_weight, patch_indices):
        weighted = weights * labels
        projected = rows if effective is None else rows @ effective
        total = total + rows.T @ (weighted[:, np.newaxis] * projected)
        mean += weighted.sum()
        if return_noise:
            white = rows if whitening is None else rows @ whitening
            gram = _patch_gram(white, n_patches)
            # ||sum_l H_2(x_l)||_F^2 = sum_lm (x_l^T x_m)^2 - 2 r sum_l |x_l|^2 + r^2 d
            squared_norms = np.einsum("ill->i", gram)
            hermite_norm = (
                np.einsum("ilm,ilm->i", gram, gram)
                - 2 * n_patches * squared_norms
                + n_patches**2 * rows.shape[1]
            ) / n_patches**2
            variance += _per_sample(weighted * labels, n_patches).sum(1) @ hermite_norm
    if whitening is not None:
        total = whitening @ total
    identity = np.eye(total.shape[0]) if basis is None else basis
    product = total - mean * identity
    if return_noise:
        return product, variance / product.shape[0] ** 2
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
    cubic, first, left_mean, right_mean, variance = 0.0, 0.0, 0.0, 0.0, 0.0
    for rows, weights, labels in _chunks(X, y, sample_weight, patch_indices):
        weighted = weights * labels
        along_left, along_right = rows @ project_left, rows @ project_right
        product = along_left * along_right
        cubic = cubic + rows.T @ (weighted[:, np.newaxis] * product)
        first = first + rows.T @ weighted
        left_mean = left_mean + weighted @ along_left
        right_mean = right_mean + weighted @ along_right
        if return_noise:
            white = rows if whitening is None else rows @ whitening
            norms = _sketch_summand_norms(
                white, along_left, along_right, inner, n_patches
            )
            variance += _per_sample(weighted * labels, n_patches).sum(1) @ norms
    if whitening is not None:
        cubic, first = whitening @ cubic, whitening @ first
    sketch = cubic - np.outer(first, inner) - left * right_mean - right * left_mean
    if return_noise:
        return sketch, variance / (sketch.shape[0] * sketch.shape[1])
    return sketch


def _sketch_summand_norms(rows, along_left, along_right, inner, n_patches):
    """``sum_c ||mean_l g_lc||^2`` per sample, ``g_lc = M_3``'s summand of patch l.

    ``g = (t_a t_b - a^T b) x - t_b a - t_a b`` for unit ``a``, ``b``, with
    ``t_a = a^T x``; summed over patches, ``S = sum_l alpha_l x_l`` has
    ``||S||^2 = alpha^T G alpha`` with ``G`` the Gram matrix of the patches.
    """
    alpha = _per_sample(along_left * along_right - inner, n_patches)
    t_left = _per_sample(along_left, n_patches)
    t_right = _per_sample(along_right, n_patches)
    gram = _patch_gram(rows, n_patches)
    sum_left, sum_right = t_left.sum(1), t_right.sum(1)
    squared = (
        np.einsum("ilc,ilm,imc->ic", alpha, gram, alpha)
        + sum_left**2
        + sum_right**2
        - 2 * sum_right * np.einsum("ilc,ilc->ic", alpha, t_left)
        - 2 * sum_left * np.einsum("ilc,ilc->ic", alpha, t_right)
        + 2 * sum_left * sum_right * inner
    )
    return squared.sum(axis=1) / n_patches**2


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
    X, y, sample_weight, projection, max_order, *, quadratic=None, patch_indices=None
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

    Returns
    -------
    moments : list of ndarray
        ``moments[j - 1]`` has shape ``(k,) * j``.
    """
    k = projection.shape[1]
    n_patches = 1 if patch_indices is None else patch_indices.shape[0]
    raw = [0.0] * (max_order + 1)
    for rows, weights, labels in _chunks(X, y, sample_weight, patch_indices):
        z = rows @ projection
        if quadratic is not None:
            term = 0.5 * (
                np.einsum("ni,ij,nj->n", z, quadratic, z) - np.trace(quadratic)
            )
            term = term.reshape(-1, n_patches).sum(axis=1)
            labels = labels - np.repeat(term, n_patches)
        weights = weights * labels
        weighted = weights[:, np.newaxis] * z
        raw[0] += weights.sum()
        raw[1] = raw[1] + weighted.sum(axis=0)
        if max_order >= 2:
            raw[2] = raw[2] + weighted.T @ z
        if max_order >= 3:
            outer = (z[:, :, np.newaxis] * z[:, np.newaxis, :]).reshape(len(z), k * k)
            raw[3] = raw[3] + weighted.T @ outer
        if max_order >= 4:
            raw[4] = raw[4] + (weights[:, np.newaxis] * outer).T @ outer
    return hermite_corrected(raw, k)


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


def feature_statistics(X, sample_weight, *, random_state):
    """Per-feature mean, variance, skewness and excess kurtosis of ``X``.

    Computed on a random subsample of at most 8 MB (and at least 2 000 rows) as a
    cheap check of the Gaussian or symmetric input assumptions; the subsample is
    the only copy made. Also the largest eigenvalue of the correlation matrix
    (power iteration, never forming it), about ``(1 + sqrt(d / n))**2`` for
    independent features, and the skewness ``E[p^3] / E[p^2]^{3/2}`` of the
    uncentred projections ``p = g^T x`` on random Gaussian directions ``g``: zero in
    expectation for inputs symmetric about 0, with standard error ``sqrt(15 / n)``.

    Returns
    -------
    stats : dict
        ``mean``, ``variance``, ``skewness``, ``kurtosis`` (arrays of shape (d,)),
        ``direction_skewness`` (shape (50,), on ``direction_rows`` of the rows),
        ``correlation_eigenvalue`` and ``n_rows`` (the number of rows used).
    """
    n_samples, n_features = X.shape
    max_rows = max(2000, _CHUNK_BYTES // (8 * n_features))
    if n_samples > max_rows:
        rows = np.sort(random_state.choice(n_samples, max_rows, replace=False))
    else:
        rows = np.arange(n_samples)
    standard = np.array(X[rows], dtype=np.float64)
    weights = sample_weight[rows] / sample_weight[rows].sum()
    # The subsample is random: its first rows are a smaller random subsample.
    head = slice(0, _DIRECTION_ROWS)
    along = standard[head] @ random_state.standard_normal((n_features, _N_DIRECTIONS))
    head_weights = weights[head] / weights[head].sum()
    second = np.einsum("i,ij,ij->j", head_weights, along, along)
    third = np.einsum("i,ij,ij,ij->j", head_weights, along, along, along)
    direction_skewness = third / np.where(second > 0, second, 1.0) ** 1.5
    mean = weights @ standard
    standard -= mean
    variance = np.einsum("i,ij,ij->j", weights, standard, standard)
    standard /= np.sqrt(np.where(variance > 0, variance, 1.0))
    return {
        "mean": mean,
        "variance": variance,
        "skewness": np.einsum("i,ij,ij,ij->j", weights, standard, standard, standard),
        "kurtosis": np.einsum("i,ij,ij,ij,ij->j", weights, *[standard] * 4) - 3.0,
        "direction_skewness": direction_skewness,
        "direction_rows": len(along),
        "correlation_eigenvalue": _top_eigenvalue(standard, weights),
        "n_rows": len(rows),
    }


def _top_eigenvalue(standard, weights, n_iter=30):
    """Largest eigenvalue of ``E[s s^T]`` by power iteration on the rows ``s``."""
    vector = np.ones(standard.shape[1]) / np.sqrt(standard.shape[1])
    value = 0.0
    for _ in range(n_iter):
        product = standard.T @ (weights * (standard @ vector))
        value = float(np.linalg.norm(product))
        if value == 0:
            break
        vector = product / value
    return value


def _hvec_indices(dim):
    """Upper-triangle indices and the weights (1 on, sqrt(2) off the diagonal)."""
    rows, columns = np.triu_indices(dim)
    return rows, columns, np.where(rows == columns, 1.0, np.sqrt(2.0))


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
    """``hvec(z z^T)`` of every row ``z`` of ``Z``, shape (n, m (m + 1) / 2)."""
    rows, columns, weight = _hvec_indices(Z.shape[1])
    return Z[:, rows] * Z[:, columns] * weight


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
