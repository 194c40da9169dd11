"""The full-batch optimisation driver shared by every iterative estimator.

One loop, four solvers:

* ``"lbfgs"``: scipy's L-BFGS-B, the default (fewer passes over the data);
* ``"gd"``: plain gradient descent, the method the papers analyse. Its step size is
  ``1 / L`` with ``L`` a curvature estimate (power iteration on finite-difference
  Hessian-vector products at the start point), and it is halved whenever a step
  would raise the loss;
* ``"agd"``: Nesterov's accelerated gradient descent with adaptive restart
  (O'Donoghue and Candes, 2015), one evaluation per iteration. It needs only the
  direction, not a loss it decreases, so it also drives fixed-point iterations
  whose field is not a gradient (Convotron), in about ``sqrt(L / mu)`` instead of
  ``L / mu`` iterations;
* ``"fixed_point"``: the plain iteration ``x <- x - step g(x)`` of a field ``g``
  that need not be a gradient (a preconditioned Convotron update), with the same
  safeguard as ``"agd"``: the step halves when the loss blows up.

All record the loss of every iteration, stop when the monitored loss (training, or
validation with early stopping) has not improved by a fraction ``tol`` of its best
value for ``n_iter_no_change`` consecutive iterations, return the best parameters
seen, print progress lines when ``verbose``, and report whether they converged so that
the estimator can warn. Epoch loops elsewhere record through the same
:class:`Monitor`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy
from scipy import optimize
from scipy.sparse import linalg as sparse_linalg
from threadpoolctl import ThreadpoolController

from ._base import weighted_variance
from ._engine import (
    random_prefixes,
    random_rows,
    reduce_rows,
    subset_rows,
    take_rows,
)
from ._network import (
    LinearizedNetwork,
    forward,
    loss_gradient,
    row_gradients,
    squared_loss,
)

_POWER_ITERATIONS = 10
# Relative size of the finite-difference step of a Hessian-vector product.
_DIFFERENCE_STEP = 1e-6
# Subsampled Newton steps: conjugate gradients stop at this relative residual or
# after this many Hessian-vector products.
_CG_RTOL = 0.1
_CG_MAXITER = 50
# Up to this many trained parameters, the Gauss-Newton matrix is formed from the
# rows' Jacobian (2 m p^2 flops) and its damped systems solved exactly, instead of
# by CG products (two products with the m rows each).
_DENSE_CURVATURE_PARAMS = 256
# Levenberg-Marquardt damping of the Newton steps: the first, relative to the
# curvature along the gradient, and how many solves a step may take.
_DAMPING_START = 1e-2
_DAMPING_TRIES = 6
# Beyond this many times the curvature along the gradient, damped steps are short
# gradient steps: L-BFGS takes over.
_DAMPING_MAX = 10.0
# After this many consecutive steps in which CG does not reach _CG_RTOL and the
# gradient's norm falls by less than a factor 1 / _GOOD_STEP, L-BFGS takes over
# (measured: 2 of 630 solves unfinished in the basin; sigmoid far from it: most).
# Deep in the basin CG may not finish while each step still cuts the gradient 10
# times (sigmoid units, losses from 1e-12 to 1e-19): L-BFGS took 290 iterations
# from there.
_UNSOLVED_STEPS = 3
_GOOD_STEP = 0.5
# ... and after this many steps that did not halve the decrease they predict.
_STALL_STEPS = 3
# A loss that rises by this many times the size of its best value means a
# diverging iteration.
_BLOW_UP = 10.0


def blew_up(loss, best_loss):
    """Whether ``loss`` is non-finite or far above the best loss so far."""
    return not np.isfinite(loss) or loss > best_loss + _BLOW_UP * abs(best_loss)


@dataclass
class OptimResult:
    """Outcome of :func:`minimize`.

    Attributes
    ----------
    x : ndarray
        Best parameters seen (lowest monitored loss).
    n_iter : int
        Iterations run.
    loss_curve : list of float
        Training loss after each iteration.
    validation_loss_curve : list of float
        Validation loss after each iteration (empty without validation).
    converged : bool
        False when ``max_iter`` ran out before the stopping rule fired.
    learning_rate : float or None
        Final step size of ``solver="gd"``.
    solver : str
        The solver that ran.
    start_loss : float
        Training loss at the start point.
    """

    x: np.ndarray
    n_iter: int = 0
    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    converged: bool = False
    learning_rate: float | None = None
    solver: str = "lbfgs"
    start_loss: float = np.inf


class Monitor:
    """Records losses, keeps the best parameters, applies the stopping rule.

    The one stopping rule of every iterative loop in skrecover (the solvers here and
    the epoch loops of the online estimators). An iteration is stale when the
    monitored loss (validation loss when validating) has not improved by a
    fraction ``tol`` of its best value (``stop_on="loss"``), or when the parameters
    moved by less than ``tol * max(1, ||x||)`` (``"step"``: fixed-point iterations
    whose loss need not fall monotonically), or either (``"either"``). The loop stops
    after ``n_iter_no_change`` consecutive stale iterations, or once the loss reaches
    ``loss_floor``. The result keeps the parameters of the lowest monitored loss,
    or the last ones for ``"step"`` without validation.
    """

    def __init__(
        self,
        x0,
        tol,
        n_iter_no_change,
        validate,
        verbose,
        loss_floor=None,
        stop_on="loss",
    ):
        self.tol = tol
        self.loss_floor = loss_floor
        self.n_iter_no_change = n_iter_no_change
        self.validate = validate
        self.verbose = verbose
        self.stop_on = stop_on
        self.result = OptimResult(x=np.array(x0, dtype=float))
        self.previous = self.result.x
        self.best = np.inf
        self.best_x = self.result.x
        self.best_loss = np.inf
        self.stale = 0

    def start(self, x, loss, validation_loss):
        """The start point's losses: the baseline no returned point may be worse
        than (not counted as an iteration)."""
        self.result.start_loss = float(loss)
        self._track_best(np.array(x, dtype=float), loss, validation_loss)
        at_floor = self.loss_floor is not None and loss <= self.loss_floor
        self.result.converged = bool(at_floor)
        return at_floor

    def _track_best(self, x, loss, validation_loss):
        monitored = validation_loss if self.validate else loss
        if monitored < self.best:
            self.best = monitored
            self.result.x = x
        if loss < self.best_loss:
            self.best_x, self.best_loss = x, loss

    def finish(self):
        """The result, never with a higher training loss than the start's (a
        fixed-point iteration keeps its last point only when it is no worse)."""
        result = self.result
        last = result.loss_curve[-1] if result.loss_curve else np.inf
        if self.stop_on == "step" and not self.validate and last > result.start_loss:
            result.x = self.best_x
        return result

    def resume(self):
        """Go on after the rule fired (a caller that changes its iteration)."""
        self.stale = 0
        self.result.converged = False

    def record(self, x, loss, validation_loss, settled=False):
        """Record one iteration; return True when the stopping rule fires (or at
        once when the caller knows ``x`` to be ``settled``)."""
        result = self.result
        result.n_iter += 1
        result.loss_curve.append(float(loss))
        monitored = loss
        if self.validate:
            result.validation_loss_curve.append(float(validation_loss))
            monitored = validation_loss
        if self.verbose:
            line = f"Iteration {result.n_iter}, loss = {loss:.8g}"
            if self.validate:
                line += f", validation loss = {validation_loss:.8g}"
            print(line, flush=True)
        x = np.array(x, dtype=float)
        moved = np.linalg.norm(x - self.previous) > self.tol * max(
            1.0, np.linalg.norm(x)
        )
        self.previous = x
        improved = monitored < self.best and (
            not np.isfinite(self.best)
            or monitored < self.best - self.tol * abs(self.best)
        )
        self._track_best(x, loss, validation_loss)
        if self.stop_on == "step" and not self.validate:
            result.x = x
        progress = {"loss": improved, "step": moved, "either": improved and moved}
        self.stale = 0 if progress[self.stop_on] else self.stale + 1
        at_floor = self.loss_floor is not None and loss <= self.loss_floor
        if self.stale >= self.n_iter_no_change or at_floor or settled:
            result.converged = True
            return True
        return False


def minimize(
    fun,
    x0,
    *,
    solver="lbfgs",
    max_iter=200,
    tol=1e-6,
    n_iter_no_change=10,
    learning_rate="auto",
    validate=False,
    verbose=0,
    loss_floor=None,
    stop_on="loss",
    initial=None,
    curvature=None,
    sampling_tol=0.0,
    settled=None,
):
    """Minimise a smooth objective over full batches.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (loss, gradient, validation_loss)``; ``validation_loss`` may be
        None when ``validate=False``.
    x0 : ndarray of shape (n_params,)
        Start point.
    solver : {"lbfgs", "gd", "agd", "fixed_point"}, default="lbfgs"
    max_iter : int, default=200
    tol : float, default=1e-6
        Relative improvement of the monitored loss below which an iteration counts
        as no improvement.
    n_iter_no_change : int, default=10
        Stop after this many iterations without improvement.
    learning_rate : "auto" or float, default="auto"
        Initial step size of ``solver="gd"`` and ``"agd"``.
    validate : bool, default=False
        Monitor the validation loss instead of the training loss (early stopping).
    verbose : int, default=0
        Print one line per iteration.
    loss_floor : float, default=None
        Stop as soon as the training loss is at most this value.
    stop_on : {"loss", "step", "either"}, default="loss"
        What counts as progress; see :class:`Monitor`.
    initial : tuple, default=None
        ``fun(x0)`` when the caller has it already (saves one evaluation).
    curvature : callable, default=None
        With ``solver="lbfgs"``: ``curvature(x)``, a positive semi-definite
        :class:`~scipy.sparse.linalg.LinearOperator` approximating the Hessian at
        ``x`` (the Gauss-Newton matrix of a subsample, :func:`gauss_newton`), which
        drives Newton steps before L-BFGS (see :func:`_run_newton`).
    sampling_tol : float, default=0.0
        The Newton steps also stop once the decrease they predict is below this
        fraction of the loss (the sampling error of the objective, see
        :func:`train_network`).
    settled : callable, default=None
        With ``solver="fixed_point"``: ``settled(x)`` is True when ``x`` (just
        evaluated) is known to be the fixed point within ``tol``, which stops the
        iteration there (a Newton step shorter than ``tol``, say).

    Returns
    -------
    result : OptimResult
        The best point seen, the start point included: the returned training loss
        is never above the start's.
    """
    monitor = Monitor(x0, tol, n_iter_no_change, validate, verbose, loss_floor, stop_on)
    monitor.result.solver = solver
    safe = _finite(fun)
    x0 = np.array(x0, dtype=float)
    first = safe(x0) if initial is None else _finite(lambda x: initial)(x0)
    if not monitor.start(x0, *first[::2]) and max_iter > 0:
        if solver == "lbfgs" and curvature is not None:
            _run_newton(safe, curvature, x0, first, max_iter, monitor, sampling_tol)
        elif solver == "lbfgs":
            _run_lbfgs(safe, x0, first, max_iter, monitor)
        elif solver in ("agd", "fixed_point"):
            _run_agd(
                safe,
                x0,
                first,
                max_iter,
                learning_rate,
                monitor,
                accelerate=solver == "agd",
                settled=settled,
            )
        else:
            _run_gd(safe, x0, first, max_iter, learning_rate, monitor)
    return monitor.finish()


def _finite(fun):
    """Map non-finite losses to +inf so that line searches and steps back off.

    A trial point far out (a line search's first guess on separable data, say)
    overflows; that is what backing off is for, so it warns nothing.
    """

    def wrapped(x):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, gradient, validation_loss = fun(x)
        if not (np.isfinite(loss) and np.all(np.isfinite(gradient))):
            return np.inf, np.zeros_like(x), np.inf
        return loss, gradient, validation_loss

    return wrapped


def _run_lbfgs(fun, x0, first, max_iter, monitor):
    evaluated = {x0.tobytes(): first}

    def loss_gradient(x):
        known = evaluated.get(x.tobytes())
        loss, gradient, validation_loss = fun(x) if known is None else known
        evaluated.clear()
        evaluated[x.tobytes()] = (loss, gradient, validation_loss)
        return loss, gradient

    def callback(intermediate_result):
        x = intermediate_result.x
        known = evaluated.get(x.tobytes())
        validation_loss = None if known is None else known[2]
        if monitor.validate and validation_loss is None:
            validation_loss = fun(x)[2]
        if monitor.record(x, intermediate_result.fun, validation_loss):
            raise StopIteration

    with scipy_blas_single_threaded():
        result = optimize.minimize(
            loss_gradient,
            x0,
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={
                "maxiter": max_iter,
                "maxfun": 4 * max_iter + 20,
                "ftol": 0.0,
                "gtol": 0.0,
            },
        )
    # L-BFGS-B ends on its own only at a stationary point or when its line search
    # cannot decrease the loss any further (machine precision): both converged.
    if monitor.result.n_iter < max_iter and result.status != 1:
        monitor.result.converged = True


def _run_newton(fun, curvature, x0, first, max_iter, monitor, sampling_tol=0.0):
    """Subsampled Newton-CG with Levenberg-Marquardt damping, then L-BFGS if it
    stalls.

    Near a minimum the Hessian of a mean over rows is nearly that of a random
    subsample of them, for a fraction of the cost: each step takes the loss and
    gradient on all rows (one pass) and solves ``(H_s + lambda I) d = -g`` by
    conjugate gradients on products with ``H_s = curvature(x)``. A step that
    does not descend or whose loss does not fall enough (Armijo) is solved again
    with ``lambda`` four times larger (from ``_DAMPING_START`` times the curvature
    along ``g``): the subsample's Hessian can be nearly flat along directions in
    which the mean over all rows is not. ``lambda`` also grows by 4 after a step
    whose decrease is below a quarter of the model's, and shrinks by 3 (to 0 below
    its start) after one above three quarters (Levenberg-Marquardt). It stops,
    converged, once the decrease the quadratic model predicts, ``-g^T d / 2``, is
    below ``max(tol, sampling_tol)`` times the loss; after ``_DAMPING_TRIES``
    failed solves of one step, or once ``lambda`` exceeds ``_DAMPING_MAX`` times
    the curvature along ``g`` (the steps are then short gradient steps), after
    ``_UNSOLVED_STEPS`` steps in a row whose solve CG could not finish and that
    did not halve the gradient's norm, or when the
    decrease it predicts has not halved over ``_STALL_STEPS`` steps (see
    :func:`_stalled`), it hands the remaining iterations over to L-BFGS.
    """
    x = x0
    loss, gradient, validation_loss = first
    tol = max(monitor.tol, sampling_tol)
    damping, scale, unsolved, predicted = 0.0, None, 0, []
    for _ in range(max_iter):
        hessian = curvature(x)
        for _ in range(_DAMPING_TRIES):
            step, slope, solved = _damped_newton_step(hessian, gradient, damping)
            if slope < 0 and -slope / 2 <= tol * abs(loss):
                monitor.result.converged = True
                return
            trial = fun(x + step) if slope < 0 else (np.inf,)
            # The loss's decrease over the quadratic model's: ``lambda`` shrinks
            # where the model is good and grows where it is not.
            ratio = (loss - trial[0]) / (-slope / 2) if slope < 0 else -np.inf
            if ratio < 0.25:
                if scale is None:
                    scale = _curvature_along(hessian, gradient)
                damping = max(4 * damping, _DAMPING_START * scale)
            elif ratio > 0.75:
                shrunk = scale is not None and damping > _DAMPING_START * scale
                damping = damping / 3 if shrunk else 0.0
            # Armijo (the loss falls by 1e-4 of -g^T d), or damped into gradient
            # steps, which L-BFGS makes better.
            if ratio >= 2e-4 or damping > _DAMPING_MAX * scale:
                break
        # Far from a minimum the curvature is too ill-conditioned for conjugate
        # gradients: each step costs _CG_MAXITER products for little progress.
        predicted.append(-slope / 2)
        if not ratio >= 2e-4:
            break
        # An unfinished solve whose step still cuts the gradient is a good step.
        progress = np.linalg.norm(trial[1]) <= _GOOD_STEP * np.linalg.norm(gradient)
        unsolved = 0 if solved or progress else unsolved + 1
        if unsolved >= _UNSOLVED_STEPS or _stalled(predicted):
            break
        x = x + step
        loss, gradient, validation_loss = trial
        if monitor.record(x, loss, validation_loss):
            return
    remaining = max_iter - monitor.result.n_iter
    if remaining > 0:
        _run_lbfgs(fun, x, (loss, gradient, validation_loss), remaining, monitor)


def _stalled(predicted):
    """Whether the decrease the Newton steps predict has not halved over the last
    ``_STALL_STEPS`` steps: inside a basin it falls geometrically, far from one
    (sigmoid units from a poor start) each step buys little for its CG products."""
    return (
        len(predicted) > _STALL_STEPS
        and predicted[-1] > 0.5 * predicted[-1 - _STALL_STEPS]
    )


def _damped_newton_step(hessian, gradient, damping):
    """The CG solution ``d`` of ``(H + damping I) d = -g`` (exact for a
    :class:`DenseCurvature`), the slope ``g^T d`` (``+inf`` when CG broke down: a
    curvature that vanishes along a search direction ends it in a division by
    zero), and whether CG met its tolerance."""
    if isinstance(hessian, DenseCurvature):
        step = hessian.solve(-gradient, damping)
        return step, gradient @ step, True
    operator = sparse_linalg.LinearOperator(
        hessian.shape, matvec=lambda v: hessian @ v + damping * v, dtype=float
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        step, info = sparse_linalg.cg(
            operator, -gradient, rtol=_CG_RTOL, maxiter=_CG_MAXITER
        )
        slope = gradient @ step
    if not np.all(np.isfinite(step)) or not np.isfinite(slope):
        return np.zeros_like(gradient), np.inf, False
    return step, slope, info == 0


class DenseCurvature:
    """A small positive semi-definite curvature matrix, eigendecomposed once so
    that every damped system ``(H + lambda I) d = r`` is solved exactly."""

    def __init__(self, matrix):
        self.matrix = matrix
        self.shape = matrix.shape
        # numpy's LAPACK: scipy's bundled BLAS would spin threads that then slow
        # numpy's (see scipy_blas_single_threaded).
        values, self.vectors = np.linalg.eigh(matrix)
        self.values = np.maximum(values, 0.0)
        # Below this the matrix is singular (a unit's free directions, say): the
        # minimum-norm solution leaves them alone, as CG from zero does.
        self.null = len(values) * np.finfo(float).eps * max(values.max(), 0.0)

    def __matmul__(self, vector):
        return self.matrix @ vector

    def solve(self, rhs, damping):
        """The minimum-norm solution of ``(H + damping I) d = rhs``."""
        shifted = self.values + damping
        kept = shifted > self.null
        coefficients = self.vectors.T @ rhs
        coefficients = np.where(kept, coefficients / np.where(kept, shifted, 1.0), 0.0)
        return self.vectors @ coefficients


def _curvature_along(hessian, vector):
    """``|v^T H v| / v^T v``: the scale of the damping."""
    norm = vector @ vector
    if norm == 0:
        return 1.0
    return max(abs(vector @ (hessian @ vector)) / norm, np.finfo(float).tiny)


def hessian_of(fun):
    """``x -> LinearOperator`` of the Hessian of ``fun`` (a ``curvature`` for
    :func:`minimize`), by differences of its gradient."""
    fun = _finite(fun)
    return lambda x: _hessian_operator(fun, x)


def gauss_newton(X, sample_weight, packer, activation, patch_indices=None):
    """``x -> LinearOperator``: the Gauss-Newton matrix of the squared loss of the
    network on these rows (in memory), ``J^T S J / sum(S)`` (``J`` the Jacobian of
    the outputs in the packed parameters, ``S`` the sample weights).

    At each ``x`` the network is linearised once (its activations and slopes on
    the rows, :class:`~skrecover._network.LinearizedNetwork`); a product is then
    ``J v`` and ``J^T`` of it: two products with the rows, no activation. Unlike
    the Hessian the matrix is positive semi-definite everywhere, and needs no
    second derivative of the activation (ReLU has none). The products run in
    float32 on a float32 copy of the rows (the curvature rows, at most 20 per
    parameter): conjugate gradients solve to a relative residual of 0.1, and the
    Newton steps of sigmoid and tanh fits at n = 1e6 took 30-50% less time in as
    many iterations. With at most ``_DENSE_CURVATURE_PARAMS`` trained parameters
    and one output the matrix is formed instead, in float64, from the rows'
    Jacobian, as a :class:`DenseCurvature`.
    """
    share = sample_weight / sample_weight.sum()
    directions = packer.directions()
    dense = forms_dense_curvature(packer)
    rows = X if dense else np.asarray(X, dtype=np.float32)

    def curvature(x):
        params = packer.unpack(x)
        if dense:
            return DenseCurvature(
                _gauss_newton_matrix(
                    X, share, packer, params, activation, patch_indices
                )
            )
        linearized = LinearizedNetwork(
            rows, params, activation, patch_indices=patch_indices
        )

        def matvec(vector):
            moved = linearized.jvp(directions.unpack(vector))
            return packer.pack_gradient(linearized.vjp(moved * share[:, np.newaxis]))

        return sparse_linalg.LinearOperator(
            (x.size, x.size), matvec=matvec, dtype=float
        )

    return curvature


def forms_dense_curvature(packer):
    """Whether :func:`gauss_newton` forms its matrix: at most
    ``_DENSE_CURVATURE_PARAMS`` trained parameters and one output."""
    template = packer.template
    return (
        packer.pack(template).size <= _DENSE_CURVATURE_PARAMS
        and template.output_weights.shape[0] == 1
    )


def _gauss_newton_matrix(X, share, packer, params, activation, patch_indices):
    """``J^T S J`` in float64, summed over blocks of the rows (each block's
    Jacobian is ``n_block x n_params``)."""

    def block(rows, weights):
        # Residuals of 1 (outputs minus targets): each row's loss gradient is its
        # row of J.
        at_x = forward(rows, params, activation, patch_indices=patch_indices)
        jacobian = packer.pack_rows(
            row_gradients(
                rows, at_x - 1.0, params, activation, patch_indices=patch_indices
            )
        )
        return jacobian.T @ (jacobian * weights[:, np.newaxis])

    n_params = packer.pack(packer.template).size
    return reduce_rows(block, X, share, width=3 * n_params + X.shape[1])


def _hessian_operator(fun, x):
    """The Hessian of ``fun`` at ``x`` as a LinearOperator of
    :func:`_hessian_product` (one gradient of ``fun`` per product)."""
    gradient = fun(x)[1]
    return sparse_linalg.LinearOperator(
        (x.size, x.size),
        matvec=lambda v: _hessian_product(fun, x, gradient, v),
        dtype=float,
    )


def _hessian_product(fun, x, gradient, vector):
    """``H v`` at ``x`` by a forward difference of the gradient of ``fun``
    (``gradient`` is the one at ``x``), along ``v`` over a step of relative size
    ``_DIFFERENCE_STEP``."""
    norm = np.linalg.norm(vector)
    if norm == 0:
        return np.zeros_like(vector)
    h = _DIFFERENCE_STEP * max(1.0, np.linalg.norm(x)) / norm
    return (fun(x + h * vector)[1] - gradient) / h


@lru_cache(maxsize=1)
def blas_controller():
    """The process's :class:`~threadpoolctl.ThreadpoolController` (building one
    scans the loaded libraries: about a millisecond)."""
    return ThreadpoolController()


def scipy_blas_single_threaded():
    """Limit the BLAS that scipy bundles apart from numpy's to one thread.

    Wheels of numpy and scipy each ship an OpenBLAS. L-BFGS-B calls scipy's on tiny
    vectors, after which its threads spin-wait and take the cores from numpy's BLAS
    in the objective: measured 2-4 times slower evaluations on 2 cores. When both
    packages share one BLAS library, nothing is limited.
    """
    scipy_libraries = os.path.dirname(scipy.__file__) + ".libs"
    controller = blas_controller()
    own = [
        library.filepath
        for library in controller.lib_controllers
        if library.user_api == "blas"
        and (library.filepath or "").startswith(scipy_libraries)
    ]
    if not own:
        return nullcontext()
    return controller.select(filepath=own).limit(limits=1)


def _run_gd(fun, x0, first, max_iter, learning_rate, monitor):
    x = x0
    loss, gradient, validation_loss = first
    if learning_rate == "auto":
        step = _inverse_curvature(fun, x, gradient)
    else:
        step = float(learning_rate)
    for _ in range(max_iter):
        candidate = x - step * gradient
        new_loss, new_gradient, new_validation_loss = fun(candidate)
        if new_loss > loss:
            # Too long a step: halve it and stay (the iteration counts as stale).
            step /= 2
        else:
            x, loss, gradient = candidate, new_loss, new_gradient
            validation_loss = new_validation_loss
        if monitor.record(x, loss, validation_loss):
            break
    monitor.result.learning_rate = step


def _run_agd(
    fun, x0, first, max_iter, learning_rate, monitor, accelerate=True, settled=None
):
    """Accelerated steps from the look-ahead point. Momentum restarts whenever the
    loss rises or the direction turns against the last move (O'Donoghue and
    Candes), which keeps the loss nearly monotone. A loss that is non-finite or
    blows up (:func:`blew_up`) means the step is too long for this field: it is
    halved and the iteration resumes from the best point. Without ``accelerate``,
    the plain iteration ``x <- x - step g(x)`` with the same safeguard."""
    loss, gradient, _ = first
    previous = look_ahead = x0
    best = (x0, loss, gradient)
    momentum = 1.0
    step = (
        _inverse_curvature(fun, x0, gradient)
        if learning_rate == "auto"
        else float(learning_rate)
    )
    for _ in range(max_iter):
        current = look_ahead - step * gradient
        if not accelerate or gradient @ (current - previous) > 0:
            momentum = 1.0
        following = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        look_ahead = current + (momentum - 1) / following * (current - previous)
        previous, momentum = current, following
        last_loss = loss
        loss, gradient, validation_loss = fun(look_ahead)
        if blew_up(loss, best[1]):
            step /= 2
            look_ahead = previous = best[0]
            loss, gradient, momentum = best[1], best[2], 1.0
            continue
        if loss < best[1]:
            best = (look_ahead, loss, gradient)
        if loss > last_loss:
            momentum = 1.0
        done = settled is not None and settled(look_ahead)
        if monitor.record(look_ahead, loss, validation_loss, settled=done):
            break
    monitor.result.learning_rate = step


def _inverse_curvature(fun, x, gradient):
    """``1 / L`` with ``L`` the largest Hessian eigenvalue (in magnitude) at ``x``.

    Power iteration on Hessian-vector products ``(g(x + h v) - g(x)) / h``.
    """
    direction = gradient / (np.linalg.norm(gradient) or 1.0)
    if not np.any(direction):
        direction = np.full_like(x, 1 / np.sqrt(x.size))
    curvature = 0.0
    for _ in range(_POWER_ITERATIONS):
        product = _hessian_product(fun, x, gradient, direction)
        curvature = np.linalg.norm(product)
        if not np.isfinite(curvature) or curvature == 0:
            break
        direction = product / curvature
    return 1.0 / curvature if np.isfinite(curvature) and curvature > 0 else 1e-3


class ParameterPacker:
    """Flattens the trained parts of a network into the optimiser's vector.

    Parameters not listed in ``free`` keep their values from ``template``. With a
    whitening, the hidden weights are optimised in whitened coordinates
    (``W = Theta S^{-1/2}``): plain gradient descent there is preconditioned
    gradient descent in the original coordinates, at no cost on the data.
    """

    def __init__(self, template, free, transform=None):
        self.template = template
        self.free = tuple(free)
        self.transform = transform

    def pack(self, params):
        """The trained parameters as one vector (whitened coordinates)."""
        color = None if self.transform is None else self.transform.color
        return self._flatten(params, color)

    def pack_gradient(self, gradient):
        """A gradient in original coordinates as a vector in whitened ones."""
        whiten = None if self.transform is None else self.transform.whiten
        return self._flatten(gradient, whiten)

    def directions(self):
        """The packer of directions: the fixed parameters are zero (a hidden layer
        without biases keeps None), so that ``unpack`` of a vector is the change
        of the parameters along it."""
        zeros = type(self.template)(
            *(
                None if part is None else np.zeros(np.shape(part))
                for part in self.template
            )
        )
        return ParameterPacker(zeros, self.free, self.transform)

    def unpack(self, vector):
        values = self.template._asdict()
        offset = 0
        for name in self.free:
            shape = np.shape(getattr(self.template, name))
            size = int(np.prod(shape))
            value = vector[offset : offset + size].reshape(shape)
            offset += size
            if name == "hidden_weights" and self.transform is not None:
                value = value @ self.transform.whiten
            values[name] = value
        return type(self.template)(**values)

    def pack_rows(self, gradients):
        """Per-sample gradients (arrays with a leading axis of samples, as
        :func:`~skrecover._network.row_gradients` returns) as the rows of a matrix
        in the packed coordinates."""
        whiten = None if self.transform is None else self.transform.whiten
        n_rows = len(gradients.hidden_weights)
        return self._flatten(gradients, whiten, leading=(n_rows,))

    def _flatten(self, params, hidden_map, leading=()):
        parts = []
        for name in self.free:
            value = getattr(params, name)
            if name == "hidden_weights" and hidden_map is not None:
                value = value @ hidden_map
            parts.append(np.reshape(value, (*leading, -1)))
        return np.concatenate(parts, axis=-1) if parts else np.zeros((*leading, 0))


# Data with at least this many samples get the subsample warm start, with at least
# this many rows per trained parameter in the smallest subsample; Newton steps take
# the Hessian of the first subsample with at least _CURVATURE_ROWS_PER_PARAMETER.
_WARM_UP_MIN_SAMPLES = 100_000
_WARM_UP_ROWS_PER_PARAMETER = 5
_CURVATURE_ROWS_PER_PARAMETER = 20
_WARM_UP_FACTOR = 4
# The first subsample's iterations cost 1/256 of a pass or less each: it may take
# this many times max_iter before the larger subsamples (and far from a minimum,
# their L-BFGS iterations) take over.
_FIRST_STAGE_ITERATIONS = 5
# Newton steps on m rows stop once the decrease they predict is below this fraction
# of the loss's own sampling error, (n_params / m) times the loss (the excess loss
# of a least-squares fit of n_params parameters to m noisy rows).
_SAMPLING_FRACTION = 0.01
# A warm start whose loss on all the rows is below this fraction of the start's
# loss on the first subsample is kept without measuring the start's on all of them
# (a factor the sampling error of that estimate does not reach).
_CLEAR_IMPROVEMENT = 0.25
# A squared loss below this fraction of the variance of the targets is an exact fit
# (residuals 1e-10 of their spread: rounding, for float64 data).
_EXACT_FIT = 1e-20
# On fewer rows than a warm start needs, L-BFGS takes the first iterations and
# Newton steps the rest (see train_network).
_LBFGS_LEAD = 30


def subsample_schedule(n_samples, n_params, random_state):
    """Sorted row indices of nested random subsamples, smallest first."""
    if n_samples < _WARM_UP_MIN_SAMPLES:
        return []
    smallest = max(_WARM_UP_ROWS_PER_PARAMETER * n_params, n_samples // 256)
    sizes = []
    size = smallest
    while size * 2 <= n_samples:
        sizes.append(size)
        size *= _WARM_UP_FACTOR
    first = random_prefixes(random_state, n_samples)
    return [first(size) for size in sizes]


def _fits_exactly(loss, y, sample_weight, floor=None):
    """Whether a squared loss is at the rounding level of float64 targets, or at
    most ``floor``: an exact fit of noise-free data."""
    level = _EXACT_FIT * weighted_variance(y, sample_weight)
    return bool(loss <= max(level, floor or 0.0))


def choose_solver(sample_weight, n_params):
    """L-BFGS, unless there are at least as many parameters as (effective) samples.

    In that interpolation regime the minimisers of the training loss form a
    manifold: quasi-Newton steps drift along it chaotically (a rounding difference
    changes the interpolant found), while plain gradient descent moves continuously
    with the data and the start point. Sample weights count as frequencies.
    """
    return "lbfgs" if float(sample_weight.sum()) > n_params else "gd"


def train_network(
    X,
    y,
    sample_weight,
    params,
    activation,
    *,
    free,
    transform=None,
    validation_weight=None,
    loss="squared",
    patch_indices=None,
    solver="lbfgs",
    max_iter=200,
    tol=1e-6,
    n_iter_no_change=10,
    learning_rate="auto",
    verbose=0,
    loss_floor=None,
    random_state=None,
):
    """Full-batch training of the ``free`` parameters from ``params``.

    With L-BFGS on large data (at least 100 000 samples, no early stopping), the
    first iterations of the squared loss run on nested random subsamples growing
    4-fold from 1/256 of the rows (at least 5 rows per parameter) to at most a half:
    a warm start that costs a fraction of full passes. Its result is kept only if
    its loss on all the rows is below the start's (a quarter of the start's loss on
    the first subsample, or else its loss on all the rows), so that a subsample
    that misleads (a noisy objective fitted on too few rows) costs its passes and
    nothing else. Every stage takes subsampled Newton steps (:func:`_run_newton`),
    one pass over its rows each: with the Gauss-Newton matrix (:func:`gauss_newton`)
    of the first subsample's rows, then, from the first subsample of at least 20
    rows per parameter on, of 20 rows per parameter drawn from it, in memory. They
    stop once the decrease they predict is below ``tol`` times the loss, or below
    1% of the loss's sampling error on those ``m`` rows (``n_params / m`` times the
    loss: optimising further would fit their noise); L-BFGS takes over if they
    stall. The first subsample may take ``5 * max_iter`` iterations (each costs at
    most 1/256 of a pass): far from a minimum (sigmoid units from a poor start)
    they are the cheapest way into its basin. On fewer rows, L-BFGS takes the
    first ``_LBFGS_LEAD`` iterations (far from a minimum of a model that does not
    fit the data, its path found the lower minima: friedman1 under 5-fold
    cross-validation, test R^2 0.858 against 0.841 for Newton steps from the
    start, mean of 6 data sets) and Newton steps the rest, on all the rows, with
    the Gauss-Newton matrix of all of them where it is formed (at most 256
    parameters and one output: 20 rows per parameter fell short there, the steps
    of sigmoid units with biases by a factor 1.8), else of 20 rows per parameter.
    The loss curve holds losses on all the rows: the warm start's result, then
    every iteration; the iteration count includes the warm start's iterations.

    Returns the best parameters and the :class:`OptimResult`.
    """
    packer = ParameterPacker(params, free, transform)
    start = packer.pack(params)
    if solver == "auto":
        solver = choose_solver(sample_weight, start.size)
    if max_iter == 0 or start.size == 0:
        return params, OptimResult(x=start, converged=True, solver=solver)
    options = {
        "solver": solver,
        "tol": tol,
        "n_iter_no_change": n_iter_no_change,
        "learning_rate": learning_rate,
        "verbose": verbose,
        "loss_floor": loss_floor,
    }

    def objective(rows=None, validate=False):
        data = (X, y, sample_weight)
        if rows is not None:
            data = (subset_rows(X, rows), y[rows], sample_weight[rows])
        return _objective(
            *data,
            packer,
            activation,
            loss,
            patch_indices,
            validation_weight if validate else None,
        )

    validate = validation_weight is not None
    full = objective(validate=validate)
    initial, warm_iterations = None, 0

    def sampling_tol(n_rows):
        return _SAMPLING_FRACTION * start.size / n_rows

    curvature_rows = _CURVATURE_ROWS_PER_PARAMETER * start.size

    def curvature_of(rows):
        # The Gauss-Newton matrix of a bounded random subset of ``rows``, in memory
        # wherever X is.
        size = min(curvature_rows, len(rows))
        chosen = rows[random_rows(random_state, len(rows), size)]
        return gauss_newton(
            take_rows(X, chosen),
            take_rows(sample_weight, chosen),
            packer,
            activation,
            patch_indices,
        )

    def loss_of(vector):
        # The loss alone on all the rows: one forward pass, not a gradient's two
        # (+inf where it overflows).
        with np.errstate(over="ignore", invalid="ignore"):
            value = squared_loss(
                X,
                y,
                sample_weight,
                packer.unpack(vector),
                activation,
                patch_indices=patch_indices,
            )
        return value if np.isfinite(value) else np.inf

    # Bernoulli labels are too noisy for the subsamples: fitted on 1/64 of 1e5 rows,
    # sigmoid units saturate into steps that fit the subsample (norms 1e3-1e5).
    warm_up = loss == "squared" and solver == "lbfgs" and not validate
    curvature = None
    if warm_up and random_state is not None:
        warm, estimate, checked = start, None, False
        settled_curvature = False
        stage_iterations = _FIRST_STAGE_ITERATIONS * max_iter
        for rows in subsample_schedule(len(y), start.size, random_state):
            if len(rows) >= curvature_rows and not settled_curvature:
                curvature, settled_curvature = curvature_of(rows), True
            elif curvature is None:
                curvature = curvature_of(rows)
            stage = minimize(
                objective(rows),
                warm,
                max_iter=stage_iterations,
                curvature=curvature,
                sampling_tol=sampling_tol(len(rows)),
                **options,
            )
            warm, warm_iterations = stage.x, warm_iterations + stage.n_iter
            stage_iterations = max_iter
            # The start's loss on the first subsample: an unbiased estimate of
            # its loss on all the rows.
            estimate = stage.start_loss if estimate is None else estimate
            best = min(stage.loss_curve, default=stage.start_loss)
            # Rounding noise (of float32 inputs, say) fitted on a few rows per
            # parameter falls below its level on all the rows: the caller's floor
            # counts from 20 rows per parameter, with a margin of 2, or none when
            # the stage took no iteration (its loss is not fitted to its rows: a
            # float32 ReLU fit stopped at 0.9 times the floor on them).
            floor = None
            if loss_floor is not None and len(rows) >= curvature_rows:
                floor = loss_floor if stage.n_iter == 0 else loss_floor / 2
            if not checked and _fits_exactly(best, y[rows], sample_weight[rows], floor):
                # Noise-free rows fitted to rounding: the larger subsamples could
                # only confirm it, a pass over their rows each; one loss over all
                # the rows does.
                checked, at_warm = True, loss_of(warm)
                if _fits_exactly(at_warm, y, sample_weight, loss_floor):
                    result = OptimResult(
                        x=warm,
                        converged=True,
                        n_iter=warm_iterations,
                        loss_curve=[at_warm],
                        solver=solver,
                        start_loss=at_warm,
                    )
                    return packer.unpack(warm), result
        if warm_iterations:
            at_warm = full(warm)
            if not at_warm[0] < _CLEAR_IMPROVEMENT * estimate:
                # Not clearly better: the start's loss on all the rows decides (one
                # forward pass instead of a gradient's two).
                at_start = loss_of(start)
                if not at_warm[0] < at_start:
                    at_warm = None
            if at_warm is not None:
                start, initial = warm, at_warm
        if curvature is None:
            # Too few rows for a warm start: L-BFGS leads, then Newton steps with
            # the Gauss-Newton matrix of all the rows where it is formed (summed
            # over blocks of them where they are), else of the bounded subset.
            lead = minimize(full, start, max_iter=min(_LBFGS_LEAD, max_iter), **options)
            if lead.converged or lead.n_iter >= max_iter:
                return packer.unpack(lead.x), lead
            curvature = (
                gauss_newton(X, sample_weight, packer, activation, patch_indices)
                if forms_dense_curvature(packer)
                else curvature_of(np.arange(len(y)))
            )
            result = minimize(
                full,
                lead.x,
                max_iter=max_iter - lead.n_iter,
                curvature=curvature,
                sampling_tol=sampling_tol(len(y)),
                **options,
            )
            result.loss_curve[:0] = lead.loss_curve
            result.n_iter += lead.n_iter
            result.start_loss = lead.start_loss
            return packer.unpack(result.x), result
    result = minimize(
        full,
        start,
        max_iter=max_iter,
        validate=validate,
        initial=initial,
        curvature=curvature,
        sampling_tol=sampling_tol(len(y)),
        **options,
    )
    if warm_iterations:
        result.loss_curve.insert(0, result.start_loss)
        result.n_iter += warm_iterations
    return packer.unpack(result.x), result


def _objective(
    X, y, sample_weight, packer, activation, loss, patch_indices, validation
):
    monitors = () if validation is None else (validation,)

    def objective(vector):
        value, gradient, monitored = loss_gradient(
            X,
            y,
            sample_weight,
            packer.unpack(vector),
            activation,
            loss=loss,
            patch_indices=patch_indices,
            monitor_weights=monitors,
        )
        return (
            value,
            packer.pack_gradient(gradient),
            (monitored[0] if monitors else None),
        )

    return objective
