"""Non-orthogonal symmetric CP decomposition of small third-order tensors.

The reduced moment tensors of the tensor methods are ``k x k x k`` with ``k`` the
number of hidden units, symmetric, of rank ``k`` and with *non-orthogonal* factors, so
orthogonal tensor power iteration does not apply. Jennrich's simultaneous
diagonalisation finds the factors exactly for an exact tensor; on a noisy tensor it is
repeated over random contraction pairs, keeping the draw with the smallest residual,
and then refined by damped Gauss-Newton (Levenberg-Marquardt) on
``||T - sum_i a_i^{(x)3}||``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import itertools
from typing import NamedTuple

import numpy as np
from scipy import linalg

from ._optim import blas_controller

# A refined decomposition is rejected as degenerate when two factors have a cosine
# beyond this, or a weight exceeds this multiple of the tensor's norm.
_MAX_COHERENCE = 0.99
_MAX_WEIGHT_RATIO = 10.0
# Refinement stops once the loss has fallen by less than this fraction over the
# last _STALL_WINDOW iterations (a noisy tensor's slow drift, not convergence).
_STALL_FRACTION = 1e-3
_STALL_WINDOW = 10
# Levenberg-Marquardt: the first damping relative to the Gauss-Newton matrix's
# largest diagonal entry; steps shorter than this fraction of the point change
# nothing (a minimum to rounding).
_INITIAL_DAMPING = 1e-3
_SHORTEST_STEP = 1e-15


class SymmetricCP(NamedTuple):
    """A symmetric CP decomposition ``T ~ sum_i weights[i] factors[:, i]^{(x)p}``.

    Attributes
    ----------
    factors : ndarray of shape (dim, rank)
        Unit columns ``u_i``, each determined up to sign (for odd orders a sign flip
        of ``u_i`` flips ``weights[i]``).
    weights : ndarray of shape (rank,)
    residual : float
        Relative residual ``||T - sum_i w_i u_i^p||_F / ||T||_F``.
    """

    factors: np.ndarray
    weights: np.ndarray
    residual: float


def cp_reconstruct(factors, weights, order=3):
    """The symmetric tensor ``sum_i weights[i] factors[:, i]^{(x)order}``."""
    return np.tensordot(weights, _rank_one_terms(factors, order), axes=(0, 0))


def _rank_one_terms(factors, order):
    """The stack of ``factors[:, i]^{(x)order}``, shape ``(rank,) + (dim,) * order``."""
    columns = factors.T
    terms = columns
    for _ in range(order - 1):
        terms = terms[..., np.newaxis] * columns.reshape(
            (columns.shape[0],) + (1,) * (terms.ndim - 1) + (columns.shape[1],)
        )
    return terms


def _no_decomposition(dim, rank):
    """Zero weights, which explain none of the tensor: relative residual 1."""
    return SymmetricCP(np.eye(dim, rank), np.zeros(rank), 1.0)


def symmetric_cp(tensor, rank, *, n_draws=50, refine=True, random_state):
    """Symmetric CP decomposition of a third-order tensor with non-orthogonal factors.

    Parameters
    ----------
    tensor : ndarray of shape (dim, dim, dim)
        Symmetric tensor, ``rank <= dim``.
    rank : int
        Number of components.
    n_draws : int, default=50
        Random contraction pairs for Jennrich's algorithm; the draw with the smallest
        residual is kept.
    refine : bool, default=True
        Polish the best draw by Levenberg-Marquardt (damped Gauss-Newton).
    random_state : numpy.random.RandomState
        Source of the random contractions.

    Returns
    -------
    decomposition : SymmetricCP
    """
    tensor = np.asarray(tensor, dtype=float)
    dim = tensor.shape[0]
    norm = np.linalg.norm(tensor)
    if norm == 0 or not np.isfinite(norm):
        return _no_decomposition(dim, rank)
    # Jennrich needs an invertible slice: reduce to the rank-dimensional range.
    basis = np.linalg.svd(tensor.reshape(dim, -1), full_matrices=False)[0][:, :rank]
    core = tensor
    for _ in range(3):
        # Each contraction moves the contracted mode to the back: T(B, B, B).
        core = np.tensordot(core, basis, axes=(0, 0))
    best = None
    for _ in range(n_draws):
        factors = _jennrich_draw(core, random_state)
        if factors is None:
            continue
        candidate = fit_cp_weights(tensor, basis @ factors)
        if best is None or candidate.residual < best.residual:
            best = candidate
    if best is None:
        return _no_decomposition(dim, rank)
    if refine:
        best = refine_symmetric_cp(tensor, best)
    return best


def _jennrich_draw(core, random_state):
    """Eigenvectors of ``T(I, I, a) T(I, I, b)^{-1}`` as unit columns.

    For an exact tensor they are real. Noise can turn pairs of them into complex
    conjugates, whose real parts coincide; the pair is replaced by the real and
    imaginary parts, which span the same invariant subspace, so that no factor is
    duplicated.
    """
    rank = core.shape[0]
    a, b = random_state.standard_normal((2, rank))
    slice_a = np.tensordot(core, a, axes=(2, 0))
    slice_b = np.tensordot(core, b, axes=(2, 0))
    try:
        # slice_a slice_b^{-1} = U diag(.) U^{-1}; solve with the transposes.
        pencil = np.linalg.solve(slice_b, slice_a).T
        eigenvalues, vectors = np.linalg.eig(pencil)
    except (np.linalg.LinAlgError, ValueError):
        return None
    eigenvectors = vectors.real.copy()
    complex_pair = eigenvalues.imag > 0
    partners = np.flatnonzero(eigenvalues.imag < 0)
    for column in np.flatnonzero(complex_pair):
        conjugate = partners[
            np.argmin(np.abs(eigenvalues[partners] - eigenvalues[column].conj()))
        ]
        eigenvectors[:, conjugate] = vectors[:, column].imag
    norms = np.linalg.norm(eigenvectors, axis=0)
    if not np.all(np.isfinite(eigenvectors)) or np.any(norms == 0):
        return None
    return eigenvectors / norms


def fit_cp_weights(tensor, factors):
    """Least-squares weights of a symmetric tensor for fixed factor directions."""
    order = tensor.ndim
    factors = factors / np.linalg.norm(factors, axis=0)
    design = _rank_one_terms(factors, order).reshape(factors.shape[1], -1).T
    weights = np.linalg.lstsq(design, tensor.ravel(), rcond=None)[0]
    norm = np.linalg.norm(tensor)
    residual = np.linalg.norm(design @ weights - tensor.ravel()) / norm
    order = np.argsort(-np.abs(weights), kind="stable")
    return SymmetricCP(factors[:, order], weights[order], float(residual))


def refine_symmetric_cp(tensor, start, max_iter=100):
    """Levenberg-Marquardt refinement of a symmetric CP decomposition.

    Writes each term as ``e_i a_i^{(x)p}`` with ``a_i = |w_i|^{1/p} u_i`` and the
    sign ``e_i`` of the weight kept fixed, so the problem is unconstrained in
    ``A = [a_1 ... a_r]``. The Gauss-Newton matrix ``J^T J`` of this residual has the
    closed form ``e_i e_j (p delta_st G_ij^{p-1} + p (p-1) a_ti a_sj G_ij^{p-2})`` with
    ``G = A^T A``: ``(dim rank)^2`` entries instead of a ``dim^p x dim rank`` Jacobian.
    The problem is solved for the tensor divided by its norm (the method is
    scale-invariant; the squares of moments of data on a large scale would not
    fit in float64).
    """
    scale = np.linalg.norm(tensor)
    if not (np.isfinite(scale) and scale > 0):
        return start
    refined = _refine_unit_norm(
        tensor / scale, start._replace(weights=start.weights / scale), max_iter
    )
    if refined is None:
        return start
    return refined._replace(weights=refined.weights * scale)


def cp_loss_gradient(A, signs, tensor):
    """``||sum_i e_i a_i^p - T||^2 / 2`` and its gradient in ``A`` (flattened).

    With ``P`` the ``rank x dim^(p-1)`` matrix of the rows ``a_i^(p-1)`` (flattened),
    the residual ``R = sum_j e_j a_j^p - T`` unfolds to ``A diag(e) P - T_(1)``, and
    (``T`` symmetric) the gradient in ``a_i`` is ``p e_i R(., a_i, ..., a_i)``, the
    column ``i`` of ``p R_(1) P^T diag(e)``: two products with the unfolding, no
    contraction of ``p + 1`` operands.
    """
    order, (dim, rank) = tensor.ndim, A.shape
    powers = _rank_one_terms(A, order - 1).reshape(rank, -1)
    residual = (A * signs) @ powers - tensor.reshape(dim, -1)
    gradient = order * signs * (residual @ powers.T)
    return 0.5 * np.vdot(residual, residual), gradient.ravel()


def _refine_unit_norm(tensor, start, max_iter):
    """:func:`refine_symmetric_cp` of a tensor of unit norm; None if no better."""
    order = tensor.ndim
    dim, rank = start.factors.shape
    tensor = _symmetrize(tensor)
    signs = np.where(start.weights < 0, -1.0, 1.0)

    def loss_gradient(flat):
        return cp_loss_gradient(flat.reshape(dim, rank), signs, tensor)

    def gauss_newton(flat):
        A = flat.reshape(dim, rank)
        gram = A.T @ A
        outer_signs = np.outer(signs, signs)
        matrix = order * np.einsum(
            "st,ij->sitj", np.eye(dim), outer_signs * gram ** (order - 1)
        )
        matrix += (
            order
            * (order - 1)
            * np.einsum("sj,ti,ij->sitj", A, A, outer_signs * gram ** (order - 2))
        )
        return matrix.reshape(dim * rank, dim * rank)

    A0 = start.factors * np.abs(start.weights) ** (1.0 / order)
    # Threads only add overhead to the factorisations of these small matrices.
    with blas_controller().limit(limits=1, user_api="blas"):
        solution = _levenberg_marquardt(
            loss_gradient, gauss_newton, A0.ravel(), max_iter
        )
    A = solution.reshape(dim, rank)
    if not np.all(np.isfinite(A)) or np.any(np.linalg.norm(A, axis=0) == 0):
        return None
    refined = fit_cp_weights(tensor, A)
    if refined.residual >= start.residual or _degenerate(refined, tensor):
        return None
    return refined


def _levenberg_marquardt(loss_gradient, gauss_newton, x, max_iter):
    """Minimise a least-squares loss by Levenberg-Marquardt steps.

    Each step solves ``(J^T J + mu I) s = -g`` with the Gauss-Newton matrix given in
    closed form; the damping ``mu`` follows Nielsen's rule (shrunk by up to 3 after
    a step that decreases the loss as its model predicts, doubled at every rejected
    step). Stops after ``max_iter`` steps, once the loss has fallen by less than
    ``_STALL_FRACTION`` over ``_STALL_WINDOW`` steps (a noisy tensor's slow drift,
    not convergence), when the steps no damping rejects are too short to change
    ``x`` (a minimum to rounding), or when no finite damping gives a decrease (a
    point where the loss is not finite).
    """
    loss, gradient = loss_gradient(x)
    losses = [loss]
    damping, growth = None, 2.0
    for _ in range(max_iter):
        matrix = gauss_newton(x)
        if damping is None:
            damping = _INITIAL_DAMPING * max(
                np.diag(matrix).max(), np.finfo(float).tiny
            )
        while True:
            step = _damped_solve(matrix, damping, gradient)
            if step is not None:
                if np.linalg.norm(step) <= _SHORTEST_STEP * np.linalg.norm(x):
                    return x
                trial_loss, trial_gradient = loss_gradient(x + step)
                predicted = -(gradient @ step + 0.5 * step @ matrix @ step)
                if np.isfinite(trial_loss) and trial_loss < loss and predicted > 0:
                    break
            damping *= growth
            growth *= 2.0
            if not np.isfinite(damping):
                return x
        ratio = (loss - trial_loss) / predicted
        damping *= max(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)
        growth = 2.0
        x, loss, gradient = x + step, trial_loss, trial_gradient
        losses.append(loss)
        if len(losses) > _STALL_WINDOW:
            earlier = losses[-1 - _STALL_WINDOW]
            if earlier - loss < _STALL_FRACTION * earlier:
                break
    return x


def _damped_solve(matrix, damping, gradient):
    """``-(matrix + damping I)^{-1} gradient`` by Cholesky; None if not definite."""
    damped = matrix + damping * np.eye(len(matrix))
    try:
        factor = linalg.cho_factor(damped, check_finite=False)
    except linalg.LinAlgError:
        return None
    return -linalg.cho_solve(factor, gradient, check_finite=False)


def _degenerate(decomposition, tensor):
    """Whether a decomposition has drifted towards a degenerate one.

    A tensor with no best rank-``r`` approximation (noise, typically) lets the
    residual decrease along nearly parallel components with large weights of
    opposite signs that cancel; such factors mean nothing.
    """
    factors = decomposition.factors
    coherence = np.abs(factors.T @ factors - np.eye(factors.shape[1])).max(initial=0)
    largest = np.abs(decomposition.weights).max(initial=0)
    return coherence > _MAX_COHERENCE or largest > _MAX_WEIGHT_RATIO * np.linalg.norm(
        tensor
    )


def _symmetrize(tensor):
    """Average of a tensor over all permutations of its modes."""
    modes = range(tensor.ndim)
    permutations = list(itertools.permutations(modes))
    return sum(tensor.transpose(p) for p in permutations) / len(permutations)


class Diagonalization(NamedTuple):
    """Common diagonaliser ``Z`` of a subspace ``{Z D Z^T : D diagonal}``.

    Attributes
    ----------
    factors : ndarray of shape (dim, dim)
        Unit columns ``z_i``, each up to sign.
    eigen_gap : float
        Smallest gap between the eigenvalues of the kept random combination,
        relative to the largest: the stability of the split.
    anchored : bool
        Whether the positive-definite anchor was used (else plain Jennrich pairs).
    """

    factors: np.ndarray
    eigen_gap: float
    anchored: bool


def simultaneous_diagonalization(basis, *, n_trials=20, n_sweeps=30, random_state):
    """Columns ``z_i`` such that ``basis`` spans ``{sum_i d_i z_i z_i^T}``.

    Each trial splits a random combination ``M_1`` of the basis against the
    projection ``M_2`` of the identity onto the span, which is positive definite
    when the ``z_i`` are not far from orthogonal: ``M_2^{-1/2} M_1 M_2^{-1/2}`` is
    symmetric, its orthogonal eigenvectors ``O`` give ``Z ~ M_2^{1/2} O``. When the
    anchor is not definite, trials are Jennrich pairs ``M_1 M_2^{-1}``. The trial
    with the largest relative eigen-gap is kept, then refined by alternating
    projection, ``z_i <- top eigenvector of P_S(z_i z_i^T)``, which takes the error
    down to the noise of the subspace.

    Parameters
    ----------
    basis : ndarray of shape (dim, dim, dim)
        Frobenius-orthonormal symmetric matrices ``basis[s]``.
    n_trials : int, default=20
    n_sweeps : int, default=30
    random_state : numpy.random.RandomState

    Returns
    -------
    diagonalization : Diagonalization
    """
    dim = basis.shape[0]
    flat = basis.reshape(dim, -1)

    def project(M):
        return np.tensordot(flat @ M.ravel(), basis, axes=1)

    anchor = project(np.eye(dim))
    values, vectors = np.linalg.eigh(anchor)
    if values.sum() < 0:
        values = -values[::-1]
        vectors = vectors[:, ::-1]
    anchored = values[0] > 1e-8 * values[-1]
    if anchored:
        root = (vectors * np.sqrt(values)) @ vectors.T
        inverse_root = (vectors / np.sqrt(values)) @ vectors.T
    best = None
    for _ in range(n_trials):
        if anchored:
            combination = np.tensordot(random_state.standard_normal(dim), basis, axes=1)
            eigenvalues, rotation = np.linalg.eigh(
                inverse_root @ combination @ inverse_root
            )
            factors = root @ rotation
        else:
            factors = _jennrich_draw(np.moveaxis(basis, 0, -1), random_state)
            if factors is None:
                continue
            eigenvalues = np.einsum(
                "ai,ab,bi->i",
                factors,
                np.tensordot(random_state.standard_normal(dim), basis, axes=1),
                factors,
            )
        gap = _relative_gap(eigenvalues)
        if best is None or gap > best[1]:
            best = (factors / np.linalg.norm(factors, axis=0), gap)
    if best is None:
        return Diagonalization(np.eye(dim), 0.0, anchored)
    factors = best[0].copy()
    for _ in range(n_sweeps):
        for i in range(dim):
            values_i, vectors_i = np.linalg.eigh(
                project(np.outer(factors[:, i], factors[:, i]))
            )
            factors[:, i] = vectors_i[:, np.argmax(np.abs(values_i))]
    return Diagonalization(factors, best[1], bool(anchored))


def _relative_gap(eigenvalues):
    if len(eigenvalues) < 2:
        return np.inf
    spread = np.max(np.abs(eigenvalues))
    gaps = np.diff(np.sort(eigenvalues))
    return float(gaps.min() / spread) if spread > 0 else 0.0
