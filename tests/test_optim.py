import numpy as np
import pytest

from skrecover._optim import _inverse_curvature, hessian_of, minimize


def least_squares(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((40, 6))
    b = rng.standard_normal(40)

    def fun(x):
        r = A @ x - b
        return 0.5 * r @ r, A.T @ r, None

    return fun, np.linalg.lstsq(A, b, rcond=None)[0], A


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_solvers_reach_the_minimum(solver):
    fun, solution, _ = least_squares()
    result = minimize(fun, np.zeros(6), solver=solver, max_iter=5000, tol=1e-12)
    assert result.converged
    assert np.allclose(result.x, solution, atol=1e-5)
    assert result.n_iter == len(result.loss_curve)
    assert result.solver == solver


def test_gd_loss_curve_decreases_and_step_is_inverse_curvature():
    fun, _, A = least_squares()
    result = minimize(fun, np.zeros(6), solver="gd", max_iter=50)
    assert np.all(np.diff(result.loss_curve) <= 0)
    largest = np.linalg.eigvalsh(A.T @ A).max()
    assert result.learning_rate == pytest.approx(1 / largest, rel=1e-3)


def test_inverse_curvature_of_a_quadratic():
    H = np.diag([1.0, 4.0, 9.0])

    def fun(x):
        return 0.5 * x @ H @ x, H @ x, None

    x = np.array([1.0, 1.0, 1.0])
    assert _inverse_curvature(fun, x, fun(x)[1]) == pytest.approx(1 / 9, rel=1e-4)


def test_too_large_learning_rate_is_halved_until_the_loss_falls():
    fun, solution, _ = least_squares()
    result = minimize(fun, np.zeros(6), solver="gd", learning_rate=10.0, max_iter=3000)
    assert result.learning_rate < 10.0
    assert np.all(np.isfinite(result.x))
    assert np.all(np.diff(result.loss_curve) <= 0)


def test_early_stopping_restores_the_best_validation_point():
    """Training loss keeps falling; validation loss is lowest at x = 1."""

    def fun(x):
        return 0.5 * (x[0] - 3) ** 2, np.array([x[0] - 3]), (x[0] - 1) ** 2

    result = minimize(
        fun, np.zeros(1), solver="gd", learning_rate=0.1, validate=True, max_iter=100
    )
    assert result.converged
    best = int(np.argmin(result.validation_loss_curve))
    assert result.validation_loss_curve[best] == pytest.approx((result.x[0] - 1) ** 2)
    assert abs(result.x[0] - 1) < 0.2
    assert len(result.validation_loss_curve) == result.n_iter


def test_max_iter_reached_is_reported_as_not_converged():
    fun, _, _ = least_squares()
    result = minimize(fun, np.zeros(6), solver="gd", max_iter=3, tol=0)
    assert not result.converged
    assert result.n_iter == 3


def test_loss_floor_stops_at_once():
    fun, _, _ = least_squares()
    result = minimize(fun, np.zeros(6), loss_floor=1e10)
    assert result.converged and result.n_iter == 0 and np.all(result.x == 0)


def test_verbose_prints_one_line_per_iteration(capsys):
    fun, _, _ = least_squares()
    result = minimize(fun, np.zeros(6), solver="gd", max_iter=4, tol=0, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == result.n_iter == 4
    assert lines[0].startswith("Iteration 1, loss = ")


def test_non_finite_losses_make_steps_back_off():
    def fun(x):
        if abs(x[0]) > 2:
            return np.nan, np.array([np.nan]), None
        return x[0] ** 2, np.array([2 * x[0]]), None

    result = minimize(
        fun, np.array([1.5]), solver="gd", learning_rate=5.0, max_iter=200
    )
    assert np.isfinite(result.x).all() and abs(result.x[0]) < 1e-3
    result = minimize(fun, np.array([1.5]), solver="lbfgs", max_iter=200)
    assert np.isfinite(result.x).all() and abs(result.x[0]) < 1e-3


def test_accelerated_descent_on_an_ill_conditioned_quadratic():
    """About sqrt(kappa) instead of kappa iterations per decade."""
    H = np.diag(np.geomspace(1.0, 1e4, 20))
    b = np.ones(20)

    def fun(x):
        return 0.5 * x @ H @ x - b @ x, H @ x - b, None

    solution = np.linalg.solve(H, b)
    fast = minimize(
        fun, np.zeros(20), solver="agd", learning_rate=1e-4, max_iter=5000, tol=0
    )
    slow = minimize(
        fun, np.zeros(20), solver="gd", learning_rate=1e-4, max_iter=5000, tol=0
    )
    assert np.abs(fast.x - solution).max() < 1e-6
    assert np.abs(slow.x - solution).max() > 1e-3


def test_accelerated_descent_follows_a_field_that_is_no_gradient():
    """A rotation-perturbed linear field (no potential) still converges."""
    A = np.array([[2.0, 0.5], [-0.5, 1.0]])

    def fun(x):
        field = A @ (x - 1.0)
        return float(field @ field), field, None

    result = minimize(fun, np.zeros(2), solver="agd", learning_rate=0.2, max_iter=2000)
    assert np.allclose(result.x, 1.0, atol=1e-6)


def test_hessian_vector_products_match_the_exact_hessian():
    """Forward differences of the gradient against the analytic Hessian of a
    logistic loss, ``A^T diag(p (1 - p)) A``, along several directions."""
    from skrecover._optim import _hessian_operator

    rng = np.random.default_rng(0)
    A, labels = rng.standard_normal((200, 5)), rng.integers(0, 2, 200)

    def fun(x):
        p = 1 / (1 + np.exp(-A @ x))
        loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
        return loss, A.T @ (p - labels) / len(A), None

    x = rng.standard_normal(5)
    p = 1 / (1 + np.exp(-A @ x))
    exact = A.T @ (A * (p * (1 - p))[:, np.newaxis]) / len(A)
    hessian = _hessian_operator(fun, x)
    for v in rng.standard_normal((4, 5)):
        assert np.allclose(hessian @ v, exact @ v, rtol=1e-5, atol=1e-8)
    assert np.array_equal(hessian @ np.zeros(5), np.zeros(5))


def _gauss_newton_case(case, rng):
    """A small network, its rows and the packer of its trained parameters."""
    from skrecover._moments import whitening_from_moment
    from skrecover._network import NetworkParams
    from skrecover._optim import ParameterPacker

    X = rng.standard_normal((300, 6))
    patch_indices, transform, outputs = None, None, 1
    free = ["hidden_weights", "output_weights"]
    biases = None
    if case == "biases, intercept, two outputs":
        biases, outputs = rng.standard_normal(3), 2
        free += ["intercept", "hidden_biases"]
    elif case == "patches":
        patch_indices = np.arange(6).reshape(3, 2)
        biases = rng.standard_normal(3)
        free += ["hidden_biases"]
    elif case == "whitened":
        mixing = rng.standard_normal((6, 6))
        transform = whitening_from_moment(mixing @ mixing.T / 6 + np.eye(6))
        free += ["intercept"]
    if case == "output per patch":
        patch_indices = np.arange(6).reshape(3, 2)
        hidden, output = rng.standard_normal((1, 2)), rng.standard_normal((1, 3, 1))
    else:
        hidden = rng.standard_normal((3, 6 if patch_indices is None else 2))
        output = rng.standard_normal((outputs, 3))
    params = NetworkParams(hidden, output, rng.standard_normal(outputs), biases)
    return X, patch_indices, ParameterPacker(params, free, transform)


@pytest.mark.parametrize(
    "case",
    [
        "dense",
        "dense, in blocks",
        "matrix-free",
        "biases, intercept, two outputs",
        "patches",
        "output per patch",
        "whitened",
        "float32",
    ],
)
def test_gauss_newton_products_match_the_jacobian(case, monkeypatch):
    """Products with the Gauss-Newton matrix of a small network against
    ``J^T S J v / sum(S)`` from its Jacobian by central differences of the outputs,
    for relu (kinks) and tanh, in the packed coordinates of a free subset of the
    parameters: formed from the rows' Jacobian (few parameters, one output; summed
    over blocks of rows) or as
    products with the linearised network (biases, several outputs, patches with
    shared or per-patch output weights, whitened coordinates, float32 rows), which
    run in float32: to 1e-4 relative."""
    from skrecover import _engine, _optim
    from skrecover._network import forward
    from skrecover._optim import DenseCurvature, gauss_newton

    dense = case.startswith("dense")
    monkeypatch.setattr(_optim, "_DENSE_CURVATURE_PARAMS", 256 if dense else 0)
    if case == "dense, in blocks":  # of 256 and 44 rows
        monkeypatch.setattr(_engine, "_BLOCK_FLOATS", 1)
    from skrecover.activations import get_activation

    rng = np.random.default_rng(0)
    X, patch_indices, packer = _gauss_newton_case(case, rng)
    weights = rng.uniform(0.5, 2.0, len(X))
    x = packer.pack(packer.template)
    rows = X.astype(np.float32) if case == "float32" else X
    for name in ("relu", "tanh"):
        activation = get_activation(name)

        def outputs(vector, activation=activation):
            return forward(
                X, packer.unpack(vector), activation, patch_indices=patch_indices
            ).ravel()

        h = 1e-6
        jacobian = np.column_stack(
            [
                (outputs(x + h * e) - outputs(x - h * e)) / (2 * h)
                for e in np.eye(x.size)
            ]
        )
        n_outputs = jacobian.shape[0] // len(X)
        row_weights = np.repeat(weights, n_outputs)
        exact = jacobian.T @ (jacobian * row_weights[:, np.newaxis]) / weights.sum()
        operator = gauss_newton(rows, weights, packer, activation, patch_indices)(x)
        assert isinstance(operator, DenseCurvature) == dense
        tolerance = 1e-4 if case != "float32" else 1e-5 * np.abs(exact).max()
        for v in rng.standard_normal((3, x.size)):
            assert np.allclose(operator @ v, exact @ v, rtol=tolerance, atol=1e-7)
        assert np.all(np.linalg.eigvalsh(exact) > -1e-10)


def test_dense_curvature_solves_damped_systems_with_minimum_norm():
    """Exact solves of ``(H + lambda I) d = r``; on the null space of a singular
    ``H`` without damping, the minimum-norm solution (as CG from zero)."""
    from skrecover._optim import DenseCurvature

    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    values = np.array([0.0, 0.0, 1e-3, 0.5, 2.0, 7.0])
    matrix = (basis * values) @ basis.T
    curvature, rhs = DenseCurvature(matrix), rng.standard_normal(6)
    for damping in (0.3, 1e-4):
        step = curvature.solve(rhs, damping)
        assert np.allclose((matrix + damping * np.eye(6)) @ step, rhs)
    step = curvature.solve(rhs, 0.0)
    assert np.allclose(step, np.linalg.pinv(matrix, rcond=1e-12) @ rhs)
    assert np.allclose(curvature @ rhs, matrix @ rhs)


def test_newton_steps_hand_over_to_lbfgs_where_curvature_is_negative():
    """At x = (0.1, 0) the Hessian of x0^4/4 - x0^2/2 + x1^2/2 is indefinite and
    the Newton direction climbs: L-BFGS takes over and finds a minimum."""

    def fun(x):
        return (
            x[0] ** 4 / 4 - x[0] ** 2 / 2 + x[1] ** 2 / 2,
            np.array([x[0] ** 3 - x[0], x[1]]),
            None,
        )

    result = minimize(fun, np.array([0.1, 0.0]), curvature=hessian_of(fun), tol=1e-12)
    assert result.converged
    assert np.allclose(np.abs(result.x), [1.0, 0.0], atol=1e-5)


def test_newton_steps_cut_the_gradient_by_cg_tolerance_on_a_quadratic():
    """With the exact curvature (the objective itself) on least squares, each
    inexact Newton step leaves at most CG's relative residual (0.1) of the
    gradient: the loss reaches its minimum to 1e-12 in a handful of steps."""
    fun, solution, _ = least_squares()
    result = minimize(
        fun, np.zeros(6), curvature=hessian_of(fun), tol=1e-12, max_iter=20
    )
    assert result.converged
    assert result.n_iter <= 6
    assert fun(result.x)[0] <= fun(solution)[0] * (1 + 1e-11)


def _teacher_fit(
    monkeypatch, X, y, teacher, schedule=None, spread=0.05, random_state=0, **options
):
    """train_network from a perturbed teacher on all of ``X``, counting the rows
    each loss-and-gradient and each loss alone reads."""
    from skrecover import _network, _optim
    from skrecover._network import NetworkParams
    from skrecover.activations import get_activation

    start = NetworkParams(
        teacher.hidden_weights + spread * np.random.RandomState(0).randn(3, 10),
        teacher.output_weights[np.newaxis, :],
        np.zeros(1),
        None,
    )
    reads = {"gradient": [], "loss": []}
    for name, kind in (("loss_gradient", "gradient"), ("squared_loss", "loss")):
        original = getattr(_network, name)

        def counting(X, *args, read=reads[kind], original=original, **kwargs):
            read.append(len(X))
            return original(X, *args, **kwargs)

        monkeypatch.setattr(_optim, name, counting)
    if schedule is not None:
        monkeypatch.setattr(_optim, "subsample_schedule", lambda *args: schedule)
    params, result = _optim.train_network(
        X,
        y[:, np.newaxis],
        np.ones(len(y)),
        start,
        get_activation("relu"),
        free=["hidden_weights", "output_weights", "intercept"],
        random_state=None
        if random_state is None
        else np.random.RandomState(random_state),
        **options,
    )
    return params, result, reads


def test_subsampled_newton_phase_on_noisy_large_data(monkeypatch):
    """On 200 000 noisy rows, after the subsample warm start, subsampled Newton
    steps reach the training loss of L-BFGS on all rows (within its tol) in a few
    passes over all rows, where L-BFGS from the same start makes about 30."""
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=200_000, n_features=10, n_hidden=3, noise=0.3, random_state=0
    )
    passes, losses = [], []
    for random_state in (None, 0):
        _, result, reads = _teacher_fit(
            monkeypatch,
            X,
            y,
            teacher,
            spread=0.3,
            random_state=random_state,
            tol=1e-5,
            n_iter_no_change=5,
        )
        assert result.converged
        losses.append(min(result.loss_curve))
        passes.append(reads["gradient"].count(len(y)))
    assert passes[0] >= 20 and passes[1] <= 6
    assert losses[1] <= losses[0] * (1 + 1e-5)


def test_damped_newton_steps_survive_a_curvature_that_is_too_flat(monkeypatch):
    """A subsample's curvature can be nearly flat where the loss is not: with
    ``diag(1, 1e-3)`` for the Hessian ``I``, undamped steps overshoot a thousand
    times along the second axis; damping shortens them and the minimum is found
    within a few dozen steps."""
    from scipy.sparse.linalg import aslinearoperator

    from skrecover import _optim

    def no_fallback(*args):
        raise AssertionError("the damped Newton steps handed over to L-BFGS")

    monkeypatch.setattr(_optim, "_run_lbfgs", no_fallback)

    def fun(x):
        return 0.5 * float((x - 1) @ (x - 1)) + 1.0, x - 1, None

    flat = aslinearoperator(np.diag([1.0, 1e-3]))
    result = minimize(
        fun, np.zeros(2), curvature=lambda x: flat, tol=1e-10, max_iter=50
    )
    assert result.converged and result.n_iter < 40
    assert np.abs(result.x - 1).max() < 1e-4


def test_unfinished_cg_solves_that_cut_the_gradient_keep_the_newton_steps(
    monkeypatch,
):
    """Deep in a basin CG may stop short of its tolerance while each step still
    cuts the gradient many times: such steps do not count towards the handover to
    L-BFGS (which took 290 iterations from sigmoid units at a loss of 1e-19).
    Here 10 CG products never reach a relative residual of 1e-8 on 40 distinct
    curvatures, yet every step cuts the gradient about 20 times."""
    from scipy.sparse.linalg import aslinearoperator

    from skrecover import _optim

    def no_fallback(*args):
        raise AssertionError("the Newton steps handed over to L-BFGS")

    monkeypatch.setattr(_optim, "_run_lbfgs", no_fallback)
    monkeypatch.setattr(_optim, "_CG_MAXITER", 10)
    monkeypatch.setattr(_optim, "_CG_RTOL", 1e-8)
    curvatures = np.logspace(0, 2, 40)

    def fun(x):
        return 0.5 * float(curvatures @ (x - 1) ** 2) + 1.0, curvatures * (x - 1), None

    hessian = aslinearoperator(np.diag(curvatures))
    result = minimize(
        fun, np.zeros(40), curvature=lambda x: hessian, tol=1e-8, max_iter=50
    )
    assert result.converged and result.n_iter <= 10
    assert fun(result.x)[0] - 1 < 1e-8


def test_newton_steps_hand_over_to_lbfgs_when_no_solve_gives_a_direction():
    """A curvature whose products are not finite breaks every CG solve: no damped
    step descends, and L-BFGS finds the minimum instead."""
    from scipy.sparse.linalg import aslinearoperator

    def fun(x):
        return 0.5 * float((x - 1) @ (x - 1)), x - 1, None

    broken = aslinearoperator(np.full((2, 2), np.nan))
    result = minimize(
        fun, np.zeros(2), curvature=lambda x: broken, tol=1e-10, max_iter=50
    )
    assert result.converged
    assert np.allclose(result.x, 1.0)


def test_newton_steps_stall_when_their_predicted_decrease_does_not_halve():
    """Inside a basin the decrease Newton steps predict falls geometrically; where
    it has not halved over three steps they hand over to L-BFGS."""
    from skrecover._optim import _stalled

    assert not _stalled([8.0, 4.0, 2.0, 1.0, 0.5])
    assert not _stalled([1.0, 0.9, 0.8])  # too few steps to judge
    assert _stalled([1.0, 0.9, 0.8, 0.7])


def test_the_first_subsample_may_take_five_times_max_iter(monkeypatch):
    """Its iterations cost at most 1/256 of a pass: the first warm-up stage may
    take 5 * max_iter of them, every later stage and all the rows max_iter."""
    from skrecover import _optim
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=10, n_hidden=3, noise=0.3, random_state=1
    )
    budgets = []
    original = _optim.minimize

    def recording(fun, x0, **options):
        budgets.append(options["max_iter"])
        return original(fun, x0, **options)

    monkeypatch.setattr(_optim, "minimize", recording)
    _teacher_fit(monkeypatch, X, y, teacher, spread=0.3, max_iter=30)
    assert budgets == [150] + [30] * (len(budgets) - 1) and len(budgets) >= 3


def test_an_exact_fit_of_a_subsample_is_confirmed_by_one_loss_pass(monkeypatch):
    """Noise-free rows: the first subsample is fitted to rounding, the larger ones
    are skipped, and one forward pass over all the rows confirms the fit (no
    gradient on them); the teacher is recovered."""
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=10, n_hidden=3, activation="relu", random_state=1
    )
    params, result, reads = _teacher_fit(monkeypatch, X, y, teacher)
    assert reads["gradient"] and max(reads["gradient"]) < len(y) // 16
    assert reads["loss"] == [len(y)]
    assert result.converged and len(result.loss_curve) == 1
    assert result.loss_curve[0] <= 1e-20 * np.var(y)
    # ReLU units are recovered up to their positive scale, moved to the output.
    norms = np.linalg.norm(params.hidden_weights, axis=1)
    teacher_norms = np.linalg.norm(teacher.hidden_weights, axis=1)
    cosines = (params.hidden_weights / norms[:, np.newaxis]) @ (
        teacher.hidden_weights / teacher_norms[:, np.newaxis]
    ).T
    assert np.allclose(np.sort(cosines.max(axis=0)), 1, atol=1e-12)


def test_a_warm_start_far_below_the_starts_estimate_needs_no_start_loss(monkeypatch):
    """Noisy rows: the warm start's loss over all the rows is far below the start's
    loss on the first subsample, so the start's loss over all the rows is not
    measured (one pass saved), and the fit ends where measuring it ends."""
    from skrecover import _optim
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000,
        n_features=10,
        n_hidden=3,
        activation="relu",
        noise=0.3,
        random_state=1,
    )
    _, result, reads = _teacher_fit(monkeypatch, X, y, teacher, spread=0.3)
    assert reads["loss"] == []
    monkeypatch.setattr(_optim, "_CLEAR_IMPROVEMENT", 0.0)
    _, measured, reads = _teacher_fit(monkeypatch, X, y, teacher, spread=0.3)
    assert reads["loss"] == [len(y)]
    assert result.loss_curve == measured.loss_curve


def test_float32_inputs_fitted_to_their_rounding_floor_on_a_subsample(monkeypatch):
    """float32 inputs: a fit below half the caller's floor on a subsample of 20
    rows per parameter or more is confirmed by one loss over all the rows (the
    smallest subsample, which fits their rounding noise below its level, is not
    trusted)."""
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=10, n_hidden=3, activation="relu", random_state=1
    )
    floor = (10 * np.finfo(np.float32).eps) ** 2 * np.mean(y**2)
    _, result, reads = _teacher_fit(
        monkeypatch, X.astype(np.float32), y, teacher, loss_floor=floor
    )
    assert reads["loss"] == [len(y)]
    assert max(reads["gradient"]) < len(y) // 2
    assert result.converged and result.loss_curve == [result.start_loss]
    assert result.start_loss <= floor


def test_a_stage_without_iterations_is_held_to_the_whole_floor(monkeypatch):
    """A subsample stage that takes no iteration (its start is a minimum there to
    rounding) has a loss not fitted to its rows: it is compared with the caller's
    floor itself, not half of it, and one loss over all the rows confirms the fit
    (a float32 ReLU fit at n = 1e6 stopped at 0.9 times the floor and paid two
    more stages and a gradient over all the rows)."""
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=10, n_hidden=3, activation="relu", random_state=1
    )
    X = X.astype(np.float32)
    # Below 20 rows per parameter (34 parameters), then above, nested.
    schedule = [np.arange(0, 100_000, 200), np.arange(0, 100_000, 10)]
    _, probe, _ = _teacher_fit(monkeypatch, X, y, teacher, schedule[:1], loss_floor=0)
    rounding = probe.loss_curve[0]
    assert 0 < rounding < 1e-10 * np.var(y)
    _, result, reads = _teacher_fit(
        monkeypatch, X, y, teacher, schedule, loss_floor=1.5 * rounding
    )
    assert reads["loss"] == [len(y)]
    assert max(reads["gradient"]) < len(y)
    assert result.converged and result.loss_curve == [result.start_loss]


def test_an_exact_fit_of_a_subsample_that_the_other_rows_refute(monkeypatch):
    """Rows outside the subsample carry noise: its exact fit is not exact on all
    the rows, so descent goes on over all of them to the minimum of their loss,
    as without the warm start."""
    from skrecover.datasets import make_teacher_regression

    X, y, teacher = make_teacher_regression(
        n_samples=100_000, n_features=10, n_hidden=3, activation="relu", random_state=1
    )
    schedule = [np.arange(0, 100_000, 100)]
    noisy = y + 0.3 * np.random.RandomState(2).standard_normal(len(y))
    noisy[schedule[0]] = y[schedule[0]]
    _, result, reads = _teacher_fit(monkeypatch, X, noisy, teacher, schedule)
    assert reads["gradient"].count(len(y)) >= 1
    assert result.converged
    fitted = min(result.loss_curve)
    _, reference, _ = _teacher_fit(monkeypatch, X, noisy, teacher, [])
    assert fitted <= min(reference.loss_curve) * (1 + 1e-5)
    assert fitted > 1e-3
