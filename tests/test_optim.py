import numpy as np
import pytest

from skrecover._optim import _inverse_curvature, minimize


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
