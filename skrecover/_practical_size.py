"""Gradient descent to a certified global minimum with practically sized networks.

Kawaguchi and Huang (Allerton 2019): narrow hidden layers with an analytic increasing
activation, then one hidden layer at least as wide as the number of samples ``n``,
then a linear output. With the lower layers drawn at random and kept, the ``n x
width`` feature matrix has rank ``n`` with probability one, so the training loss,
convex in the output weights, reaches the global minimum over *all* layers (0 for the
squared loss) by gradient descent on the output layer alone -- with a number of
trainable parameters linear in ``n``. Every fit computes the certificate.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseRecovery, activation_constraint
from ._engine import map_rows, reduce_rows
from ._optim import minimize
from .activations import Sigmoid, Softplus, Tanh, get_activation

_ANALYTIC = (Tanh, Sigmoid, Softplus)
_ANALYTIC_REASON = (
    "the global-minimum guarantee needs an analytic, strictly increasing, "
    "nonlinear activation (the feature matrix then has full rank with probability "
    "one), and ReLU-type activations are not analytic. Use 'tanh', 'sigmoid', or "
    "'softplus' / Softplus(slope=a), which approaches ReLU as the slope a grows"
)
# Weight scale of the wide layer (relative to 1 / sqrt(fan_in), on standardised
# inputs): steeper random units give a better-conditioned feature matrix (measured
# on digits with width 2n: condition number 3e3 at scale 1, 660 at 3 for tanh).
_WIDE_SCALE = 3.0
_AUTO_WIDTH_FACTOR = 2
# Floats held at once per feature-matrix entry (the matrix and a solver's copy).
_COPIES = 3


class _RandomLayers:
    """The frozen lower layers: narrow layers, then the wide layer."""

    def __init__(self, weights, biases, activation):
        self.weights, self.biases, self.activation = weights, biases, activation

    def features(self, X):
        """The wide layer's activations for the rows of ``X``, one block at a time."""

        def block(rows):
            hidden = rows
            for W, b in zip(self.weights, self.biases, strict=True):
                hidden = self.activation(hidden @ W + b)
            return hidden

        width = 2 * sum(W.shape[1] for W in self.weights) + X.shape[1]
        return map_rows(block, X, width=width)

    @property
    def n_params(self):
        return sum(
            W.size + b.size for W, b in zip(self.weights, self.biases, strict=True)
        )


def _draw_layers(X, sizes, activation, random_state):
    """Gaussian layers; each is centred and scaled on its input data so that the
    next pre-activations have unit scale (and the wide ones ``_WIDE_SCALE``)."""
    weights, biases, hidden = [], [], X
    for index, size in enumerate(sizes):
        scale = _WIDE_SCALE if index == len(sizes) - 1 else 1.0
        mean, spread = hidden.mean(axis=0), hidden.std(axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        W = random_state.standard_normal((hidden.shape[1], size))
        W *= scale / np.sqrt(hidden.shape[1]) / spread[:, np.newaxis]
        b = scale * random_state.standard_normal(size) - mean @ W
        weights.append(W)
        biases.append(b)
        hidden = activation(hidden @ W + b)
    return weights, biases


class _Gram:
    """The eigen-decomposition of ``D D^T`` for a design ``D`` (n x width): ridge
    solutions and leave-one-out errors for every ``alpha`` from one
    decomposition (``O(n^2 width + n^3)``, as one least-squares solve)."""

    def __init__(self, design):
        values, vectors = linalg.eigh(design @ design.T)
        order = np.argsort(values)[::-1]
        self.values = np.maximum(values[order], 0.0)
        self.vectors = vectors[:, order]
        self.singular_values = np.sqrt(self.values)

    def ridge(self, design, Y, alpha):
        """``argmin ||D theta - Y||^2 / (2 n) + alpha ||theta||^2 / 2``
        ``= D^T (D D^T + n alpha I)^{-1} Y``."""
        shrink = 1.0 / (self.values + len(Y) * alpha)
        return design.T @ (
            self.vectors @ (shrink[:, np.newaxis] * (self.vectors.T @ Y))
        )

    def loo_alpha(self, Y):
        """The ``alpha`` of a log grid minimising the leave-one-out error of the
        ridge fit, ``sum_i ||((I - H) Y)_i||^2 / (1 - H_ii)^2`` with ``H = D D^T
        (D D^T + n alpha I)^{-1}`` (exact for ridge, as in
        :class:`~sklearn.linear_model.RidgeCV`). Generalised cross-validation,
        which replaces ``1 - H_ii`` by its mean, divides zero by zero as ``alpha ->
        0`` when ``D D^T`` has full rank (a layer as wide as ``n``) and picked the
        interpolating end of the grid on small data; leave-one-out stays defined
        there, at the error of predicting each row from the others."""
        n = len(Y)
        coordinates = self.vectors.T @ Y.reshape(n, -1)
        penalties = self.values[0] * np.logspace(-12, 1, 66)
        # I - H = V diag(p / (lambda + p)) V^T, summed without cancellation.
        shrink = penalties / (self.values[:, np.newaxis] + penalties)
        gaps = self.vectors**2 @ shrink
        residuals = self.vectors @ (
            shrink[:, :, np.newaxis] * coordinates[:, np.newaxis, :]
        ).reshape(n, -1)
        residuals = residuals.reshape(n, len(penalties), -1)
        gaps = np.maximum(gaps, np.finfo(float).tiny)
        scores = np.sum((residuals / gaps[:, :, np.newaxis]) ** 2, axis=(0, 2))
        return float(penalties[int(np.argmin(scores))] / n)


def _check_layer_sizes(hidden_layer_sizes):
    """The narrow layers' widths as a list of positive ints, or a clear error."""
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes, dtype=object)).tolist()
    if not all(
        isinstance(size, Integral) and not isinstance(size, bool) and size >= 1
        for size in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must hold positive integers (the widths of the "
            f"narrow layers), got {hidden_layer_sizes!r}."
        )
    return [int(size) for size in sizes]


class _BasePracticalSize(BaseRecovery):
    _dtypes = (np.float64,)
    # What a user can do when training stops short of the certificate.
    _uncertified_advice = "Increase max_iter, or use solver='lstsq' (an exact solve)."
    _parameter_constraints: dict = {
        **BaseRecovery._parameter_constraints,
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": activation_constraint(),
        "width": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "global_tol": [Interval(Real, 0, None, closed="neither")],
        "pretrain_iter": [Interval(Integral, 0, None, closed="left")],
        "perturbation": [Interval(Real, 0, None, closed="left")],
        "max_memory": [Interval(Real, 0, None, closed="neither")],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        width,
        alpha,
        solver,
        max_iter,
        tol,
        global_tol,
        pretrain_iter,
        perturbation,
        max_memory,
        random_state,
        verbose,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.width = width
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.global_tol = global_tol
        self.pretrain_iter = pretrain_iter
        self.perturbation = perturbation
        self.max_memory = max_memory
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Draw the lower layers, train the output layer, certify the minimum.

        There is no ``sample_weight``: with a feature matrix of full rank the fit
        interpolates every training point, which weights would not change.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (standardised internally).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for the classifier).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, None)

    # -- hooks of the fit sequence
    def _initialize(self, state):
        """Standardise ``X``, draw (and optionally pretrain) the lower layers."""
        activation = get_activation(
            self.activation, allowed=_ANALYTIC, reason=_ANALYTIC_REASON
        )
        sizes = _check_layer_sizes(self.hidden_layer_sizes)
        X, Y = state.data.X, state.data.y
        n_samples = X.shape[0]
        width = (
            _AUTO_WIDTH_FACTOR * n_samples if self.width == "auto" else int(self.width)
        )
        needed = _COPIES * 8 * n_samples * (width + 1)
        if needed > self.max_memory:
            raise ValueError(
                f"The feature matrix of {n_samples} samples x {width + 1} columns and "
                f"its solver need about {needed / 2**30:.2f} GiB, above "
                f"max_memory={self.max_memory / 2**30:.2f} GiB: the guarantee needs a "
                "hidden layer as wide as the number of samples, so memory grows like "
                "n^2. Raise max_memory, lower width, or subsample."
            )
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        standardised = (X - mean) / scale
        random_state = state.random_state
        weights, biases = _draw_layers(
            standardised, [*sizes, width], activation, random_state
        )
        layers = _RandomLayers(weights, biases, activation)
        head, pretrain_curve = None, None
        if self.pretrain_iter:
            layers, head, pretrain_curve = self._pretrain(standardised, Y, layers)
            for array in (*layers.weights, *layers.biases):
                array += (
                    self.perturbation
                    * np.abs(array).mean()
                    * random_state.standard_normal(array.shape)
                )
        return Bunch(
            layers=layers,
            head=head,
            pretrain_curve=pretrain_curve,
            standardised=standardised,
            x_mean=mean,
            x_scale=scale,
            width=width,
        )

    def _optimize(self, state, start):
        features = start.layers.features(start.standardised)
        design = np.hstack([features, np.ones((len(features), 1))])
        Y = state.data.y
        gram = _Gram(design) if self.alpha != 0 else None
        alpha = self._resolve_alpha(gram, Y)
        self._say(
            f"Feature matrix {design.shape[0]} x {design.shape[1]}, alpha={alpha:.3g}"
        )
        solver = self._initial_solver()
        solution, singular_values, result = self._solve(
            design, gram, Y, start.head, solver, alpha
        )
        if self.solver == "auto":
            condition = singular_values[0] / max(
                singular_values[min(len(Y), len(singular_values)) - 1], 1e-300
            )
            if self._predicted_iterations(condition) <= self.max_iter:
                solver = "gd"
                solution, singular_values, result = self._solve(
                    design, gram, Y, start.head, solver, alpha
                )
        coefs, intercepts = solution[:-1], solution[-1]
        certificate, training_loss = self._certify(
            state,
            start.layers,
            features,
            coefs,
            intercepts,
            singular_values,
            result,
            solver,
            alpha,
        )
        self._say(
            f"Done: training loss {certificate.train_loss:.4g}, certified global "
            f"minimum: {certificate.is_global_minimum}"
        )
        start.update(
            coefs=coefs,
            intercepts=intercepts,
            certificate=certificate,
            result=result,
            alpha=alpha,
            training_loss=training_loss,
        )
        return start

    @staticmethod
    def _alpha_targets(Y):
        """The targets whose ridge fit the choice of ``alpha`` judges: centred
        ``y`` (the regressor), centred class indicators (the classifier)."""
        return Y - Y.mean(axis=0)

    def _say(self, line):
        if self.verbose:
            print(f"[{type(self).__name__}] {line}", flush=True)

    def _resolve_alpha(self, gram, Y):
        """``alpha``, or for "auto" the minimiser of the leave-one-out error over a
        log grid."""
        if self.alpha != "auto":
            return float(self.alpha)
        return gram.loo_alpha(self._alpha_targets(Y))

    def _fitted_attributes(self, state, model):
        scaling = state.data.scaling
        certificate = model.certificate
        attributes = {
            "coefs_": model.coefs * scaling.y_scale,
            "intercepts_": model.intercepts * scaling.y_scale + scaling.y_offset,
            "layers_": model.layers,
            "activation_": model.layers.activation,
            "width_": model.width,
            # standardised = (X / x_scale - mean) / scale
            "x_mean_": model.x_mean * scaling.x_scale,
            "x_scale_": model.x_scale * scaling.x_scale,
            "alpha_": certificate.alpha,
            "certificate_": certificate,
            "is_global_minimum_": certificate.pop("is_global_minimum"),
            "n_iter_": max(1, certificate.n_iter),
            "loss_curve_": []
            if model.result is None
            else [loss * self._loss_unit(scaling) for loss in model.result.loss_curve],
        }
        if model.pretrain_curve is not None:
            attributes["pretrain_loss_curve_"] = model.pretrain_curve
        return attributes

    def _forward(self, X):
        return (
            self.layers_.features((X - self.x_mean_) / self.x_scale_) @ (self.coefs_)
            + self.intercepts_
        )

    # -- helpers
    def _pretrain(self, standardised, Y, layers):
        """All layers, output head included, by L-BFGS for ``pretrain_iter`` steps."""
        shapes = [W.shape for W in layers.weights] + [b.shape for b in layers.biases]
        head = np.zeros((layers.weights[-1].shape[1] + 1, Y.shape[1]))
        shapes.append(head.shape)
        sizes = [math.prod(shape) for shape in shapes]
        n_layers = len(layers.weights)
        activation = layers.activation

        def unpack(vector):
            parts = np.split(vector, np.cumsum(sizes)[:-1])
            return [p.reshape(shape) for p, shape in zip(parts, shapes, strict=True)]

        def objective(vector):
            arrays = unpack(vector)
            weights, biases, out = arrays[:n_layers], arrays[n_layers:-1], arrays[-1]

            def block(rows, targets):
                activations, derivatives = [rows], []
                for W, b in zip(weights, biases, strict=True):
                    value, slope = activation.value_and_derivative(
                        activations[-1] @ W + b
                    )
                    activations.append(value)
                    derivatives.append(slope)
                loss, delta = self._losses(
                    activations[-1] @ out[:-1] + out[-1], targets
                )
                gradient_w, gradient_b = [], []
                back = delta @ out[:-1].T
                for layer in reversed(range(n_layers)):
                    back = back * derivatives[layer]
                    gradient_w.append(activations[layer].T @ back)
                    gradient_b.append(back.sum(axis=0))
                    if layer:
                        back = back @ weights[layer].T
                head_gradient = np.vstack(
                    [activations[-1].T @ delta, delta.sum(axis=0)]
                )
                gradient = [*gradient_w[::-1], *gradient_b[::-1], head_gradient]
                return loss, np.concatenate([g.ravel() for g in gradient])

            width = 3 * sum(W.shape[1] for W in weights) + standardised.shape[1]
            loss, gradient = reduce_rows(block, standardised, Y, width=width)
            return loss / len(Y), gradient / len(Y), None

        start = np.concatenate(
            [a.ravel() for a in (*layers.weights, *layers.biases, head)]
        )
        result = minimize(
            objective,
            start,
            solver="lbfgs",
            max_iter=self.pretrain_iter,
            tol=0.0,
            n_iter_no_change=self.pretrain_iter + 1,
            verbose=self.verbose,
        )
        arrays = unpack(result.x)
        pretrained = _RandomLayers(arrays[:n_layers], arrays[n_layers:-1], activation)
        return pretrained, arrays[-1], result.loss_curve

    def _solve(self, design, gram, Y, head, solver, alpha):
        """Output weights (with bias row) and the singular values of the design.

        ``lstsq`` with ``alpha = 0``: the minimum-norm least-squares solution
        (where gradient descent from 0 converges); with ``alpha > 0``, the ridge
        solution ``D^T (D D^T + n alpha I)^{-1} Y`` from the eigen-decomposition
        of ``D D^T``. The other solvers minimise the (ridge-)penalised loss through
        the shared driver, from 0 (or the pretrained head).
        """
        n_samples = len(Y)
        if solver == "lstsq":
            if alpha == 0:
                solution, _, _, singular_values = linalg.lstsq(
                    design, Y, lapack_driver="gelsd", overwrite_a=False
                )
                return solution, singular_values, None
            return gram.ridge(design, Y, alpha), gram.singular_values, None
        singular_values = (
            linalg.svdvals(design) if gram is None else gram.singular_values
        )
        start = np.zeros((design.shape[1], Y.shape[1])) if head is None else head
        shape = start.shape

        def objective(vector):
            weights = vector.reshape(shape)
            loss, residual = self._losses(design @ weights, Y)
            gradient = design.T @ residual / n_samples + alpha * weights
            value = loss / n_samples + 0.5 * alpha * np.sum(weights**2)
            return value, gradient.ravel(), None

        result = minimize(
            objective,
            start.ravel(),
            solver=solver,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=10,
            verbose=self.verbose,
            loss_floor=self._loss_floor(Y) if alpha == 0 else None,
        )
        return result.x.reshape(shape), singular_values, result

    def _certify(
        self,
        state,
        layers,
        features,
        coefs,
        intercepts,
        singular_values,
        result,
        solver,
        alpha,
    ):
        """The certificate (a Bunch) of the minimised objective, and the training
        loss in working units. The objective is the loss plus
        ``alpha ||theta||^2 / 2``: with ``alpha = 0`` the lower bound is 0 (reached
        when the feature matrix has full rank); with ``alpha > 0`` the objective
        is ``alpha``-strongly convex, so ``f - ||grad f||^2 / (2 alpha)`` bounds its
        minimum from below. Its warnings go to the fit's report."""
        Y = state.data.y
        n_samples = len(Y)
        design_width = features.shape[1] + 1
        tolerance = singular_values.max() * max(n_samples, design_width)
        rank = int(np.sum(singular_values > tolerance * np.finfo(float).eps))
        sigma_min = float(singular_values[n_samples - 1]) if rank >= n_samples else 0.0
        sigma_max = float(singular_values[0])
        output = features @ coefs + intercepts
        loss, residual = self._losses(output, Y)
        loss, residual = loss / n_samples, residual / n_samples
        start_loss = self._losses(np.zeros_like(output), Y)[0] / n_samples
        weights = np.vstack([coefs, intercepts])
        gradient = np.vstack([features.T @ residual, residual.sum(axis=0)])
        gradient = gradient + alpha * weights
        objective = loss + 0.5 * alpha * np.sum(weights**2)
        gradient_norm = float(np.linalg.norm(gradient))
        lower_bound = 0.0 if alpha == 0 else objective - gradient_norm**2 / (2 * alpha)
        condition = sigma_max / sigma_min if sigma_min > 0 else np.inf
        threshold = self._global_threshold(start_loss)
        unit = self._loss_unit(state.data.scaling)
        certificate = Bunch(
            n_samples=n_samples,
            width=features.shape[1],
            n_trainable_params=design_width * Y.shape[1],
            n_params=layers.n_params + design_width * Y.shape[1],
            rank=rank,
            full_rank=rank == n_samples,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            condition_number=condition,
            alpha=alpha,
            train_loss=float(loss) * unit,
            objective=float(objective) * unit,
            lower_bound=float(lower_bound) * unit,
            optimality_gap=float(objective - lower_bound) * unit,
            tolerance=threshold * unit,
            gradient_norm=gradient_norm,
            predicted_gd_iterations=self._predicted_iterations(condition),
            solver=solver,
            n_iter=0 if result is None else result.n_iter,
        )
        if alpha == 0:
            certificate.is_global_minimum = bool(
                rank == n_samples and loss <= threshold
            )
        else:
            certificate.is_global_minimum = bool(objective - lower_bound <= threshold)
        self._check_certificate(state, certificate, output)
        # (In working units: in y's, the loss of a y on a scale of 1e-200
        # underflows to 0.)
        return certificate, float(loss)

    def _check_certificate(self, state, certificate, output):
        """Warn when the certificate fails (rank, or a loss above its tolerance)."""
        n_samples, rank = certificate.n_samples, certificate.rank
        if rank < n_samples and certificate.alpha == 0:
            state.report.warn(
                ConvergenceWarning,
                f"The feature matrix has rank {rank} < {n_samples} samples (width "
                f"{certificate.width}): the training loss is not certified to be the "
                "global minimum. Use width >= n_samples (width='auto'), and check for "
                "duplicate rows in X.",
            )
        elif not certificate.is_global_minimum:
            state.report.warn(
                ConvergenceWarning,
                f"Training stopped {certificate.optimality_gap:.3g} above the lower "
                "bound of the minimised objective, beyond the certificate's "
                f"tolerance {certificate.tolerance:.3g}: the condition "
                f"number {certificate.condition_number:.3g} predicts "
                f"{certificate.predicted_gd_iterations:.3g} gradient descent "
                f"iterations. {self._uncertified_advice}",
            )

    def _predicted_iterations(self, condition):
        """``kappa^2 / 2 * ln(L_0 / epsilon)``: plain GD with step ``1 / L`` on the
        squared loss, ``L(W_t) <= (1 - 1 / kappa^2)^(2t) L(W_0)``."""
        if not condition < 1e100:  # non-finite, or beyond any iteration budget
            return np.inf
        return float(math.ceil(condition**2 / 2 * math.log(1 / self.global_tol)))


class PracticalSizeGD(RegressorMixin, _BasePracticalSize):
    """Deep regressor trained to a certified global minimum of its training loss.

    The network of Kawaguchi and Huang (2019): narrow hidden layers
    (``hidden_layer_sizes``) with an analytic increasing activation, one hidden layer
    at least as wide as the number of samples, and a linear output. The lower layers
    are drawn at random and kept; the output layer, where the squared loss is convex,
    is trained by full-batch gradient descent. Since the ``n x width`` feature matrix
    has rank ``n`` with probability one, the training loss then reaches the global
    minimum, 0, of the loss over *all* layers, with a number of trainable
    parameters linear in ``n``. Every fit computes a certificate (``certificate_``)
    that checks this numerically.

    There is no ``sample_weight``: with a feature matrix of full rank the fit
    interpolates every training point, which weights would not change.

    Practical range: ``n`` up to about 10 000. The feature matrix holds ``n x 2n``
    floats (``width="auto"``): with the solver's copies about 1.1 GiB at ``n =
    5000`` and 4 GiB (the default ``max_memory``, checked before allocating) at
    ``n = 9500``; the solve costs ``O(n^3)``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(32,)
        Widths of the narrow hidden layers below the wide one.
    activation : {"tanh", "sigmoid", "softplus"} or Activation, default="tanh"
        An analytic, strictly increasing activation (``Softplus(slope=a)`` for a
        sharper softplus). ReLU is refused: it is not analytic.
    width : int or "auto", default="auto"
        Width of the wide hidden layer; ``"auto"`` means ``2 n``: ``n`` is the
        theory's minimum, twice that gives a usable condition number (660 on digits
        with tanh, against 5e5 at width ``n``).
    alpha : "auto" or float, default="auto"
        Ridge penalty ``alpha ||theta||^2 / 2`` on the trained layer ``theta``
        (output weights and bias), added to the mean loss. ``0`` is the paper's
        interpolating fit (the training loss reaches 0; the data's noise with
        it). ``"auto"`` chooses it by leave-one-out cross-validation over a log
        grid (exact for ridge, as in RidgeCV), from one eigen-decomposition of
        ``D D^T`` for the feature matrix ``D``.
    solver : {"auto", "lstsq", "gd", "agd", "lbfgs"}, default="auto"
        How the output layer is trained. ``"gd"`` is the paper's full-batch
        gradient descent (step from a curvature estimate), ``"agd"`` its accelerated
        version, ``"lbfgs"`` quasi-Newton, through the shared driver, from 0.
        ``"lstsq"`` computes the point gradient descent from 0 converges to (the
        minimum-norm interpolant) exactly. ``"auto"`` uses ``"gd"`` when the
        condition number predicts convergence within ``max_iter`` iterations and
        ``"lstsq"`` otherwise (the usual case: plain gradient descent needs about
        ``kappa^2`` iterations).
    max_iter : int, default=1000
        Iterations of the gradient solvers.
    tol : float, default=1e-12
        Relative improvement below which a gradient solver stops.
    global_tol : float, default=1e-10
        The certificate accepts a training loss up to ``global_tol`` times the loss
        of the zero network as the global minimum 0.
    pretrain_iter : int, default=0
        Iterations of L-BFGS on *all* layers before the lower ones are frozen (the
        two-phase recipe of Kawaguchi and Sun, 2021): the guarantee still holds, and
        learnt lower layers usually generalise better than random ones.
    perturbation : float, default=1e-6
        Relative random jitter added to pretrained lower layers, so that the
        probability-one rank argument applies to them.
    max_memory : float, default=2**32
        Bytes the feature matrix and its solver may use (4 GiB).
    random_state : int, RandomState instance or None, default=None
        Seed of the lower layers.
    verbose : int, default=0
        Print the solvers' progress.

    Attributes
    ----------
    coefs_ : ndarray of shape (`width_`, n_outputs)
        Output weights.
    intercepts_ : ndarray of shape (n_outputs,)
        Output biases.
    layers_ : object
        The frozen lower layers (``weights``, ``biases``).
    width_ : int
    alpha_ : float
        The ridge penalty used: ``alpha``, or the one leave-one-out
        cross-validation chose.
    certificate_ : Bunch
        Of the objective that was minimised: ``alpha``, ``train_loss`` (mean of
        ``||f(x) - y||^2 / 2``), ``objective`` (plus the penalty), ``lower_bound``
        (0 for ``alpha = 0``; else ``objective - ||gradient||^2 / (2 alpha)``, by
        strong convexity), ``optimality_gap``, ``tolerance``, ``gradient_norm``;
        ``rank`` and ``full_rank`` (rank ``n``) of the feature matrix with a bias
        column, ``sigma_min`` (its ``n``-th singular value), ``sigma_max``,
        ``condition_number``, ``predicted_gd_iterations``, parameter counts,
        ``solver`` and ``n_iter``.
    is_global_minimum_ : bool
        ``alpha = 0``: full rank and training loss within ``tolerance`` of 0;
        ``alpha > 0``: objective within ``tolerance`` of its lower bound.
    n_iter_ : int
    loss_curve_ : list of float
    x_mean_, x_scale_ : ndarray of shape (`n_features_in_`,)
        Standardisation of the inputs.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    PracticalSizeGDClassifier : The classifier, with softmax cross-entropy.
    skrecover.model_selection.label_randomization_test : Natural against shuffled
        labels.

    References
    ----------
    K. Kawaguchi, J. Huang. Gradient Descent Finds Global Minima for Generalizable
    Deep Neural Networks of Practical Sizes. Allerton 2019. arXiv:1908.02419.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover import PracticalSizeGD
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((300, 5)), rng.standard_normal(300)
    >>> model = PracticalSizeGD(alpha=0, random_state=0).fit(X, y)
    >>> model.is_global_minimum_, model.certificate_["rank"]
    (True, 300)
    >>> bool(model.certificate_["train_loss"] < 1e-20)
    True
    >>> model = PracticalSizeGD(random_state=0).fit(X, y)  # alpha by leave-one-out
    >>> model.is_global_minimum_, bool(model.certificate_["alpha"] > 0)
    (True, True)
    """

    _parameter_constraints: dict = {
        **_BasePracticalSize._parameter_constraints,
        "solver": [StrOptions({"auto", "lstsq", "gd", "agd", "lbfgs"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        activation="tanh",
        *,
        width="auto",
        alpha="auto",
        solver="auto",
        max_iter=1000,
        tol=1e-12,
        global_tol=1e-10,
        pretrain_iter=0,
        perturbation=1e-6,
        max_memory=2**32,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            width=width,
            alpha=alpha,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            global_tol=global_tol,
            pretrain_iter=pretrain_iter,
            perturbation=perturbation,
            max_memory=max_memory,
            random_state=random_state,
            verbose=verbose,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _centres_targets(self):
        return True

    def _initial_solver(self):
        return "lstsq" if self.solver == "auto" else self.solver

    @staticmethod
    def _losses(output, Y):
        """Summed ``||output - y||^2 / 2`` and its derivative in ``output``."""
        residual = output - Y
        return 0.5 * float(np.sum(residual**2)), residual

    @staticmethod
    def _loss_unit(scaling):
        return scaling.y_scale**2

    def _loss_floor(self, Y):
        return self.global_tol * self._losses(np.zeros_like(Y), Y)[0] / len(Y) / 10

    def _global_threshold(self, start_loss):
        return self.global_tol * start_loss
