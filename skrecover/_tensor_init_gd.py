"""Tensor-initialised gradient descent (Zhong, Song, Jain, Bartlett, Dhillon, 2017):
the moment initialisation and gradient phase both tensor estimators share, and the
regressor. The classifier is in :mod:`skrecover._tensor_init_gd_classifier`."""

# SPDX-License-Identifier: BSD-3-Clause

from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    ITERATIVE_CONSTRAINTS,
    NEGLIGIBLE_LOSS,
    BaseNetworkRecovery,
    BaseRecovery,
    IterativeMixin,
    activation_constraint,
    information_prefers,
    weighted_mean,
    weighted_variance,
)
from ._certificate import ConfidenceIntervalsMixin, local_analysis
from ._engine import random_prefixes, subset_rows
from ._moments import MomentSample, whitening
from ._network import NetworkParams, canonicalize
from ._optim import train_network
from ._residual import leftover_unit_message, residual_unit
from ._tensor_init import random_initialization, tensor_initialization, unit_cap
from .activations import get_activation
from .exceptions import InitializationWarning
from .patches import tiling_patch_indices

# Gradient descent stops once the loss is this fraction of the variance of y: the
# residual is then 1e-12 of y's spread and the weights exact to about 1e-12 relative
# (times the conditioning of the units), well inside the 1e-10 agreement promised
# between the in-memory and dask fits; further iterations would only chase rounding
# errors (float64 rounding leaves losses near 1e-32). At 1e-20 two such fits were
# measured 2.7e-10 apart.
_LOSS_FLOOR = 1e-24
# float32 inputs round the network's output to about eps * |y|: the loss floor is
# never below (_ROUNDING_FACTOR * eps)^2 times the mean of y^2 (measured: relu fits
# of float32 data stall near 15 eps^2 and chased it for 240 passes).
_ROUNDING_FACTOR = 10.0
# Data with at least four times this many rows get the moments of a random subsample
# of this many rows first; more while the weakest unit's moment is less than
# _MOMENT_SNR times its sampling noise.
_MOMENT_ROWS = 100_000
_MOMENT_SNR = 3.0
# The next subsample has this margin over the rows at which the ratio measured on
# the last would reach _MOMENT_SNR (the measurement is itself noisy), and at least
# _MOMENT_ROWS_GROWTH times its rows.
_MOMENT_ROWS_MARGIN = 1.5
_MOMENT_ROWS_GROWTH = 2
# A cross-entropy fit this close to 0 has separated the training classes: it
# stops (on wine, one unit went on to 1.5e-60 and weights of norm 632).
_SEPARATED_LOSS = 1e-12
# n_init="auto" draws the initialisation again while it fails its health checks,
# at most this many times in all.
_MAX_AUTO_DRAWS = 5


def _loss_floor(data, sample_weight, variance):
    """The training loss at which a squared-loss fit is exact: ``_LOSS_FLOOR`` of
    the variance of y, or the rounding level of float32 inputs."""
    eps = np.finfo(np.result_type(data.X.dtype, np.float32)).eps
    mean_square = variance + float(np.sum(weighted_mean(data.y, sample_weight) ** 2))
    return max(_LOSS_FLOOR * variance, (_ROUNDING_FACTOR * eps) ** 2 * mean_square)


def _failed(model):
    """Whether a draw failed its health checks: a warning about its
    initialisation, or a unit its residual still shows."""
    return bool(model.messages) or model.leftover is not None


def _better_draw(candidate, best, tol):
    """The lower final loss wins; of two fits that tie (both exact, or final losses
    within ``tol`` of each other: the same minimum, which rounding orders at
    random), the one that passed its health checks."""
    tie = abs(candidate.final_loss - best.final_loss) <= tol * abs(best.final_loss)
    if tie or (candidate.exact and best.exact):
        return _failed(best) and not _failed(candidate)
    return candidate.final_loss < best.final_loss


class _BaseTensorInitGD(ConfidenceIntervalsMixin, IterativeMixin, BaseNetworkRecovery):
    """The moment initialisation and gradient phase of both tensor estimators."""

    _input_assumption = "gaussian"
    _parameter_constraints: dict = {
        **BaseRecovery._parameter_constraints,
        **ITERATIVE_CONSTRAINTS,
        "n_hidden": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "patch_size": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "input_shape": [None, tuple],
        "init": [StrOptions({"tensor", "random"})],
        "whiten": ["boolean"],
        "solver": [StrOptions({"auto", "lbfgs", "gd"})],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "n_cp_draws": [Interval(Integral, 1, None, closed="left")],
        "moments": [StrOptions({"control_variates", "paper"})],
        "fit_hidden_bias": ["boolean"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "certify": ["boolean"],
    }
    _loss = "squared"

    # -- hooks of the fit sequence
    def _validation_fraction(self):
        return (
            (self.validation_fraction, "early_stopping")
            if self.early_stopping
            else None
        )

    def _whiten_option(self):
        return self.whiten

    def _initialize(self, state):
        data = state.data
        activation = self._resolve_activation()
        layout = self._unit_layout(data.X.shape[1])
        if self._warm():
            # The first fit's initialisation stays; no moments are computed.
            transform = self._whitening(data.X, state.training_weight, layout)
            params = data.scaling.to_working(self.network_.params)
            biases = params.hidden_biases
            if self.fit_hidden_bias and biases is None:
                biases = np.zeros(len(params.hidden_weights))
            params = params._replace(
                hidden_biases=biases if self.fit_hidden_bias else None
            )
            return Bunch(
                params=params,
                initial=None,
                activation=activation,
                layout=layout,
                transform=transform,
                diagnostics=self.diagnostics_,
                messages=[],
                sample=None,
                sample_targets=None,
            )
        start = self._moment_initialization(state, activation, layout)
        start.diagnostics.input_statistics = state.statistics
        return start

    def _moment_initialization(self, state, activation, layout):
        """The initialisation from the moments of a random subsample of the rows.

        On large data (at least ``4 * _MOMENT_ROWS`` rows) the moments are first
        estimated on ``_MOMENT_ROWS`` random rows, and on more while the
        weakest unit's moment stands less than ``_MOMENT_SNR`` times above its
        measured sampling noise, which falls as one over the square root of the
        rows: 1.5 times the rows that ratio asks for, at least twice the last
        subsample, all of them when that is more than half. The moments cost many
        passes over the rows they read (``O(n d^2)`` for the whitening and the
        second moment); the descent that follows uses all the rows.
        """
        data = state.data
        n_samples = len(data.y)
        subsample = self.init == "tensor" and n_samples >= 4 * _MOMENT_ROWS
        first = random_prefixes(state.random_state, n_samples) if subsample else None
        size = _MOMENT_ROWS if subsample else n_samples
        while True:
            X, weights, targets = data.X, state.training_weight, data.y
            if size < n_samples:
                rows = first(size)
                X = subset_rows(X, rows)
                weights, targets = weights[rows], targets[rows]
            transform = self._whitening(X, weights, layout)
            sample = MomentSample(
                X,
                weights,
                whitening=None if transform is None else transform.whiten,
                patch_indices=layout,
                # Only the regressor (one output) centres its targets.
                label_offset=data.scaling.y_offset[0] / data.scaling.y_scale,
            )
            # Below the full sample, moments too weak stop before their
            # decomposition: they are estimated again on more rows.
            params, diagnostics = self._initial_network(
                sample,
                targets,
                activation,
                state.random_state,
                self.n_hidden,
                min_signal_to_noise=_MOMENT_SNR if size < n_samples else None,
            )
            if size == n_samples:
                break
            needed = _moment_rows_needed(diagnostics, size)
            if needed <= size:
                break
            size = _next_moment_rows(needed, size, n_samples)
        diagnostics.moment_rows = size
        return Bunch(
            params=params,
            initial=params,
            activation=activation,
            layout=layout,
            transform=transform,
            diagnostics=diagnostics,
            messages=diagnostics.pop("messages"),
            sample=sample,
            sample_targets=targets,
        )

    def _whitening(self, X, sample_weight, layout):
        if not self.whiten:
            return None
        return whitening(X, sample_weight, patch_indices=layout)

    def _optimize(self, state, start):
        """Gradient descent from the initialisation; then, while ``n_init`` asks for
        it, from further draws of the initialisation (new random contractions),
        keeping the draw with the lowest final (validation) loss. Only the kept
        draw's initialisation warnings are reported, and none for an exact fit
        (which recovered the network whatever its start)."""
        best = self._grow(state, self._best_of_draws(state, start))
        for message in [] if best.exact else best.messages:
            state.report.warn(InitializationWarning, message)
        if best.separated:
            state.report.warn(
                ConvergenceWarning,
                f"{type(self).__name__} separates the training classes: the "
                "cross-entropy has no minimum, and the fit stopped once it fell "
                f"below {_SEPARATED_LOSS:g}. Its weights grow without bound and its "
                "probabilities saturate at 0 and 1. Set early_stopping=True (the "
                "held-out loss keeps them finite), or use fewer units.",
            )
        if best.unconverged:
            self._warn_unconverged(
                state,
                best.result,
                "If the loss was still falling steeply, the initialisation may be "
                "poor: see diagnostics_.",
            )
        # (max_iter=0 measures no loss: its final_loss is inf.)
        if (
            self._loss == "squared"
            and state.validation_weight is None
            and np.isfinite(best.final_loss)
        ):
            best.training_loss = best.final_loss
        return best

    def _best_of_draws(self, state, start, always=False):
        """Descents from ``start`` and, as ``n_init`` says (``"auto"`` with
        ``always``: its most), further draws; the one of lowest final loss, with
        the number of draws ``n_init``."""
        best = self._checked(state, self._descend(state, start))
        draws = 1
        while start.sample is not None and self._another_draw(
            state, draws, best, always
        ):
            candidate = self._checked(
                state, self._descend(state, self._draw(state, start))
            )
            draws += 1
            if _better_draw(candidate, best, self.tol):
                best = candidate
        best.n_init = draws
        return best

    def _draw(self, state, start, n_hidden=None):
        """``start`` with a new draw of the initialisation (of ``n_hidden`` units,
        default the estimator's)."""
        params, diagnostics = self._initial_network(
            start.sample,
            start.sample_targets,
            start.activation,
            state.random_state,
            self.n_hidden if n_hidden is None else n_hidden,
        )
        diagnostics.input_statistics = state.statistics
        diagnostics.moment_rows = len(start.sample_targets)
        return Bunch(
            **{
                **start,
                "params": params,
                "initial": params,
                "diagnostics": diagnostics,
                "messages": diagnostics.pop("messages"),
            }
        )

    def _checked(self, state, model):
        """``model`` with the unit its residual may show (a
        :func:`~skrecover._residual.residual_unit`), or None, as ``residual``, and
        as ``leftover`` when it shows it clearly."""
        model.residual = self._leftover_unit(state, model)
        dropped = model.residual is not None and model.residual.dropped
        model.leftover = model.residual if dropped else None
        return model

    def _leftover_unit(self, state, model):
        return None

    def _grow(self, state, model):
        """With ``n_hidden="auto"``: while a fit is not exact, fit again with one
        more unit, keeping the larger network while the Bayesian information
        criterion (or the validation loss) prefers it. When the residual shows the
        unit (``_GROWTH_MARGIN``), every draw of the larger network is tried. A
        unit within the noise of the moments of ``y`` can also leave no trace
        in the residual: the smaller fit absorbs it (tanh, d = 60, k = 3, n = 2e4:
        the third unit's moment at 0.85 of the noise edge, the noise's own top
        value 0.82, and a residual within its noise; test R^2 0.96 with 2 units,
        1 with 3). So it is tried from one draw. Warn about a unit that remains
        clearly (``_DROPPED_UNIT_MARGIN``)."""
        cap = unit_cap(model.sample, "auto") if model.sample is not None else 0
        growing = (
            self.n_hidden == "auto" and self.init == "tensor" and self._grows(state)
        )
        while growing and _may_grow(model):
            n_hidden = len(model.params.hidden_weights)
            if n_hidden >= cap:
                break
            if self.verbose:
                print(f"Trying {n_hidden + 1} units ({_growth_reason(model)})")
            grown = self._best_of_draws(
                state,
                self._draw(state, model, n_hidden + 1),
                always=model.residual is not None,
            )
            if not _information_prefers(
                grown, model, state.training_weight, self._loss
            ):
                break
            grown.diagnostics.added_units = model.diagnostics.get("added_units", 0) + 1
            # Its moments are within their noise by construction; the criterion
            # has judged the unit instead.
            grown.messages = []
            model = grown
        if model.leftover is not None:
            state.report.warn(
                InitializationWarning,
                leftover_unit_message(
                    len(model.params.hidden_weights), model.leftover, self.n_hidden
                ),
            )
        return model

    def _grows(self, state):
        """Whether ``n_hidden="auto"`` may add units after the moments' count."""
        return True

    def _another_draw(self, state, draws, best, always=False):
        if self.n_init != "auto":
            return draws < self.n_init
        if draws >= _MAX_AUTO_DRAWS:
            return False
        # On inputs that fail the assumption check the health checks measure the
        # data, not the draw: drawing again costs fits and buys nothing; nor does it
        # after an exact fit.
        return always or (not state.input_problems and not best.exact and _failed(best))

    def _descend(self, state, start):
        """Gradient descent from ``start.params``; adds the fitted ``params``, the
        ``result``, its ``final_loss`` (validation loss with early stopping) and
        whether it ended ``unconverged``."""
        data = state.data
        floor = negligible_loss = None
        if self._loss == "squared":
            variance = weighted_variance(data.y, state.training_weight)
            floor = _loss_floor(data, state.training_weight, variance)
            negligible_loss = max(NEGLIGIBLE_LOSS * variance, floor)
        else:
            # Separated classes: the cross-entropy has no minimum to go on to.
            floor = _SEPARATED_LOSS
        params, result = train_network(
            data.X,
            data.y,
            state.training_weight,
            start.params,
            start.activation,
            free=self._free_parameters(start.activation),
            transform=start.transform,
            validation_weight=state.validation_weight,
            loss=self._loss,
            patch_indices=start.layout,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate,
            verbose=self.verbose,
            loss_floor=floor,
            random_state=state.random_state,
        )
        curve = result.validation_loss_curve or result.loss_curve
        final = min(curve) if curve else result.start_loss
        last = result.loss_curve[-1] if result.loss_curve else np.inf
        negligible = negligible_loss is not None and last <= negligible_loss
        separated = self._loss != "squared" and last <= _SEPARATED_LOSS
        return Bunch(
            **{
                **start,
                "params": params,
                "result": result,
                "final_loss": final,
                # An exact fit of fewer rows than parameters interpolates them.
                "exact": negligible
                and float(np.sum(state.training_weight)) > result.x.size,
                "separated": separated,
                "unconverged": not (result.converged or negligible or separated),
            }
        )

    def _fitted_attributes(self, state, model):
        scaling = state.data.scaling
        activation = model.activation
        canonical = partial(
            canonicalize,
            activation=activation,
            shift_intercept=self._centres_targets(),
            patch_indices=model.layout,
        )
        fitted = canonical(scaling.to_original(model.params))
        initial = (
            self._previous_initialisation()
            if model.initial is None
            else canonical(scaling.to_original(model.initial))
        )
        result = model.result
        loss_unit = scaling.y_scale**2 if self._loss == "squared" else 1.0
        attributes = {
            "hidden_weights_": fitted.hidden_weights,
            "init_hidden_weights_": initial.hidden_weights,
            **(
                {
                    "hidden_biases_": fitted.hidden_biases,
                    "init_hidden_biases_": initial.hidden_biases,
                }
                if fitted.hidden_biases is not None
                else {}
            ),
            "activation_": activation,
            "diagnostics_": model.diagnostics,
            "n_init_": model.n_init,
            "solver_": result.solver,
            "n_iter_": result.n_iter,
            "loss_curve_": [loss * loss_unit for loss in result.loss_curve],
            **self._output_attributes(state, fitted, initial),
        }
        if model.layout is not None:
            attributes["patch_indices_"] = model.layout
        if self.certify:
            attributes["certificate_"] = local_analysis(
                state.data.X,
                state.data.y,
                state.training_weight,
                model.params,
                activation,
                free=self._free_parameters(activation),
                loss=self._loss,
                scaling=scaling,
                canonical=canonical,
                patch_indices=model.layout,
            )
        if state.validation_weight is not None:
            attributes["validation_loss_curve_"] = [
                loss * loss_unit for loss in result.validation_loss_curve
            ]
        return attributes

    # -- helpers
    def _bias_parameters(self):
        return ["hidden_biases"] if self.fit_hidden_bias else []

    def _previous_initialisation(self):
        return NetworkParams(
            self.init_hidden_weights_,
            np.atleast_2d(self.init_output_weights_),
            None,
            getattr(self, "init_hidden_biases_", None),
        )

    def _warm(self):
        return self.warm_start and hasattr(self, "hidden_weights_")

    def _unit_layout(self, n_features):
        """The patch layout (None when fully connected), after checking that the
        requested units fit it and the previous fit when warm-starting."""
        patch_indices = tiling_patch_indices(
            n_features, self.patch_size, input_shape=self.input_shape
        )
        dim = n_features if patch_indices is None else patch_indices.shape[1]
        if self.n_hidden != "auto" and self.n_hidden > dim:
            what = "n_features=" if patch_indices is None else "the patch length "
            raise ValueError(
                f"n_hidden={self.n_hidden} is larger than {what}{dim}: the tensor "
                "method needs linearly independent hidden units (kernels), at most "
                "as many as the inputs of one unit."
            )
        if self._warm() and self.hidden_weights_.shape[1] != dim:
            raise ValueError(
                f"warm_start: the units have {dim} inputs but those of the previous "
                f"fit had {self.hidden_weights_.shape[1]}."
            )
        if self._warm() and self.n_hidden not in ("auto", self.n_hidden_):
            raise ValueError(
                f"warm_start: n_hidden={self.n_hidden} differs from the "
                f"{self.n_hidden_} units of the previous fit; set warm_start=False."
            )
        return patch_indices

    def _initialise_problem(
        self,
        sample,
        y,
        activation,
        random_state,
        known_output,
        n_hidden,
        min_signal_to_noise=None,
    ):
        """The initialisation of one network (one output) by ``init``; with
        ``min_signal_to_noise``, None for the parameters of moments too weak
        (see :func:`~skrecover._tensor_init.tensor_initialization`)."""
        initialise = random_initialization
        options = {}
        if self.init == "tensor":
            initialise = tensor_initialization
            options["min_signal_to_noise"] = min_signal_to_noise
        return initialise(
            sample,
            y,
            activation,
            n_hidden,
            fit_intercept=self._centres_targets(),
            fit_hidden_bias=self.fit_hidden_bias,
            known_output=known_output,
            n_cp_draws=self.n_cp_draws,
            moments=self.moments,
            random_state=random_state,
            **options,
        )


class TensorInitGD(RegressorMixin, _BaseTensorInitGD):
    r"""Tensor-initialised gradient descent for one-hidden-layer networks.

    Fits ``y = sum_j v_j phi(w_j^T x + c_j) + b`` in two phases (Zhong et al.,
    2017): a method-of-moments initialisation that provably lands close to the true
    weights when ``x ~ N(0, I)``, then full-batch gradient descent on the squared
    loss, which is locally strongly convex there and converges linearly to the true
    weights. The hidden biases ``c_j`` are estimated from the same moments.

    Parameters
    ----------
    n_hidden : int or "auto", default="auto"
        Number of hidden units ``k`` (at most ``n_features``). ``"auto"`` counts
        the eigenvalues of the moment matrix ``P_2`` above its estimated
        sampling-noise level, with at most 20 units, at most ``n_features``, and no
        more than the samples allow (``k (d + 1)`` at most the number of samples);
        with no eigenvalue above the noise, 2 units. When the residual of that fit
        may still show a unit (a moment eigenvalue of ``y - f(x)`` from 1.5 times
        its own noise on: a weak or ill-conditioned unit), the fit is repeated
        with one more unit, kept while the Bayesian information criterion (or the
        validation loss) prefers it.
    activation : str or Activation, default="relu"
        Hidden activation :math:`\phi`: ``"relu"``, ``"leaky_relu"``,
        ``"squared_relu"``, ``"sigmoid"``, ``"tanh"`` or ``"softplus"``;
        ``LeakyReLU(slope=s)`` sets another slope; any
        :class:`~skrecover.activations.Activation` with a value function and a
        derivative works.
    patch_size : int or tuple of int, default=None
        Fit the non-overlapping convolutional network of Zhong, Song and Dhillon
        (2017), ``y = sum_j v_j sum_l phi(w_j^T x_l) + b``, whose ``n_hidden``
        kernels ``w_j`` are shared by the disjoint patches ``x_l`` of ``x``: an int
        ``r`` cuts a 1-D signal into consecutive blocks of ``r`` features; a pair
        ``(r1, r2)`` cuts an image (see ``input_shape``) into ``r1 x r2`` tiles,
        each reading all channels. The patches must tile the input exactly, and
        ``n_hidden`` is at most the patch length. ``None``: a fully connected
        network.
    input_shape : tuple of int, default=None
        Shape of one input, channels last, in the C order of the columns of ``X``:
        ``(L,)`` or ``(L, C)`` for signals, ``(H, W)`` or ``(H, W, C)`` for images
        (see :mod:`skrecover.patches`). ``None``: a 1-D signal of ``n_features``.
    init : {"tensor", "random"}, default="tensor"
        ``"tensor"``: the moment initialisation of the paper, then gradient descent on
        the hidden weights (and on the output weights when ``phi`` is not
        homogeneous). ``"random"``: Gaussian hidden weights, then gradient descent on
        all weights, for comparison.
    whiten : bool, default=False
        Whiten the inputs by their second moment ``E[x x^T]`` before the moment
        step, for Gaussian inputs with a non-identity covariance. The fitted weights
        are reported in the original coordinates.
    fit_intercept : bool, default=True
        Fit an output bias ``b``.
    fit_hidden_bias : bool, default=True
        Fit a bias ``c_j`` for every hidden unit (kernel). Networks without
        biases are recovered as well (their fitted biases are 0 to the precision
        of the fit); ``False`` fits ``phi(w_j^T x)``, the model of the paper.
    n_init : "auto" or int, default="auto"
        Draws of the initialisation (new random contractions), each followed by
        gradient descent; the fit of lowest final (validation) loss is kept, and
        only its warnings are reported. ``"auto"``: draw again only while a draw
        fails its health checks (moment eigenvalues within their noise, a CP
        residual above 1/2, or a converged fit whose residual still shows a
        unit), at most 5 draws; once on inputs that fail the input-assumption
        check (the health checks then measure the data, not the draw). An int:
        always that many.
    solver : {"auto", "lbfgs", "gd"}, default="auto"
        ``"lbfgs"``: scipy's L-BFGS-B. ``"gd"``: the paper's plain gradient descent
        with step size ``learning_rate``. ``"auto"``: L-BFGS, unless the network has
        at least as many trained parameters as there are samples; the minimisers
        then form a manifold on which plain gradient descent, unlike L-BFGS, finds a
        solution that varies continuously with the data.
    learning_rate : "auto" or float, default="auto"
        Step size of ``solver="gd"``; ``"auto"`` is ``1 / L`` with ``L`` a curvature
        estimate at the initialisation, halved whenever a step raises the loss.
    max_iter : int, default=200
        Maximum number of gradient iterations on all the rows and on each
        subsample of the warm start (see ``tol``; the first subsample, of at most
        1/256 of the rows, may take 5 times as many); 0 keeps the initialisation.
    tol : float, default=1e-5
        Gradient descent stops when the loss has improved by less than a fraction
        ``tol`` of its best value for ``n_iter_no_change`` consecutive iterations,
        or once it is below ``1e-24`` times the variance of ``y`` (exact recovery;
        for float32 ``X``, below ``(10 eps)^2`` times the mean of ``y^2``, its
        rounding level). On 100 000 samples or more (L-BFGS, no early stopping),
        the descent fits random subsamples growing 4-fold from 1/256 of the rows,
        and then all rows, by damped Newton steps with the Gauss-Newton matrix of
        the first subsample's rows, then, from the first subsample of at least 20
        rows per parameter on, of 20 rows per parameter of it; on ``m`` rows they
        stop once the decrease they predict is below ``tol`` times
        the loss or below ``0.01 * n_params / m`` times it (1% of the loss's
        sampling error: further steps would fit the noise).
    n_iter_no_change : int, default=5
        See ``tol``. (Full-batch steps are deterministic, so fewer stale iterations
        than MLPRegressor's 10 for stochastic ones suffice.)
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples (excluded from the moments
        and the loss), stop on their loss, and keep the weights with the lowest one.
    validation_fraction : float, default=0.1
        Fraction of samples held out with ``early_stopping``.
    n_cp_draws : int, default=50
        Random contraction pairs of Jennrich's algorithm in the tensor decomposition
        (shared among the 5 random contractions of the fourth-order tensor for the
        ReLU family).
    moments : {"control_variates", "paper"}, default="control_variates"
        The estimator of the moments behind ``init="tensor"`` (and the unit count
        of ``n_hidden="auto"``). ``"control_variates"``: Hermite control variates,
        the moments of order >= 2 taken of ``y`` minus its constant and linear
        Hermite terms, and those of order 3 and 4 also minus its quadratic term:
        the same expectations with a far smaller variance. ``"paper"``: the plain
        empirical moments of Zhong et al. (2017), ``M_1 = mean(y x)``, ``M_2 =
        mean(y (x x^T - I))``, ``M_3``, ``M_4`` likewise with the Hermite tensors
        of order 3 and 4, of the labels as observed (not centred, even with
        ``fit_intercept=True``), for faithful reproductions of the paper's
        experiments (such as its Fig. 1(b)); the subspace, tensor decomposition,
        magnitudes and gradient descent are unchanged. It is noisier: on
        squared-ReLU teachers with ``k = 5``, ``kappa = 2``, ``d = 10`` and no
        biases (``fit_hidden_bias=False``, one draw, 5 seeds), the mean
        initialisation error (:func:`~skrecover.metrics.recovery_error`) was
        0.77 (0.19 to 2.4) against 0.12 at ``n = 10 000``, 0.21 against 0.077 at
        30 000 and 0.094 against 0.043 at 100 000 (at ``d = 20``: 0.49, 0.21,
        0.11 against 0.17, 0.097, 0.058; with ``fit_hidden_bias=True``, 2 to 3
        times larger than the control variates' too). Gradient descent from
        either recovered all five to ``1e-11`` at 30 000; at 10 000 one
        ``"paper"`` start (error 2.4) ended at a poor local minimum.
    warm_start : bool, default=False
        Start gradient descent from the previous solution instead of a new
        initialisation.
    certify : bool, default=False
        Compute ``certificate_`` after the fit (the gradient and Hessian of the
        training loss at the solution) and the covariance behind
        :meth:`confidence_intervals`. Costs three passes over the training rows
        (the exact Hessian in one) but ``O(n p^2)`` work and ``O(p^2)`` memory for
        ``p`` trained parameters: a fraction of the fit for ``p`` up to a few
        hundred, and more beyond (see the user guide).
    verbose : int, default=0
        Print the loss at every iteration.
    random_state : int, RandomState instance or None, default=None
        Seed of the random contractions (and of the random initialisation and the
        validation split).

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (`n_hidden_`, `n_features_in_` or patch length)
        Hidden units ``w_j`` as rows (kernels for ``patch_size``), in the canonical
        form described in Notes.
    output_weights_ : ndarray of shape (`n_hidden_`,)
        Output weights ``v_j``.
    intercept_ : float
        Output bias ``b``.
    hidden_biases_ : ndarray of shape (`n_hidden_`,)
        Hidden biases ``c_j`` (one per kernel with ``patch_size``); only with
        ``fit_hidden_bias=True``.
    init_hidden_weights_ : ndarray of shape like ``hidden_weights_``
        Hidden weights of the initialisation, before gradient descent.
    init_hidden_biases_ : ndarray of shape (`n_hidden_`,)
        Hidden biases of the initialisation (``fit_hidden_bias=True`` only).
    init_output_weights_ : ndarray of shape (`n_hidden_`,)
        Output weights of the initialisation.
    n_hidden_ : int
        Number of hidden units (kernels) used.
    certificate_ : Bunch
        Only with ``certify=True``: the local analysis of the training loss at the
        fitted network, in its canonical form and the data's units, over the
        trained parameters (the directions a rescaling symmetry leaves flat
        removed). ``training_loss``; ``gradient_norm``; ``newton_decrement`` (the
        decrease of the loss a Newton step predicts: the distance to the minimum in
        loss units); ``hessian_min_eigenvalue`` and ``hessian_max_eigenvalue``;
        ``positive_definite`` (the smallest above ``1e-7`` times the largest: with
        a negligible Newton decrement, a strict local minimum); ``n_parameters``,
        ``n_symmetries`` (flat directions removed) and ``n_passes`` (the cost:
        reads of the training rows); ``covariance``, the sandwich covariance of
        the fitted weights flattened in the order of ``layout`` (their sizes),
        and ``one_step``, the Newton-corrected weights, from which
        :meth:`confidence_intervals` reads.
    n_init_ : int
        Number of draws of the initialisation that ran for the kept fit.
    patch_indices_ : ndarray of shape (n_patches, patch length)
        Feature indices of each patch (only with ``patch_size``).
    activation_ : Activation
        The activation used.
    solver_ : str
        The solver that ran (``"lbfgs"`` or ``"gd"``).
    n_iter_ : int
        Number of gradient iterations run.
    loss_curve_ : list of float
        Training loss ``sum_i s_i (f(x_i) - y_i)^2 / (2 sum_i s_i)`` after each
        iteration.
    validation_loss_curve_ : list of float
        Loss on the held-out samples after each iteration (``early_stopping`` only).
    diagnostics_ : Bunch
        What explains a failed initialisation: ``moment_orders``, ``spectrum``
        (leading moment eigenvalues or singular values, by magnitude),
        ``noise_level`` (their sampling-noise level), ``signal_to_noise`` (the
        ``k``-th over the noise level), ``eigen_gap`` (ratio of the ``k``-th to the
        ``(k+1)``-th), ``moment_rows`` (the rows the moments were estimated on: on
        400 000 rows or more, a random 100 000 first, more while
        ``signal_to_noise`` is below 3), ``cp_residual`` (relative residual of the
        tensor decomposition), ``cp_weights`` and ``magnitude_estimates`` (without
        hidden biases), ``start`` and ``unit_fit_chi2`` (with them: which start was
        kept, see Notes, and the fit of each unit's moment coefficients),
        ``added_units`` (units ``n_hidden="auto"`` added after its first fit), and
        ``input_statistics`` (per-feature moments of ``X``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Randomly initialised multi-layer network.
    skrecover.datasets.make_teacher_regression : Data from a known network.
    skrecover.metrics.recovery_error : Distance of the fitted to the true weights.

    Notes
    -----
    **Model.** :math:`y = \sum_{j=1}^k v_j\, \phi(w_j^\top x + c_j) + b +
    \varepsilon`, :math:`k \le d` units with linearly independent :math:`w_j`
    (:math:`c_j = 0` with ``fit_hidden_bias=False``).

    **Assumptions.** The guarantee needs :math:`x \sim \mathcal{N}(0, I)` (or
    :math:`\mathcal{N}(0, \Sigma)` with ``whiten=True``): the moments

    .. math::

        M_p = \mathbb{E}[y\, He_p(x)] = \sum_{j=1}^k v_j\, m_p(\|w_j\|)\,
        \bar w_j^{\otimes p}, \qquad \bar w_j = w_j / \|w_j\|,

    rest on Gaussian Hermite identities. A warning reports inputs that are visibly
    not Gaussian; gradient descent still fits them, as a local method.

    **Algorithm.** With :math:`y` centred (not with ``moments="paper"``): (1) the
    span of the :math:`w_j` from the top eigenvectors of :math:`P_2 =
    \mathbb{E}[y\, (x x^\top - I)]` (for odd activations, where this vanishes,
    from a sketch of the third moment); (2) the reduced third-order tensor in that
    span (the third Hermite moment, or the fourth contracted once for the ReLU
    family, whose third vanishes); (3) its non-orthogonal CP decomposition
    (Jennrich's algorithm over random draws, refined by Gauss-Newton); (4) norms
    and signs from the first and second moments; (5) gradient descent on the
    squared loss.

    **Hidden biases.** With :math:`w_j = s_j u_j`, the moments of biased units keep
    their rank-one structure, :math:`M_p = \sum_j v_j\, m_p(s_j, c_j)\,
    u_j^{\otimes p}`, but no order vanishes any more. The span then comes from the
    second moment and a sketch of the third together, each weighted by its signal
    above the noise; the directions from the decomposition of the unbiased orders
    and from that of :math:`M_3 + M_4(\cdot, \cdot, \cdot, \beta)` (each order
    weighted by its signal share); each unit's coefficients in :math:`M_1, \dots,
    M_4` then give :math:`(v_j, s_j, c_j)` through the two-parameter constants
    :math:`m_p(s, c)` (closed forms for the ReLU family, whose constants depend on
    :math:`c / s` only). Of these starts, of the same directions with least-squares
    output weights, and of units along the linear trend, the one of lowest loss on
    (a sample of) the data is kept (``diagnostics_["start"]``): on data far from the
    model, moment magnitudes can be absurd. When the trend fits best, it and the
    best moment start are compared again after 10 iterations of descent: nearly
    linear units (sigmoid) are fitted better by their trend, from which they are
    not recovered.

    **Convolutional networks.** With ``patch_size``, every moment is averaged over
    the patches, :math:`\mathbb{E}[y\, He_p(x_l)]` being the same for every patch
    :math:`l` of a Gaussian input (Zhong, Song and Dhillon, 2017), and the algorithm
    runs in the patch space.

    **Guarantee.** For homogeneous :math:`\phi` and :math:`n \ge d\,
    \mathrm{poly}(k, \kappa) \log(1/\epsilon)` samples, the initialisation is within
    the basin of local strong convexity and gradient descent recovers :math:`W` to
    precision :math:`\epsilon` (Zhong et al., Thm. 1.1).

    **Canonical form.** Homogeneous activations: :math:`v_j = \pm 1` and the scale
    in :math:`(w_j, c_j)`; odd activations (tanh, sigmoid): :math:`v_j > 0` and the
    sign in :math:`w_j` (for sigmoid this flip shifts the intercept, so with
    ``fit_intercept=False`` the signs of :math:`v_j` stay as fitted). Units are
    sorted by decreasing :math:`|v_j|\, \|w_j\|`.

    References
    ----------
    K. Zhong, Z. Song, P. Jain, P. L. Bartlett, I. S. Dhillon. Recovery Guarantees for
    One-hidden-layer Neural Networks. ICML 2017, arXiv:1706.03175.

    K. Zhong, Z. Song, I. S. Dhillon. Learning Non-overlapping Convolutional Neural
    Networks with Multiple Kernels. arXiv:1711.03440, 2017.

    Examples
    --------
    >>> from skrecover import TensorInitGD
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import recovery_error
    >>> X, y, teacher = make_teacher_regression(
    ...     n_samples=20_000, n_features=8, n_hidden=3, activation="squared_relu",
    ...     random_state=0)
    >>> model = TensorInitGD(activation="squared_relu", random_state=0).fit(X, y)
    >>> model.n_hidden_
    3
    >>> recovery_error(teacher, model) < 1e-8
    True
    """

    _parameter_constraints: dict = {
        **_BaseTensorInitGD._parameter_constraints,
        "activation": activation_constraint(),
        "fit_intercept": ["boolean"],
    }

    def __init__(
        self,
        n_hidden="auto",
        *,
        activation="relu",
        patch_size=None,
        input_shape=None,
        init="tensor",
        whiten=False,
        fit_intercept=True,
        solver="auto",
        learning_rate="auto",
        max_iter=200,
        tol=1e-5,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        n_cp_draws=50,
        moments="control_variates",
        fit_hidden_bias=True,
        n_init="auto",
        warm_start=False,
        certify=False,
        verbose=0,
        random_state=None,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.patch_size = patch_size
        self.input_shape = input_shape
        self.init = init
        self.whiten = whiten
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_cp_draws = n_cp_draws
        self.moments = moments
        self.fit_hidden_bias = fit_hidden_bias
        self.n_init = n_init
        self.warm_start = warm_start
        self.certify = certify
        self.verbose = verbose
        self.random_state = random_state

    def _centres_targets(self):
        return self.fit_intercept

    def _resolve_activation(self):
        return get_activation(self.activation)

    def _free_parameters(self, activation):
        free = ["hidden_weights", *self._bias_parameters()]
        if self.init == "random" or not activation.degree:
            free.append("output_weights")
        if self.fit_intercept:
            free.append("intercept")
        return free

    def _initial_network(
        self, sample, Y, activation, random_state, n_hidden, min_signal_to_noise=None
    ):
        return self._initialise_problem(
            sample,
            Y[:, 0],
            activation,
            random_state,
            False,
            n_hidden,
            min_signal_to_noise,
        )

    def _leftover_unit(self, state, model):
        """The unit the residual of a converged fit still shows: a moment
        eigenvalue of ``y - f(x)`` well above its own noise. A fit at the global
        minimum leaves none; one at a poor local minimum, or missing a unit
        (weak or ill-conditioned, hidden in the noise of the moments of ``y``),
        does. Not judged on inputs that fail the Gaussian check."""
        if (
            model.sample is None
            or model.unconverged
            or model.exact
            or state.input_problems
        ):
            return None
        return residual_unit(
            model.sample,
            model.sample_targets[:, 0],
            model.params,
            model.activation,
            state.random_state,
        )

    def _output_attributes(self, state, fitted, initial):
        return {
            "output_weights_": fitted.output_weights[0],
            "intercept_": float(fitted.intercept[0]),
            "init_output_weights_": initial.output_weights[0],
            "n_hidden_": len(fitted.hidden_weights),
        }


def _may_grow(model):
    """Whether a fit may lack a unit: its residual shows one, or it is converged
    without being exact or separating its classes (from a moment
    initialisation)."""
    if model.get("residual") is not None:
        return True
    return model.sample is not None and not (
        model.exact or model.unconverged or model.separated
    )


def _growth_reason(model):
    if model.get("residual") is None:
        return "the fit is not exact; the information criterion judges"
    return (
        f"residual moment eigenvalue {model.residual.eigenvalue:.3g}, "
        f"{model.residual.ratio:.3g} times its noise"
    )


def _information_prefers(grown, model, sample_weight, loss="squared"):
    """Whether the network with one more unit is the better model: a lower
    validation loss, or (no validation set) a lower Bayesian information
    criterion (:func:`~skrecover._base.information_prefers`), for ``p`` more
    parameters per unit."""
    if grown.result.validation_loss_curve:
        return grown.final_loss < model.final_loss
    per_unit = grown.sample.dim + 1 + (grown.params.hidden_biases is not None)
    return information_prefers(
        model.final_loss,
        grown.final_loss,
        float(sample_weight.sum()),
        per_unit,
        loss,
    )


def _next_moment_rows(needed, n_rows, n_samples):
    """The rows of the next moment estimate when ``n_rows`` were too few:
    ``_MOMENT_ROWS_MARGIN`` times the rows needed and at least
    ``_MOMENT_ROWS_GROWTH`` times ``n_rows``, or all of them when that is more
    than half. A ratio measured near the noise is itself noisy (sigmoid units at
    a million rows: 1.39 on 1e5 rows, 0.99 on 7e5), so a subsample of more than
    half the rows may fall short too and cost a pass over all of them on top."""
    rows = max(int(_MOMENT_ROWS_MARGIN * needed), _MOMENT_ROWS_GROWTH * n_rows)
    return n_samples if 2 * rows > n_samples else rows


def _moment_rows_needed(diagnostics, n_rows):
    """The rows at which the weakest unit's moment of every problem stands
    ``_MOMENT_SNR`` times above its sampling noise (which falls as one over the
    square root of the rows), from their measured ratio on ``n_rows`` rows."""
    problems = diagnostics.get("problems", [diagnostics])
    ratios = [problem.get("signal_to_noise", np.inf) for problem in problems]
    weakest = max(min(ratios), np.finfo(float).tiny)
    return int(np.ceil(n_rows * min((_MOMENT_SNR / weakest) ** 2, 1e12 / n_rows)))
