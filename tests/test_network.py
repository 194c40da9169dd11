import multiprocessing
import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from skrecover import _engine, _network
from skrecover._network import (
    NetworkParams,
    canonicalize,
    forward,
    hidden_features,
    loss_gradient,
    squared_loss,
)
from skrecover.activations import LeakyReLU, ReLU, Sigmoid, SquaredReLU, Tanh

ACTIVATIONS = [ReLU(), LeakyReLU(0.2), SquaredReLU(), Sigmoid(), Tanh()]
# Overlapping 1-D patches of length 3 and stride 2 over 9 features.
OVERLAPPING = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]])


def random_params(rng, n_hidden, n_inputs, n_outputs=1, n_patches=None, biases=True):
    shape = (
        (n_outputs, n_hidden) if n_patches is None else (n_outputs, n_patches, n_hidden)
    )
    return NetworkParams(
        rng.standard_normal((n_hidden, n_inputs)),
        rng.standard_normal(shape),
        rng.standard_normal(n_outputs),
        rng.standard_normal(n_hidden) if biases else None,
    )


def naive_forward(X, params, activation, patch_indices=None):
    """Per-sample loops: the definition of the model."""
    W, V, c, b = params
    b = np.zeros(len(W)) if b is None else b
    out = np.zeros((len(X), V.shape[0]))
    patches = [np.arange(X.shape[1])] if patch_indices is None else patch_indices
    for i, x in enumerate(X):
        for o in range(V.shape[0]):
            total = c[o]
            for index, patch in enumerate(patches):
                for j, w in enumerate(W):
                    weight = V[o, j] if V.ndim == 2 else V[o, index, j]
                    total += weight * activation(w @ x[patch] + b[j])
            out[i, o] = total
    return out


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize(
    "patch_indices, shared", [(None, True), (OVERLAPPING, True), (OVERLAPPING, False)]
)
def test_forward_matches_definition(activation, patch_indices, shared):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 9))
    n_inputs = 9 if patch_indices is None else 3
    n_patches = None if shared else len(patch_indices)
    params = random_params(rng, 2, n_inputs, n_outputs=2, n_patches=n_patches)
    expected = naive_forward(X, params, activation, patch_indices)
    assert np.allclose(
        forward(X, params, activation, patch_indices=patch_indices), expected
    )


def numeric_gradient(f, params, eps=1e-6):
    gradient = []
    for index, value in enumerate(params):
        if value is None:
            gradient.append(None)
            continue
        grad = np.zeros_like(value)
        for position in np.ndindex(value.shape):
            shifted = [None if p is None else p.copy() for p in params]
            shifted[index][position] += eps
            up = f(NetworkParams(*shifted))
            shifted[index][position] -= 2 * eps
            down = f(NetworkParams(*shifted))
            grad[position] = (up - down) / (2 * eps)
        gradient.append(grad)
    return gradient


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize(
    "patch_indices, shared", [(None, True), (OVERLAPPING, True), (OVERLAPPING, False)]
)
def test_squared_loss_gradient_matches_finite_differences(
    activation, patch_indices, shared
):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 9))
    y = rng.standard_normal((30, 2))
    weights = rng.uniform(0.5, 2.0, 30)
    n_inputs = 9 if patch_indices is None else 3
    n_patches = None if shared else len(patch_indices)
    params = random_params(rng, 3, n_inputs, n_outputs=2, n_patches=n_patches)

    def loss(p):
        return loss_gradient(X, y, weights, p, activation, patch_indices=patch_indices)[
            0
        ]

    _, gradient, _ = loss_gradient(
        X, y, weights, params, activation, patch_indices=patch_indices
    )
    for analytic, numeric in zip(gradient, numeric_gradient(loss, params), strict=True):
        assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def block_diagonal_probabilities(rng, units=(2, 3), n_patches=1):
    """Fixed output weights of a mean-of-probabilities network with one output per
    problem: block ``o`` of the units averaged over its units and the patches."""
    output = np.zeros((len(units), sum(units)))
    start = 0
    for o, k in enumerate(units):
        output[o, start : start + k] = 1 / (k * n_patches)
        start += k
    return output


@pytest.mark.parametrize("scale", [0.5, 30.0], ids=["moderate", "saturated"])
@pytest.mark.parametrize("patch_indices", [None, np.arange(6).reshape(2, 3)])
def test_cross_entropy_gradient_matches_finite_differences(scale, patch_indices):
    """The log-space cross-entropy of a mean of sigmoids, two problems, with hidden
    biases; at saturated units the loss and gradient stay exact and consistent."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 6))
    y = rng.integers(0, 2, (40, 2)).astype(float)
    weights = rng.uniform(0.5, 1.5, 40)
    n_inputs = 6 if patch_indices is None else 3
    n_patches = 1 if patch_indices is None else 2
    params = NetworkParams(
        scale * rng.standard_normal((5, n_inputs)),
        block_diagonal_probabilities(rng, n_patches=n_patches),
        np.zeros(2),
        rng.standard_normal(5),
    )

    def loss(p):
        return loss_gradient(
            X,
            y,
            weights,
            p,
            Sigmoid(),
            loss="cross_entropy",
            patch_indices=patch_indices,
        )[0]

    value, gradient, _ = loss_gradient(
        X,
        y,
        weights,
        params,
        Sigmoid(),
        loss="cross_entropy",
        patch_indices=patch_indices,
    )
    probability = forward(X, params, Sigmoid(), patch_indices=patch_indices)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = -(y * np.log(probability) + (1 - y) * np.log1p(-probability))
    if np.all(np.isfinite(direct)):
        assert value == pytest.approx(np.average(direct.sum(axis=1), weights=weights))
    numeric = numeric_gradient(loss, params, eps=1e-6 / scale)
    for name in ("hidden_weights", "hidden_biases"):
        analytic = getattr(gradient, name)
        expected = numeric[NetworkParams._fields.index(name)]
        assert np.allclose(analytic, expected, rtol=1e-4, atol=1e-7)
    assert np.all(np.isfinite(value)) and value > 0


def test_loss_is_the_weighted_mean_and_monitors_cost_nothing_extra():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 4))
    y = rng.standard_normal((50, 1))
    weights = rng.uniform(0, 3, 50)
    mask = rng.random(50) < 0.3
    params = random_params(rng, 2, 4)
    residual = forward(X, params, ReLU()) - y
    per_sample = 0.5 * residual[:, 0] ** 2
    loss, _, monitored = loss_gradient(
        X, y, weights, params, ReLU(), monitor_weights=(mask * 1.0,)
    )
    assert loss == pytest.approx(np.average(per_sample, weights=weights))
    assert monitored[0] == pytest.approx(per_sample[mask].mean())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("patch_indices", [None, OVERLAPPING])
def test_squared_loss_alone_equals_the_loss_of_the_gradient_pass(dtype, patch_indices):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 9)).astype(dtype)
    y = rng.standard_normal((60, 2))
    weights = rng.uniform(0, 3, 60)
    n_inputs = 9 if patch_indices is None else 3
    params = random_params(rng, 3, n_inputs, n_outputs=2)
    expected = loss_gradient(X, y, weights, params, Tanh(), patch_indices=patch_indices)
    loss = squared_loss(X, y, weights, params, Tanh(), patch_indices=patch_indices)
    assert loss == pytest.approx(expected[0], rel=1e-12)


def test_chunked_passes_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1000, 9))
    y = rng.standard_normal((1000, 1))
    weights = np.ones(1000)
    params = random_params(rng, 2, 3)
    whole = loss_gradient(X, y, weights, params, Tanh(), patch_indices=OVERLAPPING)
    monkeypatch.setattr(_engine, "_BLOCK_FLOATS", 37)  # 256-row blocks
    chunked = loss_gradient(X, y, weights, params, Tanh(), patch_indices=OVERLAPPING)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-13)
    for a, b in zip(chunked[1], whole[1], strict=False):
        assert np.allclose(a, b, rtol=1e-12)


def _blas_threads():
    return [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]


def _pass_on_threads(kind, X, threads, together=None):
    """A reduction (sum of the rows) or a map (twice the first column) over
    256-row blocks of ``X``, and the names of the threads its blocks ran on.
    ``together``: a barrier the first blocks wait at (they must run at once)."""
    seen = set()

    def block(rows):
        seen.add(threading.current_thread().name)
        if together is not None and rows[0, 0] < 0.5:
            together.wait(timeout=30)
        return rows.sum(axis=0) if kind == "reduce" else 2 * rows[:, 0]

    run = _engine.reduce_rows if kind == "reduce" else _engine.map_rows
    return run(block, X, width=4096, threads=threads), seen


@pytest.mark.parametrize("kind", ["reduce", "map"])
def test_threaded_passes_equal_serial_ones(kind):
    """With BLAS on two threads, a threaded pass runs its blocks on two pass
    threads, combines them in row order (the serial result to the last bit) and
    leaves the BLAS settings as they were; serial passes, passes under one BLAS
    thread and passes from another thread than the main one stay on theirs."""
    X = np.random.default_rng(3).standard_normal((3000, 7))
    X[:, 0] = np.repeat([0.0, 0.0, 1.0], 1000)  # the first two blocks meet
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        threaded, seen = _pass_on_threads(
            kind, X, threads=True, together=threading.Barrier(2)
        )
        assert _blas_threads() == before
        serial, seen_serial = _pass_on_threads(kind, X, threads=False)
    assert len(seen) == 2 and all(name.startswith("skrecover-pass") for name in seen)
    assert seen_serial == {"MainThread"}
    assert np.array_equal(threaded, serial)
    with threadpool_limits(limits=3, user_api="blas"):  # a pool of another size
        wider, seen = _pass_on_threads(kind, X, threads=True)
    assert np.array_equal(wider, serial) and "MainThread" not in seen
    with threadpool_limits(limits=1, user_api="blas"):
        assert _pass_on_threads(kind, X, threads=True)[1] == {"MainThread"}
    with threadpool_limits(limits=2, user_api="blas"):
        other = []
        thread = threading.Thread(
            target=lambda: other.append(_pass_on_threads(kind, X, threads=True)),
            name="fit-thread",
        )
        thread.start()
        thread.join()
    assert other[0][1] == {"fit-thread"} and np.array_equal(other[0][0], serial)


def test_a_failing_threaded_pass_raises_and_restores_blas():
    def block(rows):
        if rows[0, 0] > 2500:
            raise ValueError("block failed")
        return rows.sum()

    X = np.arange(3000.0)[:, np.newaxis] * np.ones((1, 4))
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with pytest.raises(ValueError, match="block failed"):
            _engine.reduce_rows(block, X, width=4096, threads=True)
        assert _blas_threads() == before


def _threaded_sum_in_child(queue):
    X = np.ones((3000, 4))
    with threadpool_limits(limits=2, user_api="blas"):
        queue.put(float(_pass_on_threads("reduce", X, threads=True)[0].sum()))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
)
def test_threaded_passes_work_in_a_forked_child():
    """A child forked after threaded passes has none of the parent's pass
    threads: it starts its own instead of waiting for them forever."""
    with threadpool_limits(limits=2, user_api="blas"):
        _pass_on_threads("reduce", np.ones((3000, 4)), threads=True)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        child = context.Process(target=_threaded_sum_in_child, args=(queue,))
        child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=5) == 12000.0


@pytest.mark.parametrize("size", [1, 7, 30, 49, 50])
def test_random_rows_are_uniform_distinct_and_sorted(size):
    """Every row is chosen with probability size / n (within 5 standard errors
    over 4000 draws), each draw has exactly ``size`` distinct sorted rows (more
    than half: the complement drawn), and the pairs are as often together as
    independent draws without replacement make them."""
    n_samples, n_draws = 50, 4000
    random_state = np.random.RandomState(0)
    counts = np.zeros(n_samples)
    together = 0
    for _ in range(n_draws):
        rows = _engine.random_rows(random_state, n_samples, size)
        assert len(rows) == size and np.all(np.diff(rows) > 0)
        assert rows[0] >= 0 and rows[-1] < n_samples
        counts[rows] += 1
        together += 0 in rows and 1 in rows
    share = size / n_samples
    error = np.sqrt(n_draws * share * (1 - share)) + 1e-12
    assert np.all(np.abs(counts - n_draws * share) <= 5 * error)
    pair = share * (size - 1) / (n_samples - 1)
    assert abs(together - n_draws * pair) <= 5 * np.sqrt(n_draws * pair) + 1e-9


def test_random_prefixes_are_nested_uniform_subsets():
    first = _engine.random_prefixes(np.random.RandomState(1), 1000)
    small, large = first(100), first(400)
    assert len(small) == 100 and len(large) == 400 and len(first(1000)) == 1000
    assert np.all(np.diff(large) > 0) and np.all(np.isin(small, large))
    counts = np.zeros(1000)
    for seed in range(400):
        counts[_engine.random_prefixes(np.random.RandomState(seed), 1000)(250)] += 1
    # Inclusion counts are Binomial(400, 1/4): mean 100, standard deviation 8.7.
    assert abs(counts.mean() - 100) < 1e-9 and counts.std() < 1.3 * 8.7
    assert counts.min() > 100 - 5 * 8.7 and counts.max() < 100 + 5 * 8.7


def test_largest_magnitude_is_found_block_by_block(monkeypatch):
    """``max |x|`` over many blocks is that of the whole array, whichever block and
    sign hold it; a NaN anywhere makes it NaN (the fit then raises sklearn's error)."""
    from skrecover._base import _largest_magnitude

    monkeypatch.setattr(_engine, "_BLOCK_FLOATS", 37)  # 256-row blocks
    rng = np.random.default_rng(9)
    X = rng.standard_normal((2000, 3))
    for row, value in ((1500, -40.0), (7, 35.0)):
        Z = X.copy()
        Z[row, 1] = value
        assert _largest_magnitude(Z) == np.abs(Z).max() == abs(value)
        assert _largest_magnitude(Z.astype(np.float32)) == abs(value)
    X[1999, 2] = np.nan
    assert np.isnan(_largest_magnitude(X))


def test_row_subsets_read_like_their_copies(monkeypatch):
    """A large random subsample is gathered block by block (no copy of it), and
    every pass over it equals the pass over its copy; small ones are copied."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 9)).astype(np.float32)
    y = rng.standard_normal((3000, 1))
    rows = np.sort(rng.choice(3000, 1000, replace=False))
    subset = _engine.subset_rows(X, rows)
    assert isinstance(subset, _engine.RowSubset)
    assert subset.shape == (1000, 9) and len(subset) == 1000
    assert subset.dtype == np.float32 and subset.ndim == 2
    assert np.array_equal(subset[10:20], X[rows[10:20]])
    assert isinstance(_engine.subset_rows(X, rows[:100]), np.ndarray)
    monkeypatch.setattr(_engine, "_BLOCK_FLOATS", 37)  # 256-row blocks
    params = random_params(rng, 2, 3)
    weights = np.ones(1000)
    lazy, copied = (
        loss_gradient(Z, y[rows], weights, params, Tanh(), patch_indices=OVERLAPPING)
        for Z in (subset, X[rows])
    )
    assert lazy[0] == pytest.approx(copied[0], rel=1e-12)
    for a, b in zip(lazy[1], copied[1], strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=0)
    assert np.array_equal(
        forward(subset, params, Tanh(), patch_indices=OVERLAPPING),
        forward(X[rows], params, Tanh(), patch_indices=OVERLAPPING),
    )


def test_regular_patches_are_views_irregular_ones_contiguous_copies():
    X = np.arange(24.0).reshape(2, 12)
    tiling = np.arange(12).reshape(3, 4)
    for layout in (tiling, None, OVERLAPPING):
        assert np.shares_memory(_network.gather_patches(X, layout), X)
    windows = _network.gather_patches(X[:, :9], OVERLAPPING)
    assert np.array_equal(windows, X[:, OVERLAPPING])
    irregular = np.array([[0, 5, 2], [7, 1, 3]])
    gathered = _network.gather_patches(X, irregular)
    assert not np.shares_memory(gathered, X) and gathered.flags.c_contiguous
    assert np.array_equal(gathered, X[:, irregular])


def test_float32_inputs_accumulate_the_output_in_float64():
    """The hidden layer runs in float32; the output layer and a large intercept
    are added in float64, so an offset of 1e6 costs no accuracy."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 4)).astype(np.float32)
    params = random_params(rng, 2, 4)
    shifted = params._replace(intercept=params.intercept + 1e6)
    output = forward(X, shifted, ReLU())
    assert output.dtype == np.float64
    exact = naive_forward(X.astype(np.float64), params, ReLU()) + 1e6
    assert np.abs(output - exact).max() < 1e-5
    assert hidden_features(X, params.hidden_weights, ReLU()).shape == (20, 2)


@pytest.mark.parametrize("scale", [1e12, 1e20])
def test_float32_blocks_leaving_float32_are_computed_in_float64(scale):
    """A float32 block whose float32 pre-activations pass 1e15 (the squares of
    1e20 overflow float32; 1e12 times weights of norm 1e4 passes 1e15 only) is
    computed again in float64, without a warning; others stay in float32."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 4)).astype(np.float32)
    X[::2] *= np.float32(scale)
    params = random_params(rng, 3, 4)
    params = params._replace(hidden_weights=params.hidden_weights * 1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output = forward(X, params, SquaredReLU())
    exact = naive_forward(X.astype(np.float64), params, SquaredReLU())
    assert np.all(np.isfinite(output))
    assert np.allclose(output, exact, rtol=1e-12, atol=0)
    moderate = _network.network_pre_activations(X[1::2, np.newaxis], params)
    assert moderate.dtype == np.float32


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_canonical_form_computes_the_same_function(activation):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((100, 5))
    params = random_params(rng, 4, 5)
    canonical = canonicalize(params, activation)
    assert canonical.hidden_biases is not None
    assert np.allclose(
        forward(X, canonical, activation), forward(X, params, activation)
    )
    again = canonicalize(canonical, activation)
    for a, b in zip(again, canonical, strict=True):
        assert np.allclose(a, b)
    if activation.degree:
        assert np.allclose(np.abs(canonical.output_weights), 1.0)
    else:
        assert np.all(canonical.output_weights > 0)
    importance = np.linalg.norm(canonical.hidden_weights, axis=1) * np.abs(
        canonical.output_weights[0]
    )
    assert np.all(np.diff(importance) <= 0)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_canonical_form_of_a_convolutional_network_computes_the_same_function(
    activation,
):
    """A flipped sigmoid unit shifts the intercept by its output weight once per
    patch it reads: with the shift counted once, fits of sigmoid convolutional
    teachers scored R^2 of -2 to -19 with exact kernels."""
    rng = np.random.default_rng(9)
    patch_indices = np.arange(12).reshape(4, 3)
    X = rng.standard_normal((100, 12))
    params = random_params(rng, 3, 3)
    canonical = canonicalize(params, activation, patch_indices=patch_indices)
    assert np.allclose(
        forward(X, canonical, activation, patch_indices=patch_indices),
        forward(X, params, activation, patch_indices=patch_indices),
    )


def test_canonical_form_with_unit_hidden_weights():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 3))
    params = random_params(rng, 2, 3, n_outputs=3)
    canonical = canonicalize(params, ReLU(), scale_to="hidden")
    assert np.allclose(np.linalg.norm(canonical.hidden_weights, axis=1), 1.0)
    assert np.allclose(forward(X, canonical, ReLU()), forward(X, params, ReLU()))


def test_cross_entropy_of_block_outputs_equals_the_dense_computation(monkeypatch):
    """Units feeding one output each (the classifier's one-vs-rest blocks) take a
    path without the dense outputs x units array; it computes the same."""
    rng = np.random.default_rng(0)
    sigmoid = Sigmoid()
    pre = 4 * rng.standard_normal((50, 3, 7))
    weights = np.zeros((3, 7))
    weights[0, :2], weights[1, 2:5], weights[2, 5:] = 1 / 2, 1 / 3, 1 / 2
    targets = (rng.random((50, 3)) < 0.5).astype(float)
    params = NetworkParams(np.zeros((7, 2)), weights, np.zeros(3))
    assert np.array_equal(_network._unit_owners(weights), [0, 0, 1, 1, 1, 2, 2])
    blocks = _network.cross_entropy_head(pre, sigmoid, params, targets)
    monkeypatch.setattr(_network, "_unit_owners", lambda weights: None)
    dense = _network.cross_entropy_head(pre, sigmoid, params, targets)
    for block, full in zip(blocks, dense, strict=True):
        assert np.allclose(block, full, rtol=1e-13, atol=1e-15)
    assert _network._unit_owners(np.ones((2, 7))) is None
