"""The Convotron update (Goel, Klivans and Meka, 2018) and its solvers, as functions.

The mean update field and the patch covariance (drift matrix) in one pass over the
data each, the preconditioned batch solver, and the stochastic and minibatch epochs
that Convotron and DoubleConvotron share.
"""

# SPDX-License-Identifier: BSD-3-Clause

from typing import NamedTuple

import numpy as np

from ._engine import map_rows, persist_rows, reduce_rows, scan_rows
from ._network import gather_patches, pool, pre_activations
from ._optim import Monitor, blew_up, minimize
from .activations import LeakyReLU, ReLU, get_activation

# Eigenvalues of the patch covariance below this fraction of the largest count as
# zero: the condition lambda_min > 0 of Goel, Klivans and Meka then fails.
SINGULAR = 1e-8
# Stop once the mean squared error is this fraction of the variance of y.
LOSS_FLOOR = 1e-20
MINIBATCH_SIZE = 32
# The batch solver's Newton steps may be at most this many times longer than the
# preconditioned Convotron step.
NEWTON_REACH = 10.0
# The online intercept averages the residual over about this many samples.
INTERCEPT_WINDOW = 1024
LEAKY = (ReLU, LeakyReLU)
LEAKY_REASON = (
    "the Convotrons' guarantee rests on the activation's odd part being linear, "
    "which a smooth activation such as tanh or sigmoid does not have: use 'relu', "
    "'leaky_relu', 'linear' or LeakyReLU(slope) with a slope in [0, 1]"
)


def leaky_relu(activation):
    """The activation as a :class:`LeakyReLU` (ReLU has slope 0); others refused."""
    resolved = get_activation(activation, allowed=LEAKY, reason=LEAKY_REASON)
    slope = float(getattr(resolved, "slope", 0.0))
    if not 0 <= slope <= 1:
        raise ValueError(f"The leaky ReLU slope must lie in [0, 1], got {slope}.")
    return LeakyReLU(slope)


class FilterProblem(NamedTuple):
    """What a Convotron run needs besides the data (working units).

    ``layout``: patch indices; ``output``: the fixed output weights ``a``;
    ``slope``: of the leaky ReLU; ``update_patch``: the patch of the
    one-disjoint-patch update (or None); ``preconditioner``: the pseudo-inverse of
    the drift matrix, for the batch solver; ``fit_intercept``: whether the model
    has an output offset; ``directions``: the rows' update directions
    (:func:`update_rows`) when the batch solver keeps them.
    """

    layout: np.ndarray
    output: np.ndarray
    slope: float
    update_patch: int | None
    preconditioner: np.ndarray
    fit_intercept: bool = False
    directions: np.ndarray | None = None


def update_directions(patches, output, update_patch=None):
    """``u(x) = sum_l a_l x_l`` (or ``x_j`` for the one-disjoint-patch update) and
    ``v(x) = sum_l a_l x_l`` for gathered patches of shape (n, n_patches, r)."""
    pooled = np.einsum("l,clr->cr", output, patches)
    if update_patch is None:
        return pooled, pooled
    return patches[:, update_patch, :], pooled


def update_rows(X, patch_indices, output_weights, update_patch=None):
    """The update directions ``u(x)`` of every row, shape (n, patch_size): one pass,
    kept for the batch solver's iterations (``1 / n_patches`` of ``X``'s size)."""

    def block(rows):
        patches = gather_patches(rows, patch_indices).astype(np.float64, copy=False)
        return update_directions(patches, output_weights, update_patch)[0]

    return persist_rows(map_rows(block, X, width=2 * patch_indices.size))[0]


def drift_matrix(
    X, sample_weight, patch_indices, output_weights, update_patch=None, directions=None
):
    """``D = E[u(x) v(x)^T]``: the mean update is ``c_alpha D (w* - w)``.

    For Convotron ``D`` is the patch covariance ``C = E[v v^T]``, whose extreme
    eigenvalues set the step size and the rate (Goel, Klivans and Meka need
    ``lambda_min(C) > 0``). Also returns ``E[||u||^2]``. One pass, over the rows'
    ``directions`` (:func:`update_rows`) instead of ``X`` when they are given and
    ``u = v`` (no ``update_patch``).
    """

    def block(rows, weights):
        patches = gather_patches(rows, patch_indices).astype(np.float64, copy=False)
        return moments(
            *update_directions(patches, output_weights, update_patch), weights
        )

    def moments(u, v, weights):
        return (weights[:, np.newaxis] * u).T @ v, weights @ np.einsum("cr,cr->c", u, u)

    if directions is not None and update_patch is None:
        total, squared = reduce_rows(
            lambda u, weights: moments(u, u, weights),
            directions,
            sample_weight,
            width=2 * patch_indices.shape[1],
        )
    else:
        total, squared = reduce_rows(
            block, X, sample_weight, width=2 * patch_indices.size
        )
    scale = 1.0 / float(sample_weight.sum())
    return total * scale, float(squared * scale)


class Field(NamedTuple):
    """The mean loss and Convotron update at a filter (see :func:`convotron_field`)."""

    loss: float
    update: np.ndarray
    monitored: list
    intercept: float
    jacobian: np.ndarray | None = None


def convotron_field(
    X,
    y,
    sample_weight,
    w,
    patch_indices,
    output_weights,
    slope,
    update_patch=None,
    monitor_weights=(),
    *,
    fit_intercept=False,
    shift=0.0,
    jacobian=False,
    directions=None,
):
    """Mean squared loss and the mean Convotron update ``E[(y - c - f(x)) u(x)]``.

    The update has no ``phi'`` factor: it is not the gradient of the loss, which is
    why Convotron can start from ``w = 0`` (where the ReLU gradient vanishes). With
    ``fit_intercept`` the output offset ``c`` is the mean residual ``E[y - f(x)]``
    (on symmetric inputs ``E[c u(x)] = 0``: the offset does not move the filter's
    fixed point), else 0. The sums are taken of residuals minus ``shift`` (an
    estimate of ``c``), so that the loss ``E[r^2] - E[r]^2`` does not cancel. With
    ``jacobian``, also ``-dF/dw = E[(u - E u) g^T]`` of the update ``F``, where
    ``g(x) = sum_l a_l phi'(w^T x_l) x_l`` is the output's gradient (``E[u] = 0``
    without intercept). ``directions``: the rows' ``u(x)`` when the caller has them
    (:func:`update_rows`). One pass.
    """
    activation = LeakyReLU(slope)
    output = output_weights.reshape(1, -1, 1)
    monitors = np.column_stack(monitor_weights) if len(monitor_weights) else None

    def block(rows, targets, weights, monitor, u):
        patches = gather_patches(rows, patch_indices).astype(np.float64, copy=False)
        pre = pre_activations(patches, w[np.newaxis, :])
        residual = targets - shift - pool(activation(pre), output)[:, 0]
        if u is None:
            u, _ = update_directions(patches, output_weights, update_patch)
        squared = residual * residual
        sums = [
            weights @ squared,
            (weights * residual) @ u,
            weights @ residual,
            weights @ u,
        ]
        if jacobian:
            slopes = activation.derivative(pre[:, :, 0]) * output_weights
            # sum_l slopes_cl patches_clr, one small product per row (matmul was
            # measured 1.6-3.4 times faster than einsum on these block shapes)
            gradient = np.matmul(slopes[:, np.newaxis, :], patches)[:, 0]
            sums += [(weights[:, np.newaxis] * u).T @ gradient, weights @ gradient]
        if monitor is not None:
            sums += [monitor.T @ squared, monitor.T @ residual]
        return sums

    sums = reduce_rows(
        block,
        X,
        y,
        sample_weight,
        monitors,
        directions,
        width=4 * patch_indices.size,
    )
    total = float(sample_weight.sum())
    # The mean of the shifted residuals is c - shift (-shift without intercept).
    offset = sums[2] / total if fit_intercept else -shift
    update = (sums[1] - offset * sums[3]) / total
    loss = 0.5 * (sums[0] / total - 2 * offset * sums[2] / total + offset**2)
    derivative = None
    if jacobian:
        cross, mean_gradient = sums[4] / total, sums[5] / total
        centre = sums[3] / total if fit_intercept else 0.0
        derivative = cross - np.outer(centre, mean_gradient)
    monitored = []
    if monitors is not None:
        squared, residual = sums[-2:]
        weight = np.maximum(monitors.sum(axis=0), 1e-300)
        monitored = list(
            0.5 * (squared / weight - 2 * offset * residual / weight + offset**2)
        )
    return Field(
        max(float(loss), 0.0), update, monitored, float(shift + offset), derivative
    )


def solve_batch(X, y, weight, validation_weight, w0, problem, **options):
    """The batch Convotron: the mean update preconditioned by ``D^{-1}``, run by the
    driver's safeguarded fixed-point iteration (``options``: ``max_iter``, ``tol``,
    ``n_iter_no_change``, ``verbose``, ``loss_floor``). Returns the driver's result
    and the output offset at its filter.

    The iteration has the same fixed point as the semismooth Newton iteration on
    the update ``F``, ``w <- w + J^{-1} F(w)`` with ``J = -dF/dw`` (measured in the
    same pass as ``F``), which converges in a few steps instead of about
    ``log(1 / tol) / log(1 / (1 - c_alpha))``. A Newton step is taken while the
    previous step shortened the preconditioned step ``D^{-1} F`` and it is at most
    :data:`NEWTON_REACH` times longer than that step; otherwise the preconditioned
    step. The iteration ends after a Newton step shorter than
    ``tol * max(1, ||w||)``: the next would move ``w`` by about its square.
    """
    monitors = () if validation_weight is None else (validation_weight,)
    intercepts = {}
    # At the last filter evaluated: the output offset, the length of the
    # preconditioned step and the relative length of the Newton step taken from it
    # (inf for a preconditioned step).
    last = {"shift": 0.0, "field": np.inf, "newton": np.inf, "previous": np.inf}
    directions = problem.directions
    if directions is None:
        directions = update_rows(
            X, problem.layout, problem.output, problem.update_patch
        )

    def objective(w):
        field = convotron_field(
            X,
            y,
            weight,
            w,
            *field_arguments(problem),
            monitor_weights=monitors,
            fit_intercept=problem.fit_intercept,
            shift=last["shift"],
            jacobian=True,
            directions=directions,
        )
        intercepts[w.tobytes()] = last["shift"] = field.intercept
        step = problem.preconditioner @ field.update
        size = np.linalg.norm(step)
        newton = _newton_step(field, step) if size < last["field"] else None
        length = np.inf if newton is None else np.linalg.norm(newton)
        last.update(
            field=size,
            previous=last["newton"],
            newton=length / max(1.0, np.linalg.norm(w)),
        )
        direction = step if newton is None else newton
        return field.loss, -direction, field.monitored[0] if monitors else None

    result = minimize(
        objective,
        w0,
        solver="fixed_point",
        learning_rate=1.0,
        validate=validation_weight is not None,
        stop_on="step",
        settled=lambda w: last["previous"] < options["tol"],
        **options,
    )
    if result.x.tobytes() not in intercepts:
        objective(result.x)
    return result, intercepts[result.x.tobytes()]


def _newton_step(field, fallback):
    """``J^{-1} F``, or None when ``J`` is singular (condition number beyond
    ``1 / SINGULAR``: the step's null-space part would be rounding) or the step is
    more than :data:`NEWTON_REACH` times longer than the ``fallback`` step."""
    if not np.linalg.cond(field.jacobian) < 1 / SINGULAR:
        return None
    step = np.linalg.solve(field.jacobian, field.update)
    if not np.linalg.norm(step) <= NEWTON_REACH * np.linalg.norm(fallback):
        return None
    return step


def field_arguments(problem):
    return problem.layout, problem.output, problem.slope, problem.update_patch


class Updates(NamedTuple):
    """The state of stochastic updates: the filter returned (the running average
    with averaging), the raw iterate, the number of updates, the step and the
    output offset the updates subtract."""

    w: np.ndarray
    iterate: np.ndarray
    t: int
    learning_rate: float
    intercept: float = 0.0


def run_epoch(
    X, y, sample_weight, order, updates, problem, *, batch, average, short=False
):
    """One pass of (mini)batch updates over the rows ``order``.

    ``w <- w + eta (y - c - f(x)) u(x)`` averaged over ``batch`` samples (with
    ``short``, for a chunk of a stream shorter than a batch, summed over
    ``batch``: ``eta`` is the step of a full batch, too long for one row), with
    sample weights relative to their mean; with ``average``, ``w`` is the running
    average of the iterates once ``average`` updates have passed (``True``: from
    the first). With an intercept, ``c`` tracks the mean residual: the mean over
    the first updates, then a moving average over about ``INTERCEPT_WINDOW``
    samples (a stale ``c`` leaves ``E[u] = 0`` unbiased, but adds variance).
    """
    relative = sample_weight / np.mean(sample_weight[order])
    slope, output = problem.slope, problem.output
    start = 1 if average is True else int(average)
    window_rate = batch / INTERCEPT_WINDOW if problem.fit_intercept else 0.0
    rows_per_step = batch if short else 1

    def block(state, rows, targets, weights):
        w, iterate, t, eta, intercept = state
        patches = gather_patches(rows, problem.layout).astype(np.float64, copy=False)
        u, _ = update_directions(patches, output, problem.update_patch)
        for b in range(0, len(rows), batch):
            part = slice(b, b + batch)
            pre = patches[part] @ iterate
            f = np.where(pre > 0, pre, slope * pre) @ output
            residual = weights[part] * (targets[part] - intercept - f)
            divisor = max(len(residual), rows_per_step)
            iterate = iterate + eta * residual @ u[part] / divisor
            t += 1
            if window_rate:
                intercept += max(1.0 / t, window_rate) * residual.mean()
            if not average:
                w = iterate
            elif t < start:
                w = iterate.copy()
            else:
                w = w + (iterate - w) / (t - start + 1)
        return Updates(w, iterate, t, eta, intercept)

    return scan_rows(
        block,
        updates,
        X,
        y,
        relative,
        order=order,
        width=2 * problem.layout.size,
        multiple=batch,
    )


def run_epochs(
    X,
    y,
    sample_weight,
    validation_weight,
    updates,
    problem,
    *,
    batch,
    average,
    shuffle,
    max_iter,
    tol,
    n_iter_no_change,
    verbose,
    loss_floor,
    random_state,
):
    """Epochs of :func:`run_epoch` with the driver's stopping rule and blow-up guard.

    Whenever the loss becomes non-finite or grows more than tenfold, the step is
    halved and the epochs resume from the best filter. ``average="auto"``: no
    averaging until the rule fires above ``loss_floor``; a constant step's
    iterates then fluctuate about the solution (noisy labels) at a floor set by
    the step, and the epochs go on averaging them from there, until the rule
    fires again.
    """
    monitors = () if validation_weight is None else (validation_weight,)

    def field(w, shift):
        loss, _, monitored, intercept, _ = convotron_field(
            X,
            y,
            sample_weight,
            w,
            *field_arguments(problem),
            monitor_weights=monitors,
            fit_intercept=problem.fit_intercept,
            shift=shift,
        )
        return loss, monitored[0] if monitors else None, intercept

    monitor = Monitor(
        updates.w,
        tol,
        n_iter_no_change,
        bool(monitors),
        verbose,
        loss_floor,
        stop_on="either",
    )
    best_loss, start_validation, intercept = field(updates.w, updates.intercept)
    updates = updates._replace(intercept=intercept)
    best_updates = updates
    monitor.start(updates.w, best_loss, start_validation)
    training = np.flatnonzero(sample_weight > 0)
    averaging = False if average == "auto" else average
    for _ in range(max_iter):
        order = random_state.permutation(training) if shuffle else training
        # A step too long for the data overflows: the guard below halves it.
        with np.errstate(over="ignore", invalid="ignore"):
            updates = run_epoch(
                X,
                y,
                sample_weight,
                order,
                updates,
                problem,
                batch=batch,
                average=averaging,
            )
            loss, validation_loss, intercept = field(updates.w, updates.intercept)
        updates = updates._replace(intercept=intercept)
        if blew_up(loss, best_loss):
            # The step is too long for these data (asymmetric inputs, say): halve
            # it and resume from the best filter.
            updates = best_updates._replace(learning_rate=updates.learning_rate / 2)
            best_updates = updates
            continue
        if loss < best_loss:
            best_updates, best_loss = updates, loss
        if monitor.record(updates.w, loss, validation_loss):
            if average != "auto" or averaging is not False or loss <= loss_floor:
                break
            averaging = updates.t + 1
            monitor.resume()
    result = monitor.finish()
    result.learning_rate = updates.learning_rate
    return result, updates


def step_size(stochastic, slope, lambda_max, mean_square, batch_size):
    """The automatic step of the stochastic (or minibatch) updates: ``c / (E||u||^2
    + 2 lambda_max)`` for one sample, ``batch_size`` times that (at most ``1 / (c
    lambda_max)``) for a minibatch."""
    c = (1 + slope) / 2
    if not lambda_max > 0:  # no variance along the update: any step is as good
        return 1.0
    single = c / (mean_square + 2 * lambda_max)
    if stochastic:
        return single
    return min(batch_size * single, 1.0 / (c * lambda_max))
