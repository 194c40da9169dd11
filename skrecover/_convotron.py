"""Convotron (Goel, Klivans, Meka, 2018): one filter over overlapping patches.

The estimators; the update field, the drift matrix and the solvers are functions
on the data-pass engine in :mod:`._convotron_updates`, which
:mod:`._double_convotron` reuses for its second stage.
"""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import (
    ITERATIVE_CONSTRAINTS,
    BaseNetworkRecovery,
    BaseRecovery,
    IterativeMixin,
    _largest_magnitude,
    activation_constraint,
    weighted_variance,
)
from ._convotron_updates import (
    LOSS_FLOOR,
    MINIBATCH_SIZE,
    SINGULAR,
    FilterProblem,
    Updates,
    convotron_field,
    drift_matrix,
    field_arguments,
    leaky_relu,
    run_epoch,
    run_epochs,
    solve_batch,
    step_size,
    update_rows,
)
from ._optim import OptimResult
from .activations import LeakyReLU
from .exceptions import AssumptionWarning
from .patches import patch_layout

# The inputs' scale must keep its square within float64's range.
_LARGEST_INPUT = 2.0**500
_SMALLEST_INPUT = 2.0**-500


class _BaseConvotron(RegressorMixin, BaseNetworkRecovery):
    """What both Convotrons share: symmetric inputs, one leaky-ReLU filter with
    output weights per patch, and the drift spectrum of the patches."""

    _input_assumption = "symmetric"
    _output_per_patch = True

    def _centres_targets(self):
        return self.fit_intercept

    def _scaler_advice(self):
        # A per-feature scale breaks the weight sharing: centre only.
        return "StandardScaler(with_std=False)"

    def _choose_scaling(self, X, Y, sample_weight, classifier, largest_input=None):
        if largest_input is None:
            largest_input = _largest_magnitude(X)
        if largest_input > 0 and not _SMALLEST_INPUT <= largest_input <= _LARGEST_INPUT:
            raise ValueError(
                f"X varies on a scale of {largest_input:.3g}: the drift matrix "
                "(lambda_min_, lambda_max_) and the step of the Convotron are "
                "quadratic in X, and on that scale they leave float64's range. "
                "Multiply X by a constant first (a common factor keeps the weight "
                "sharing of the patches)."
            )
        return super()._choose_scaling(X, Y, sample_weight, classifier, largest_input)

    @property
    def filter_(self):
        """The filter ``w`` in the shape of a patch (rows, columns, channels)."""
        check_is_fitted(self)
        return self.hidden_weights_[0].reshape(self.patch_shape_)

    def _drift_problem(
        self,
        state,
        layout,
        output,
        slope,
        update_patch,
        weight=None,
        keep_directions=False,
    ):
        """The :class:`FilterProblem` and drift spectrum of fixed output weights;
        warns when the drift matrix is singular. With ``keep_directions`` (for the
        batch solver) the problem holds the rows' update directions, which give
        the drift matrix too."""
        directions = None
        if keep_directions:
            directions = update_rows(state.data.X, layout, output, update_patch)
        drift, mean_square = drift_matrix(
            state.data.X,
            state.training_weight if weight is None else weight,
            layout,
            output,
            update_patch,
            directions,
        )
        eigenvalues = np.linalg.eigvalsh((drift + drift.T) / 2)
        lambda_min, lambda_max = float(eigenvalues[0]), float(eigenvalues[-1])
        if lambda_min <= SINGULAR * max(lambda_max, np.finfo(float).tiny):
            state.report.warn(
                AssumptionWarning,
                "The patch covariance E[v v^T] (v = sum_l a_l x_l) is singular "
                f"(lambda_min = {lambda_min:.3g}, lambda_max = {lambda_max:.3g}): the "
                "condition lambda_min > 0 of Convotron's guarantee fails, and the "
                "filter is not identifiable along its null space.",
            )
        problem = FilterProblem(
            layout,
            output,
            slope,
            update_patch,
            linalg.pinv(drift),
            self.fit_intercept,
            directions,
        )
        spectrum = Bunch(
            lambda_min=lambda_min, lambda_max=lambda_max, mean_square=mean_square
        )
        return problem, spectrum

    @staticmethod
    def _spectrum_attributes(spectrum, scaling):
        """``lambda_min_``, ``lambda_max_`` and ``condition_number_`` of the data
        in original units (the drift is quadratic in ``x``)."""
        unit = scaling.x_scale**2
        lambda_min, lambda_max = spectrum.lambda_min * unit, spectrum.lambda_max * unit
        return {
            "lambda_min_": lambda_min,
            "lambda_max_": lambda_max,
            "condition_number_": lambda_max / lambda_min if lambda_min > 0 else np.inf,
        }

    @staticmethod
    def _filter_attributes(w, intercept, scaling, layout, output, slope, patch_shape):
        """The network's fitted attributes: with ``a`` fixed, ``f = sum_l a_l
        phi(w^T x_l) + c`` in working units maps back by scaling ``w`` (phi is
        positively homogeneous) and ``c``."""
        return {
            "hidden_weights_": (w * (scaling.y_scale / scaling.x_scale))[np.newaxis, :],
            "output_weights_": output,
            "intercept_": float(intercept * scaling.y_scale + scaling.y_offset[0]),
            "patch_indices_": layout,
            "n_patches_": len(layout),
            "patch_shape_": patch_shape,
            "activation_": LeakyReLU(slope),
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # One leaky-ReLU filter with fixed output weights and no intercept, fitted by
        # its own fixed-point rule (not least squares): on data no convolutional
        # teacher made (the common checks' near-linear target), R^2 can be low.
        tags.regressor_tags.poor_score = True
        return tags


class Convotron(IterativeMixin, _BaseConvotron):
    r"""Convotron: one convolutional filter over overlapping patches, learnt from zero.

    Fits ``f(x) = sum_l a_l phi(w^T x_l) + c``: one filter ``w`` read by every patch
    ``x_l`` of ``x`` (patches may overlap), average pooling ``a_l = 1 / k`` (or
    known output weights), a leaky ReLU ``phi`` and an output intercept ``c``. The
    update ``w <- w + eta (y - f(x)) sum_l a_l x_l`` (Goel, Klivans and Meka, 2018)
    has no ``phi'`` factor: it is not a gradient, starts from ``w = 0``, and for
    inputs symmetric about 0 moves ``w`` towards the true filter along a positive
    definite matrix, so it converges with no local minima and no tuning.

    Parameters
    ----------
    patch_size : int or tuple of int, default=None
        Spatial size of a patch (``r`` for signals, ``(r1, r2)`` for images);
        ``None`` (with ``patch_indices=None``) is one patch of all features.
    input_shape : tuple of int, default=None
        Shape of one input, channels last: ``(L,)``, ``(L, C)``, ``(H, W)`` or
        ``(H, W, C)``; ``None``: a 1-D signal of ``n_features``.
    stride : int or tuple of int, default=None
        Step between patches; ``None`` is the patch size (no overlap).
    patch_indices : array-like of shape (n_patches, patch_length), default=None
        Explicit feature indices of each patch, for arbitrary patch sets (instead of
        ``patch_size``).
    activation : {"relu", "leaky_relu", "linear"} or LeakyReLU, default="relu"
        Leaky ReLU with slope ``alpha`` in [0, 1]; smooth activations are refused.
    output_weights : array-like of shape (n_patches,), default=None
        Known output weights ``a`` ("Convotron with a fixed linear layer"); ``None``
        is average pooling.
    update_patch : int, default=None
        Update along this patch only, ``w <- w + eta (y - f(x)) x_j`` (the variant
        for Gaussian inputs with one patch disjoint from all others); ``None``
        updates along all patches.
    fit_intercept : bool, default=True
        Fit the output intercept ``c``. On symmetric inputs the update does not see
        a constant (``E[c x] = 0``), so ``c`` is the mean residual ``E[y - f(x)]``:
        exact at every batch iteration, a moving average over about 1024 samples
        during stochastic updates, and recomputed after every epoch. ``False``
        is the paper's model.
    solver : {"batch", "minibatch", "stochastic"}, default="batch"
        ``"stochastic"``: the paper's one-sample updates, epoch by epoch;
        ``"minibatch"``: mean updates over batches of ``batch_size``; ``"batch"``:
        the mean update over all samples at every iteration, preconditioned by the
        inverse patch covariance (deterministic; see the step sizes below).
    batch_size : int, default=32
        Samples per update for ``solver="minibatch"``.
    learning_rate : "auto" or float, default="auto"
        ``"auto"`` (Notes) estimates the largest stable step from the data, so that
        nothing needs tuning.
    average : "auto", bool or int, default="auto"
        Polyak-Ruppert averaging of the iterates of the stochastic solvers, which
        removes the error floor a constant step leaves with noisy labels. ``True``
        averages every update; an int starts after that many updates; ``"auto"``
        starts once the stopping rule first fires above the loss floor (the
        iterates have reached the noise floor of the step), and the epochs go on
        until it fires again; ``False`` is the paper's constant step (an error
        floor with noisy labels: R^2 0.81-0.99 against 0.997-0.9995 averaged, on
        labels with noise 0.1). ``partial_fit`` averages only with ``True`` or
        an int.
    shuffle : bool, default=True
        Visit the samples of each epoch in a random order (stochastic solvers).
    max_iter : int, default=5000
        Maximum number of iterations (``"batch"``) or epochs.
    tol : float, default=1e-8
        The batch solver stops when the filter has moved by less than
        ``tol * max(1, ||w||)`` for ``n_iter_no_change`` consecutive iterations (its
        field is not a gradient: the loss need not fall monotonically); the
        stochastic solvers when, in addition, the loss has improved by less than a
        fraction ``tol`` of its best value. All stop once the loss is below ``1e-20``
        times the variance of ``y``.
    n_iter_no_change : int, default=10
        See ``tol``. (Stochastic epochs are noisy: as MLPRegressor, 10.)
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples, stop on their loss and keep
        the filter with the lowest one.
    validation_fraction : float, default=0.1
        Fraction of samples held out with ``early_stopping``.
    warm_start : bool, default=False
        Start from the previous filter instead of ``w = 0``.
    verbose : int, default=0
        Print the loss at every iteration (epoch).
    random_state : int, RandomState instance or None, default=None
        Seed of the sample order and of the validation split.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (1, patch_length)
        The filter ``w``.
    filter_ : ndarray of shape ``patch_shape_``
        The filter in the shape of a patch, e.g. ``(r1, r2, C)``.
    patch_shape_ : tuple of int
        Shape of one patch.
    output_weights_ : ndarray of shape (n_patches,)
        The output weights ``a`` (fixed).
    intercept_ : float
        The output intercept ``c`` (0 with ``fit_intercept=False``).
    patch_indices_ : ndarray of shape (n_patches, patch_length)
        Feature indices of each patch.
    n_patches_ : int
        Number of patches ``k``.
    activation_ : LeakyReLU
        The activation used.
    learning_rate_ : float
        The step size used.
    lambda_min_, lambda_max_ : float
        Extreme eigenvalues of the patch covariance ``E[v v^T]``,
        ``v = sum_l a_l x_l`` (of the symmetrised drift matrix with
        ``update_patch``); ``lambda_min_ > 0`` is the paper's condition.
    condition_number_ : float
        ``lambda_max_ / lambda_min_``: the minibatch and stochastic solvers need
        about this many updates (times the batch size) per decade of error.
    n_iter_ : int
        Iterations (``"batch"``) or epochs run.
    t_ : int
        Number of updates made.
    loss_curve_ : list of float
        Mean squared loss ``sum_i s_i (f(x_i) - y_i)^2 / (2 sum_i s_i)`` after each
        iteration or epoch.
    validation_loss_curve_ : list of float
        Held-out loss after each iteration (``early_stopping`` only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    DoubleConvotron : Learns the output weights too.
    TensorInitGD : Several kernels on non-overlapping patches.

    Notes
    -----
    **Model and assumptions.** :math:`\mathbb{E}[y \mid x] = \sum_l a_l\,
    \phi(w^{*\top} x_l) + c` with :math:`\phi` a leaky ReLU of slope
    :math:`\alpha \in [0, 1]`, inputs symmetric about 0 (:math:`x` and :math:`-x`
    equally likely) and :math:`\lambda_{\min}(\mathbb{E}[v v^\top]) > 0`, where
    :math:`v = \sum_l a_l x_l`. No Gaussianity is needed and patches may overlap
    arbitrarily. Centre each feature (not the target), scale all features by one
    common factor: a per-feature scale breaks the weight sharing.

    **Why it works.** With :math:`c_\alpha = (1 + \alpha) / 2`, symmetry gives
    :math:`\mathbb{E}[\phi(u^\top x)\, v^\top x] = c_\alpha\,
    \mathbb{E}[u^\top x\; v^\top x]`, so the mean update is

    .. math::

        \mathbb{E}[(y - f_w(x))\, v] = c_\alpha\, \mathbb{E}[v v^\top]\, (w^* - w),

    a contraction towards :math:`w^*` with no local minima.

    **Step sizes** (``learning_rate="auto"``, from the data): stochastic
    :math:`c_\alpha / (\mathbb{E}\|u\|^2 + 2 \lambda_{\max})`; minibatch of
    :math:`b` samples :math:`\min(b \eta_1, 1 / (c_\alpha \lambda_{\max}))`. The
    batch solver follows the mean update preconditioned by the inverse patch
    covariance,

    .. math::

        w \leftarrow w + \eta\, \mathbb{E}[v v^\top]^{-1}\, \mathbb{E}[(y - f_w(x))\, v]

    with :math:`\eta = 1`: the same fixed point, but the linear part of the field
    becomes :math:`c_\alpha (w^* - w)`, so its rate no longer depends on the overlap
    (stride 2 of patches of 16: 185 iterations instead of about 1400). After the
    first step it takes semismooth Newton steps on the same field,
    :math:`w \leftarrow w + J^{-1} F(w)` with :math:`F(w) =
    \mathbb{E}[(y - c - f_w(x))\, u]` and :math:`J = \mathbb{E}[(u - \mathbb{E}u)\,
    g^\top]`, :math:`g = \sum_l a_l \phi'(w^\top x_l)\, x_l` (measured in the same
    pass as :math:`F`), while they shorten the preconditioned step: the same fixed
    point in 4-8 iterations instead of 37-65 (strides 1-16, noise-free or noisy),
    and the one-pass-per-iteration cost stays. On data that violate the
    assumptions the steps can be too long: whenever the loss becomes non-finite or
    grows more than tenfold, the step is halved and the fit resumes from the best
    filter.

    **Guarantee.** Realizable labels: :math:`\|w_t - w^*\|` falls geometrically, at
    a rate set by :math:`\lambda_{\min} / \lambda_{\max}`; noisy labels:
    :math:`O(1/\epsilon)` updates to error :math:`\epsilon` with a decreasing or
    averaged step.

    References
    ----------
    S. Goel, A. Klivans, R. Meka. Learning One Convolutional Layer with Overlapping
    Patches. ICML 2018, arXiv:1802.02547.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover import Convotron
    >>> from skrecover.datasets import make_teacher_convolution
    >>> X, y, teacher = make_teacher_convolution(
    ...     n_samples=2000, n_features=40, patch_size=8, stride=4, random_state=0)
    >>> model = Convotron(patch_size=8, stride=4).fit(X, y)
    >>> model.filter_.shape
    (8,)
    >>> bool(np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights) < 1e-6)
    True
    """

    _parameter_constraints: dict = {
        **BaseRecovery._parameter_constraints,
        **ITERATIVE_CONSTRAINTS,
        "patch_size": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "input_shape": [None, tuple],
        "stride": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "patch_indices": [None, "array-like"],
        "activation": activation_constraint(),
        "output_weights": [None, "array-like"],
        "update_patch": [None, Interval(Integral, 0, None, closed="left")],
        "solver": [StrOptions({"batch", "minibatch", "stochastic"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "average": [
            StrOptions({"auto"}),
            "boolean",
            Interval(Integral, 1, None, closed="left"),
        ],
        "shuffle": ["boolean"],
        "fit_intercept": ["boolean"],
    }

    def __init__(
        self,
        patch_size=None,
        *,
        input_shape=None,
        stride=None,
        patch_indices=None,
        activation="relu",
        output_weights=None,
        update_patch=None,
        fit_intercept=True,
        solver="batch",
        batch_size=MINIBATCH_SIZE,
        learning_rate="auto",
        average="auto",
        shuffle=True,
        max_iter=5000,
        tol=1e-8,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        verbose=0,
        random_state=None,
    ):
        self.patch_size = patch_size
        self.input_shape = input_shape
        self.stride = stride
        self.patch_indices = patch_indices
        self.activation = activation
        self.output_weights = output_weights
        self.update_patch = update_patch
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.average = average
        self.shuffle = shuffle
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of the (mini)batch updates over ``X``, in the given order.

        The algorithm is online: a stream of chunks passed to successive calls makes
        the same updates as one epoch of ``fit`` over their concatenation with
        ``shuffle=False`` (given a fixed ``learning_rate``; ``"auto"`` is estimated
        on the first chunk). The updates are online whatever the solver: single
        samples with ``solver="stochastic"``, batches of ``batch_size`` otherwise
        (the batch solver's preconditioned iteration needs all the data at once).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : Convotron
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    # -- hooks of the fit sequence
    def _validation_fraction(self):
        return (
            (self.validation_fraction, "early_stopping")
            if self.early_stopping
            else None
        )

    def _initialize(self, state):
        data = state.data
        layout, patch_shape = patch_layout(
            data.X.shape[1],
            self.patch_size,
            input_shape=self.input_shape,
            stride=self.stride,
            patch_indices=self.patch_indices,
        )
        output = self._fixed_output_weights(len(layout))
        self._check_update_patch(layout)
        activation = leaky_relu(self.activation)
        scaling = data.scaling
        keep = state.get("first") is False or (
            self.warm_start and hasattr(self, "hidden_weights_")
        )
        unit = scaling.x_scale**2
        if state.get("first") is False:
            # partial_fit goes on with the first chunk's spectrum and step.
            problem = FilterProblem(
                layout,
                output,
                activation.slope,
                self.update_patch,
                None,
                self.fit_intercept,
            )
            spectrum = Bunch(
                lambda_min=self.lambda_min_ / unit, lambda_max=self.lambda_max_ / unit
            )
            learning_rate = self.learning_rate_ * unit
        else:
            batch = self.solver == "batch" and state.get("first") is None
            problem, spectrum = self._drift_problem(
                state,
                layout,
                output,
                activation.slope,
                self.update_patch,
                keep_directions=batch,
            )
            if batch:
                # The preconditioned step is dimensionless: 1 is the natural one.
                learning_rate = (
                    1.0 if self.learning_rate == "auto" else float(self.learning_rate)
                )
            elif self.learning_rate == "auto":
                learning_rate = step_size(
                    self.solver == "stochastic",
                    activation.slope,
                    spectrum.lambda_max,
                    spectrum.mean_square,
                    self.batch_size,
                )
            else:
                learning_rate = float(self.learning_rate) * unit
        w = np.zeros(layout.shape[1])
        iterate, t, intercept = w, 0, 0.0
        if keep:
            to_working = scaling.x_scale / scaling.y_scale
            w = self.hidden_weights_[0] * to_working
            iterate = getattr(self, "_iterate_", self.hidden_weights_[0]) * to_working
            t = self.t_
            intercept = float((self.intercept_ - scaling.y_offset[0]) / scaling.y_scale)
        return Bunch(
            problem=problem,
            spectrum=spectrum,
            activation=activation,
            updates=Updates(w, iterate, t, learning_rate, intercept),
            patch_shape=patch_shape,
        )

    def _optimize(self, state, start):
        data = state.data
        options = {
            "max_iter": self.max_iter,
            "tol": self.tol,
            "n_iter_no_change": self.n_iter_no_change,
            "verbose": self.verbose,
            "loss_floor": LOSS_FLOOR * weighted_variance(data.y, state.training_weight),
        }
        y = data.y[:, 0]
        if self.solver == "batch":
            result, intercept = solve_batch(
                data.X,
                y,
                state.training_weight,
                state.validation_weight,
                start.updates.w,
                start.problem,
                **options,
            )
            updates = Updates(
                result.x,
                result.x,
                start.updates.t + result.n_iter,
                result.learning_rate,
                intercept,
            )
        else:
            result, updates = run_epochs(
                data.X,
                y,
                state.training_weight,
                state.validation_weight,
                start.updates,
                start.problem,
                batch=1 if self.solver == "stochastic" else self.batch_size,
                average=self.average,
                shuffle=self.shuffle,
                random_state=state.random_state,
                **options,
            )
        if not result.converged:
            spectrum = start.spectrum
            condition = spectrum.lambda_max / max(spectrum.lambda_min, 1e-300)
            self._warn_unconverged(
                state,
                result,
                f"The patch covariance has condition number {condition:.3g}: "
                "heavily overlapping patches converge slowly.",
            )
        start.update(result=result, updates=updates)
        if state.validation_weight is None:
            start.training_loss = min(result.loss_curve, default=result.start_loss)
        return start

    def _partial_update(self, state):
        start = self._initialize(state)
        data = state.data
        y = data.y[:, 0]
        updates = run_epoch(
            data.X,
            y,
            data.sample_weight,
            np.arange(len(y)),
            start.updates,
            start.problem,
            batch=1 if self.solver == "stochastic" else self.batch_size,
            # A stream has no stopping rule to start "auto" averaging.
            average=False if self.average == "auto" else self.average,
            # A chunk shorter than a minibatch moves w in proportion to its rows.
            short=len(y) < self.batch_size,
        )
        field = convotron_field(
            data.X,
            y,
            data.sample_weight,
            updates.w,
            *field_arguments(start.problem),
            fit_intercept=self.fit_intercept,
            shift=updates.intercept,
        )
        loss = field.loss
        previous = [] if state.first else self.loss_curve_
        unit = data.scaling.y_scale**2
        result = OptimResult(
            x=updates.w,
            n_iter=(0 if state.first else self.n_iter_) + 1,
            loss_curve=[value / unit for value in previous] + [loss],
        )
        start.update(result=result, updates=updates)
        return start

    def _fitted_attributes(self, state, model):
        scaling = state.data.scaling
        problem, updates, result = model.problem, model.updates, model.result
        learning_rate = updates.learning_rate
        if self.solver != "batch" or state.get("first") is not None:
            learning_rate /= scaling.x_scale**2
        unit = scaling.y_scale**2
        attributes = {
            **self._filter_attributes(
                updates.w,
                updates.intercept,
                scaling,
                problem.layout,
                problem.output,
                problem.slope,
                model.patch_shape,
            ),
            **self._spectrum_attributes(model.spectrum, scaling),
            "learning_rate_": learning_rate,
            "t_": updates.t,
            "n_iter_": result.n_iter,
            "loss_curve_": [loss * unit for loss in result.loss_curve],
        }
        if self.average:
            attributes["_iterate_"] = updates.iterate * (
                scaling.y_scale / scaling.x_scale
            )
        if state.validation_weight is not None:
            attributes["validation_loss_curve_"] = [
                loss * unit for loss in result.validation_loss_curve
            ]
        return attributes

    # -- layout
    def _fixed_output_weights(self, n_patches):
        if self.output_weights is None:
            return np.full(n_patches, 1.0 / n_patches)
        output = np.asarray(self.output_weights, dtype=float)
        if output.shape != (n_patches,):
            raise ValueError(
                f"output_weights has shape {output.shape}; the layout has {n_patches} "
                f"patches, so it must have shape ({n_patches},)."
            )
        if not np.all(np.isfinite(output)):
            raise ValueError("output_weights must be finite.")
        return output

    def _check_update_patch(self, patch_indices):
        if self.update_patch is None:
            return
        if self.update_patch >= len(patch_indices):
            raise ValueError(
                f"update_patch={self.update_patch} but there are only "
                f"{len(patch_indices)} patches."
            )
        others = np.delete(patch_indices, self.update_patch, axis=0)
        if np.intersect1d(patch_indices[self.update_patch], others).size:
            raise ValueError(
                f"update_patch={self.update_patch} shares features with other "
                "patches: the one-disjoint-patch update needs a patch that no other "
                "patch reads."
            )
