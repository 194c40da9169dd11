import warnings

import numpy as np
import pytest
from numpy.polynomial import hermite_e

from skrecover import _assumptions, _engine, _moments
from skrecover.datasets import make_teacher_regression


@pytest.fixture
def small_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = rng.standard_normal(40)
    weights = rng.uniform(0.2, 3.0, 40)
    return X, y, weights


def contract(tensor, u):
    """``T(u, ..., u)``: a symmetric tensor is determined by these values."""
    for _ in range(np.ndim(tensor)):
        tensor = np.tensordot(tensor, u, axes=(0, 0))
    return float(tensor)


def test_projected_moments_are_the_hermite_moments(small_data):
    """Polarisation: ``E[y H_j(x)](u, ..., u) = E[y He_j(u^T x)]`` for unit ``u``,
    which characterises the symmetric tensor ``E[y H_j(x)]`` completely."""
    X, y, weights = small_data
    moments = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 4)
    rng = np.random.default_rng(8)
    for u in rng.standard_normal((25, 4)):
        u /= np.linalg.norm(u)
        for j, moment in enumerate(moments, start=1):
            he_j = hermite_e.hermeval(X @ u, np.eye(j + 1)[j])
            assert contract(moment, u) == pytest.approx(
                np.average(y * he_j, weights=weights), abs=1e-12
            )


def test_raw_moments_from_distinct_pairs_equal_all_products(small_data):
    """Orders 3 and 4 are taken on the products ``z_i z_j``, ``i <= j``, only:
    every entry of the unfolded sums equals the sum of its own products."""
    X, y, weights = small_data
    raw = _moments._unfold_pairs(_moments._raw_moments(X, weights, y, 4)[0], 4)
    wy = weights * y
    assert np.allclose(raw[3], np.einsum("n,ni,nj,nk->ijk", wy, X, X, X).reshape(4, 16))
    assert np.allclose(
        raw[4], np.einsum("n,ni,nj,nk,nl->ijkl", wy, X, X, X, X).reshape(16, 16)
    )
    parts = (slice(None, 15), slice(15, None))
    for part, sums in zip(
        parts, _moments._raw_moments(X, weights, y, 4, parts), strict=True
    ):
        whole = _moments._raw_moments(X[part], weights[part], y[part], 4)[0]
        for order in range(5):
            assert np.allclose(sums[order], whole[order])


def test_projection_commutes_with_hermite_tensors(small_data):
    X, y, weights = small_data
    basis = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 2)))[0]
    full = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 4)
    projected = _moments.projected_hermite_moments(X, y, weights, basis, 4)
    assert np.allclose(
        projected[2], np.einsum("abc,ap,bq,cr->pqr", full[2], basis, basis, basis)
    )
    assert np.allclose(
        projected[3],
        np.einsum("abcd,ap,bq,cr,ds->pqrs", full[3], basis, basis, basis, basis),
    )


def test_p2_product_and_m3_sketch_equal_moment_contractions(small_data):
    X, y, weights = small_data
    rng = np.random.default_rng(2)
    full = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 3)
    block = rng.standard_normal((4, 3))
    assert np.allclose(_moments.p2_product(X, y, weights), full[1])
    assert np.allclose(_moments.p2_product(X, y, weights, block), full[1] @ block)
    left, right = rng.standard_normal((2, 4, 5))
    left /= np.linalg.norm(left, axis=0)
    right /= np.linalg.norm(right, axis=0)
    expected = np.einsum("pqr,qa,ra->pa", full[2], left, right)
    assert np.allclose(_moments.m3_sketch(X, y, weights, left, right), expected)
    assert np.allclose(_moments.first_moment(X, y, weights), full[0])


def test_float32_inputs_take_moments_in_float32_and_sum_in_float64(monkeypatch):
    """Each block computes in float32 (no copy of the rows to float64); the sums
    over blocks are float64; the moments agree with those of the same values in
    float64 to float32 rounding."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 5)).astype(np.float32)
    y, weights = rng.standard_normal(3000), rng.uniform(0.2, 3.0, 3000)
    monkeypatch.setattr(_engine, "block_rows", lambda width: 700)
    seen = set()

    def block(rows, block_weights, labels):
        seen.update({rows.dtype, block_weights.dtype, labels.dtype})
        return rows.T @ (block_weights * labels), block_weights.sum()

    total, weight = _moments._reduce_patches(block, X, y, weights, None)
    assert seen == {np.dtype(np.float32)}
    assert total.dtype == np.float64 and weight.dtype == np.float64
    left, right = rng.standard_normal((2, 5, 3))
    for single, double in [
        (
            _moments.projected_hermite_moments(X, y, weights, np.eye(5), 4),
            _moments.projected_hermite_moments(
                X.astype(float), y, weights, np.eye(5), 4
            ),
        ),
        (
            [_moments.m3_sketch(X, y, weights, left, right)],
            [_moments.m3_sketch(X.astype(float), y, weights, left, right)],
        ),
        (
            [_moments.p2_product(X, y, weights, return_noise=True)[0]],
            [_moments.p2_product(X.astype(float), y, weights, return_noise=True)[0]],
        ),
    ]:
        for a, b in zip(single, double, strict=True):
            assert a.dtype == np.float64
            assert np.abs(a - b).max() < 1e-5 * max(np.abs(b).max(), 1.0)
    # Fourth powers of entries of 1e12 overflow float32: those blocks are taken
    # again in float64, without a warning.
    X[:100] *= np.float32(1e12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = _moments.projected_hermite_moments(X, y, weights, np.eye(5), 4)
    double = _moments.projected_hermite_moments(
        X.astype(float), y, weights, np.eye(5), 4
    )
    for a, b in zip(single, double, strict=True):
        assert np.all(np.isfinite(a))
        assert np.abs(a - b).max() < 1e-5 * np.abs(b).max()


def test_whitened_moments_equal_moments_of_whitened_inputs(small_data):
    X, y, weights = small_data
    rng = np.random.default_rng(3)
    R = rng.standard_normal((4, 4))
    R = R @ R.T + np.eye(4)
    white = X @ R
    block = rng.standard_normal((4, 2))
    assert np.allclose(
        _moments.p2_product(X, y, weights, block, whitening=R),
        _moments.p2_product(white, y, weights, block),
    )
    left, right = np.linalg.qr(rng.standard_normal((4, 4)))[0][:, :2], np.eye(4)[:, :2]
    assert np.allclose(
        _moments.m3_sketch(X, y, weights, left, right, whitening=R),
        _moments.m3_sketch(white, y, weights, left, right),
    )
    assert np.allclose(
        _moments.first_moment(X, y, weights, whitening=R),
        _moments.first_moment(white, y, weights),
    )


def test_quadratic_control_leaves_higher_moments_unbiased():
    """Subtracting <M_2, H_2(z)>/2 from y leaves E[y H_3] unchanged and cuts the
    spread of its estimate (over 30 independent samples)."""
    rng = np.random.default_rng(4)
    truth = 0.3 * 6  # y = ... + 0.3 He_3(x_0) and E[He_3(x)^2] = 3! = 6
    plain, controlled = [], []
    for _ in range(30):
        X = rng.standard_normal((20_000, 3))
        y = (
            2.0 * (X[:, 0] ** 2 - 1)
            + X[:, 1] * X[:, 2]
            + 0.3 * (X[:, 0] ** 3 - 3 * X[:, 0])
        )
        weights = np.ones(len(y))
        moments = _moments.projected_hermite_moments(X, y, weights, np.eye(3), 3)
        with_control = _moments.projected_hermite_moments(
            X, y, weights, np.eye(3), 3, quadratic=moments[1]
        )
        plain.append(moments[2][0, 0, 0])
        controlled.append(with_control[2][0, 0, 0])
    controlled = np.array(controlled)
    assert abs(controlled.mean() - truth) < 3 * controlled.std() / np.sqrt(30)
    assert controlled.std() < 0.7 * np.std(plain)


def test_float64_inputs_take_the_initialising_moments_in_float32(monkeypatch):
    """P_2, the M_3 sketch and the projected moments only start a descent: from
    ``_SINGLE_MIN_ROWS`` rows on, float64 rows are cast to float32 block by block
    (sums in float64); a block whose cast or products overflow float32 is taken
    again in float64, without a warning."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((2000, 4))
    y = rng.standard_normal(2000)
    weights = np.ones(2000)
    seen = []
    raw_moments = _moments._raw_moments

    def spy(z, *args, **kwargs):
        seen.append(z.dtype)
        return raw_moments(z, *args, **kwargs)

    monkeypatch.setattr(_moments, "_raw_moments", spy)
    exact = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 4)
    assert set(seen) == {np.dtype(np.float64)}
    monkeypatch.setattr(_moments, "_SINGLE_MIN_ROWS", 1000)
    seen.clear()
    moments = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 4)
    assert set(seen) == {np.dtype(np.float32)}
    for single, double in zip(moments, exact, strict=True):
        assert single.dtype == np.float64
        np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-6)
        assert not np.array_equal(single, double)
    X[:10] *= 1e40
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _moments.p2_product(X, y, weights)
        moments = _moments.projected_hermite_moments(X, y, weights, np.eye(4), 2)
    assert np.dtype(np.float64) in seen
    expected = np.mean(y[:, None, None] * (X[:, :, None] * X[:, None, :]), axis=0)
    np.testing.assert_allclose(second, expected - y.mean() * np.eye(4), rtol=1e-5)
    np.testing.assert_allclose(moments[1], second, rtol=1e-5)


def test_linear_part_removal_keeps_moments_of_order_two_and_more(small_data):
    X, y, weights = small_data
    coefficients = _moments.first_moment(X, y, weights)
    residual = _moments.remove_linear_part(X, y, coefficients)
    assert np.allclose(residual, y - X @ coefficients)


def test_sample_weights_equal_repetition_and_chunks_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 5))
    y = rng.standard_normal(300)
    counts = rng.integers(0, 4, 300)
    basis = np.linalg.qr(rng.standard_normal((5, 3)))[0]
    weighted = _moments.projected_hermite_moments(X, y, counts * 1.0, basis, 4)
    repeated = _moments.projected_hermite_moments(
        np.repeat(X, counts, axis=0),
        np.repeat(y, counts),
        np.ones(counts.sum()),
        basis,
        4,
    )
    for a, b in zip(weighted, repeated, strict=False):
        assert np.allclose(a, b, atol=1e-13)
    monkeypatch.setattr(_engine, "_BLOCK_FLOATS", 10)  # 256-row blocks
    chunked = _moments.projected_hermite_moments(X, y, counts * 1.0, basis, 4)
    for a, b in zip(weighted, chunked, strict=False):
        assert np.allclose(a, b, atol=1e-13)


def test_patch_moments_average_over_patches():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 6))
    y = rng.standard_normal(50)
    weights = np.ones(50)
    patches = np.arange(6).reshape(2, 3)
    stacked_X = np.vstack([X[:, :3], X[:, 3:]])
    stacked_y = np.concatenate([y, y])
    assert np.allclose(
        _moments.p2_product(X, y, weights, patch_indices=patches),
        _moments.p2_product(stacked_X, stacked_y, np.ones(100)),
    )


def population_moments(teacher, order):
    """sum_i v_i m_j(||w_i||) wbar_i^{(x)j} for j = order."""
    W = teacher.hidden_weights
    norms = np.linalg.norm(W, axis=1)
    directions = W / norms[:, np.newaxis]
    coefficients = (
        teacher.output_weights * teacher.activation.hermite_constants(norms)[:, order]
    )
    tensor = coefficients
    for _ in range(order):
        tensor = np.einsum("i...,ip->i...p", tensor, directions)
    return tensor.sum(axis=0)


@pytest.mark.parametrize("activation", ["squared_relu", "relu", "tanh"])
def test_sample_moments_converge_to_population_moments(activation):
    """Unbiased, with an error falling like 1/sqrt(n) (16x the data, ~4x smaller)."""
    X, y, teacher = make_teacher_regression(
        n_samples=320_000,
        n_features=6,
        n_hidden=3,
        activation=activation,
        random_state=0,
    )
    y = y - y.mean()
    errors = []
    for n in (20_000, 320_000):
        weights = np.ones(n)
        moments = _moments.projected_hermite_moments(
            X[:n], y[:n], weights, np.eye(6), 4
        )
        populations = [population_moments(teacher, j) for j in (1, 2, 3, 4)]
        scale = max(np.linalg.norm(p) for p in populations)
        relative = [
            np.linalg.norm(m - p) / np.linalg.norm(p)
            for m, p in zip(moments, populations, strict=False)
            if np.linalg.norm(p) > 1e-9 * scale
        ]
        errors.append(max(relative))
    assert errors[1] < 0.25
    assert 2 < errors[0] / errors[1] < 8


def test_feature_statistics_of_gaussian_and_uniform_inputs():
    rng = np.random.default_rng(7)
    weights = np.ones(50_000)
    gaussian = _assumptions.feature_statistics(
        rng.standard_normal((50_000, 40)),
        weights,
        random_state=np.random.RandomState(0),
    )
    assert gaussian["n_rows"] == 10_000  # every threshold at its floor
    assert np.abs(gaussian["mean"]).max() < 0.05
    assert np.abs(gaussian["kurtosis"]).max() < 0.2
    assert gaussian["correlation_eigenvalue"] < 1.05 * (1 + np.sqrt(40 / 10_000)) ** 2
    uniform = _assumptions.feature_statistics(
        rng.uniform(size=(5000, 4)),
        np.ones(5000),
        random_state=np.random.RandomState(0),
    )
    assert np.allclose(uniform["kurtosis"], -1.2, atol=0.1)
    # Uncentred uniform[0, 1] inputs are not symmetric about 0; Gaussian ones are.
    assert np.abs(gaussian["direction_skewness"]).max() < 5 * np.sqrt(15 / 10_000)
    assert np.abs(uniform["direction_skewness"]).max() > 1
    wide = _assumptions.feature_statistics(
        rng.standard_normal((8000, 400)), np.ones(8000), random_state=rng_state(0)
    )
    assert wide["n_rows"] == 2**23 // (8 * 400)  # an 8 MB subsample


def rng_state(seed):
    return np.random.RandomState(seed)


@pytest.mark.parametrize("n_features", [5, 70])
def test_feature_statistics_are_the_weighted_moments_of_the_rows(n_features):
    """On fewer rows than the subsample (all of them used): the weighted mean,
    variance, skewness, excess kurtosis and top eigenvalue of the correlation
    matrix, as their definitions give them on standardised copies."""
    rng = np.random.default_rng(11)
    X = rng.gamma(2.0, size=(1500, n_features)) * rng.uniform(0.5, 3, n_features)
    X[:, 1] += X[:, 0]
    weights = rng.uniform(0.5, 2.0, 1500)
    stats = _assumptions.feature_statistics(X, weights, random_state=rng_state(0))
    share = weights / weights.sum()
    mean = share @ X
    standard = (X - mean) / np.sqrt(share @ (X - mean) ** 2)
    assert stats["n_rows"] == 1500
    assert np.allclose(stats["mean"], mean, rtol=1e-12)
    assert np.allclose(stats["variance"], share @ (X - mean) ** 2, rtol=1e-12)
    assert np.allclose(stats["skewness"], share @ standard**3, rtol=1e-10)
    assert np.allclose(stats["kurtosis"], share @ standard**4 - 3, rtol=1e-10)
    correlation = standard.T @ (share[:, None] * standard)
    top = np.linalg.eigvalsh(correlation)[-1]
    assert np.isclose(stats["correlation_eigenvalue"], top, rtol=1e-3)


@pytest.mark.parametrize("factor", [1e-150, 1e-100, 1e100, 1e150])
def test_feature_statistics_of_columns_on_extreme_scales(factor):
    """A column scaled alone (its cube beyond float64's range) has the shape
    statistics of the column unscaled and the variance scaled; a weight 1e250
    times the others gives finite statistics. No RuntimeWarning either way."""
    rng = np.random.default_rng(5)
    X = rng.gamma(2.0, size=(2000, 4))
    weights = rng.uniform(0.5, 2.0, 2000)
    reference = _assumptions.feature_statistics(X, weights, random_state=rng_state(0))
    X[:, 0] *= factor
    stats = _assumptions.feature_statistics(X, weights, random_state=rng_state(0))
    for name in ("skewness", "kurtosis"):
        assert np.allclose(stats[name], reference[name], rtol=1e-9)
    assert np.allclose(stats["variance"][0], reference["variance"][0] * factor**2)
    assert np.isclose(
        stats["correlation_eigenvalue"], reference["correlation_eigenvalue"]
    )
    weights[0] = 1e250
    stats = _assumptions.feature_statistics(X, weights, random_state=rng_state(0))
    for value in stats.values():
        assert np.all(np.isfinite(value))


@pytest.mark.parametrize("n_features", [8, 300])
def test_top_correlation_eigenvalue_exact_or_by_power_iteration(n_features):
    """Formed for few features, by power iteration for many: both the largest
    eigenvalue of ``E[s s^T]`` (a correlated pair of features)."""
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((3000, n_features))
    rows[:, 1] += 0.8 * rows[:, 0]
    weights = rng.uniform(0.5, 1.5, 3000)
    weights /= weights.sum()
    exact = np.linalg.eigvalsh(rows.T @ (weights[:, None] * rows))[-1]
    assert np.isclose(_assumptions._top_eigenvalue(rows, weights), exact, rtol=1e-3)


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("patch_indices", [None, np.arange(6).reshape(2, 3)])
def test_noise_levels_are_per_sample_variances(monkeypatch, patch_indices, stride):
    """The entry variance is the mean over entries of E[||c_i||^2] / n_entries, with
    c_i the contribution of sample i (averaged over its patches); on data of more
    than ``_NOISE_SAMPLES`` samples, the mean over every ``stride``-th sample."""
    monkeypatch.setattr(_moments, "_NOISE_SAMPLES", 30 // stride)
    rng = np.random.default_rng(9)
    X = rng.standard_normal((30, 6))
    y = rng.standard_normal(30)
    weights = rng.uniform(0.5, 2, 30)
    patches = [np.arange(6)] if patch_indices is None else patch_indices
    dim = len(patches[0])
    R = np.eye(dim) + 0.1 * np.ones((dim, dim))
    left = np.linalg.qr(rng.standard_normal((dim, 3)))[0]
    right = np.linalg.qr(rng.standard_normal((dim, 3)))[0]

    def contribution_p2(x, label):
        rows = [R @ x[p] for p in patches]
        return label * np.mean([np.outer(z, z) - np.eye(dim) for z in rows], axis=0)

    def contribution_m3(x, label):
        columns = []
        for a, b in zip(left.T, right.T, strict=True):
            terms = [
                (a @ z) * (b @ z) * z - (a @ b) * z - (b @ z) * a - (a @ z) * b
                for z in (R @ x[p] for p in patches)
            ]
            columns.append(np.mean(terms, axis=0))
        return label * np.column_stack(columns)

    for compute, contribution in (
        (
            lambda: _moments.p2_product(
                X,
                y,
                weights,
                whitening=R,
                patch_indices=patch_indices,
                return_noise=True,
            ),
            contribution_p2,
        ),
        (
            lambda: _moments.m3_sketch(
                X,
                y,
                weights,
                left,
                right,
                whitening=R,
                patch_indices=patch_indices,
                return_noise=True,
            ),
            contribution_m3,
        ),
    ):
        moment, variance = compute()
        contributions = [contribution(x, label) for x, label in zip(X, y, strict=True)]
        expected_moment = np.average(contributions, axis=0, weights=weights)
        squared = [np.sum(c * c) for c in contributions]
        expected_variance = (
            np.average(squared[::stride], weights=weights[::stride]) / moment.size
        )
        assert np.allclose(moment, expected_moment)
        assert variance == pytest.approx(expected_variance)


def test_hvec_is_a_frobenius_isometry_and_hvec_map_applies_congruences():
    rng = np.random.default_rng(0)
    A, B = (M + M.T for M in rng.standard_normal((2, 5, 5)))
    assert np.isclose(_moments.hvec(A) @ _moments.hvec(B), np.sum(A * B))
    assert np.allclose(_moments.unhvec(_moments.hvec(A), 5), A)
    L = rng.standard_normal((3, 5))
    assert np.allclose(
        _moments.hvec_map(L) @ _moments.hvec(A), _moments.hvec(L @ A @ L.T)
    )
    Z = rng.standard_normal((4, 5))
    assert np.allclose(
        _moments.hvec_outer(Z), [_moments.hvec(np.outer(z, z)) for z in Z]
    )
