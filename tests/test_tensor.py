import numpy as np
import pytest

from skrecover._moments import hvec, unhvec
from skrecover._tensor import (
    SymmetricCP,
    cp_loss_gradient,
    cp_reconstruct,
    fit_cp_weights,
    refine_symmetric_cp,
    simultaneous_diagonalization,
    symmetric_cp,
)


def planted(rank, dim, seed, order=3):
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((dim, rank))
    factors /= np.linalg.norm(factors, axis=0)
    weights = rng.choice([-1, 1], rank) * rng.uniform(0.5, 2.0, rank)
    return factors, weights, cp_reconstruct(factors, weights, order)


def factor_error(true, found):
    """1 - the worst |cosine| between a true factor and its best match."""
    return 1 - np.abs(true.T @ found).max(axis=1).min()


def symmetric_noise(shape, seed):
    noise = np.random.default_rng(seed).standard_normal(shape)
    axes = range(len(shape))
    import itertools

    return sum(noise.transpose(p) for p in itertools.permutations(axes))


@pytest.mark.parametrize("order, dim, rank", [(3, 6, 4), (4, 5, 3), (4, 8, 8)])
def test_cp_loss_gradient_matches_the_residual_and_its_differences(order, dim, rank):
    """The loss is half the squared residual of the signed rank-one terms; the
    gradient (closed form) matches central differences of it."""
    factors, weights, tensor = planted(rank, dim, order, order)
    tensor = tensor + 0.1 * symmetric_noise((dim,) * order, order)
    signs = np.sign(weights)
    A = np.random.default_rng(dim).standard_normal((dim, rank))
    loss, gradient = cp_loss_gradient(A, signs, tensor)
    residual = cp_reconstruct(A, signs, order) - tensor
    assert loss == pytest.approx(0.5 * np.sum(residual**2), rel=1e-12)
    step, flat = 1e-6, A.ravel()
    differences = [
        (
            cp_loss_gradient((flat + step * e).reshape(A.shape), signs, tensor)[0]
            - cp_loss_gradient((flat - step * e).reshape(A.shape), signs, tensor)[0]
        )
        / (2 * step)
        for e in np.eye(flat.size)
    ]
    assert np.allclose(gradient, differences, rtol=1e-6, atol=1e-6 * loss)


@pytest.mark.parametrize("rank", [1, 2, 3, 5, 8])
def test_exact_non_orthogonal_factors_are_recovered(rank):
    factors, weights, tensor = planted(rank, rank, seed=rank)
    result = symmetric_cp(tensor, rank, random_state=np.random.RandomState(0))
    assert result.residual < 1e-12
    assert factor_error(factors, result.factors) < 1e-12
    reconstruction = cp_reconstruct(result.factors, result.weights)
    assert np.allclose(reconstruction, tensor, atol=1e-12)


def test_rank_below_dimension():
    factors, weights, tensor = planted(3, 6, seed=0)
    result = symmetric_cp(tensor, 3, random_state=np.random.RandomState(0))
    assert result.residual < 1e-12
    assert factor_error(factors, result.factors) < 1e-12


@pytest.mark.parametrize("rank", [5, 10])
def test_noisy_tensor_error_scales_with_noise(rank):
    factors, weights, tensor = planted(rank, rank, seed=1)
    noise = symmetric_noise(tensor.shape, 2)
    errors = []
    for level in (1e-3, 1e-2):
        noisy = tensor + level * np.linalg.norm(tensor) * noise / np.linalg.norm(noise)
        result = symmetric_cp(noisy, rank, random_state=np.random.RandomState(0))
        assert result.residual < 2 * level
        errors.append(factor_error(factors, result.factors))
    assert errors[1] < 1e-2
    assert errors[0] < errors[1]


def test_refinement_beats_jennrich_alone_on_noisy_tensors():
    factors, weights, tensor = planted(10, 10, seed=3)
    noise = symmetric_noise(tensor.shape, 4)
    noisy = tensor + 0.01 * np.linalg.norm(tensor) * noise / np.linalg.norm(noise)
    raw = symmetric_cp(noisy, 10, refine=False, random_state=np.random.RandomState(0))
    polished = symmetric_cp(noisy, 10, random_state=np.random.RandomState(0))
    assert polished.residual < raw.residual
    assert factor_error(factors, polished.factors) < 1e-3


def test_fourth_order_refinement_from_a_perturbed_start():
    factors, weights, tensor = planted(4, 4, seed=5, order=4)
    start = fit_cp_weights(
        tensor, factors + 0.1 * np.random.default_rng(0).standard_normal((4, 4))
    )
    result = refine_symmetric_cp(tensor, start)
    assert result.residual < 1e-10
    assert factor_error(factors, result.factors) < 1e-10


def test_refinement_from_a_start_with_no_finite_loss_returns_the_start():
    """No damping decreases a NaN loss: the refinement ends (the start is kept)."""
    factors, weights, tensor = planted(4, 4, seed=5, order=4)
    start = fit_cp_weights(tensor, factors)
    start = start._replace(factors=np.where(np.eye(4, dtype=bool), np.nan, 0.5))
    assert refine_symmetric_cp(tensor, start) is start


def test_deterministic_under_random_state():
    _, _, tensor = planted(4, 4, seed=6)
    tensor = tensor + 0.05 * symmetric_noise(tensor.shape, 7) / 10
    first = symmetric_cp(tensor, 4, random_state=np.random.RandomState(3))
    second = symmetric_cp(tensor, 4, random_state=np.random.RandomState(3))
    assert np.array_equal(first.factors, second.factors)
    assert np.array_equal(first.weights, second.weights)


def test_noise_tensor_gives_distinct_factors_not_degenerate_ones():
    """Complex eigenpairs must not duplicate factors, and refinement must not drift
    to cancelling components."""
    tensor = symmetric_noise((3, 3, 3), 8)
    result = symmetric_cp(tensor, 3, random_state=np.random.RandomState(0))
    cosines = np.abs(result.factors.T @ result.factors - np.eye(3))
    assert cosines.max() < 0.99
    assert np.abs(result.weights).max() < 10 * np.linalg.norm(tensor)


def test_zero_tensor():
    result = symmetric_cp(np.zeros((2, 2, 2)), 2, random_state=np.random.RandomState(0))
    assert isinstance(result, SymmetricCP)
    # No components: zero weights, which explain none of it (not an infinite
    # residual, which diagnostics_ and the warnings reported as "inf").
    assert result.residual == 1.0
    assert np.all(result.weights == 0)


def _span_basis(Z, noise, rng):
    """Orthonormal basis of span{z_i z_i^T}, perturbed by ``noise``."""
    spans = np.array([hvec(np.outer(z, z)) for z in Z.T])
    spans += noise * rng.standard_normal(spans.shape)
    q = np.linalg.qr(spans.T)[0]
    return np.array([unhvec(v, len(Z)) for v in q.T])


def _column_error(Z, estimate):
    cosines = np.abs(Z.T @ estimate) / np.outer(
        np.linalg.norm(Z, axis=0), np.linalg.norm(estimate, axis=0)
    )
    return 1 - cosines.max(axis=1).min()


@pytest.mark.parametrize("spread", [0.3, 3.0])
def test_simultaneous_diagonalization_recovers_planted_factors(spread):
    """Near-orthogonal factors use the positive-definite anchor; strongly
    non-orthogonal ones (spread 3) may fall back to Jennrich pairs."""
    rng = np.random.default_rng(0)
    Z = np.eye(5) + spread / 5 * rng.standard_normal((5, 5))
    exact = simultaneous_diagonalization(
        _span_basis(Z, 0.0, rng), random_state=np.random.RandomState(0)
    )
    assert _column_error(Z, exact.factors) < 1e-12
    if spread < 1:
        assert exact.anchored
    noisy = simultaneous_diagonalization(
        _span_basis(Z, 1e-4, rng), random_state=np.random.RandomState(0)
    )
    assert _column_error(Z, noisy.factors) < 1e-5
