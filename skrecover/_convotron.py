"""Convotron (Goel, Klivans, Meka, 2018) and Double Convotron (Du, Goel, 2018)."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _moments
from ._base import (
    OPTIMIZER_CONSTRAINTS,
    BaseOneHiddenLayer,
    symmetry_problems,
    weighted_variance,
)
from ._network import (
    NetworkParams,
    _pool,
    _pre_activations,
    chunk_rows,
    gather_patches,
)
from ._optim import Monitor, blew_up, minimize
from .activations import Activation, LeakyReLU, ReLU, get_activation
from .exceptions import AssumptionWarning
from .patches import check_patch_indices, make_patch_indices

# Eigenvalues of the patch covariance below this fraction of the largest count as
# zero: the condition lambda_min > 0 of Goel, Klivans and Meka then fails.
_SINGULAR = 1e-8
# Stop once the mean squared error is this fraction of the variance of y.
_LOSS_FLOOR = 1e-20
_MINIBATCH_SIZE = 32


def leaky_slope(activation):
    """The negative slope of a leaky ReLU activation, refusing any other."""
    if isinstance(activation, str):
        if activation == "linear":
            return 1.0
        activation = get_activation(activation)
    if isinstance(activation, ReLU):
        return 0.0
    if isinstance(activation, LeakyReLU):
        if not 0 <= activation.slope <= 1:
            raise ValueError(
                f"The leaky ReLU slope must lie in [0, 1], got {activation.slope}."
            )
        return float(activation.slope)
    raise ValueError(
        f"Convotron needs a leaky ReLU activation (slope in [0, 1]: 'relu', "
        f"'leaky_relu', 'linear' or LeakyReLU(slope)), got {activation!r}: its "
        "guarantee rests on the activation's odd part being linear, which a smooth "
        "activation such as tanh or sigmoid does not have."
    )


class _ConvolutionalBase(BaseOneHiddenLayer):
    """Patches, the leaky ReLU and the update directions shared by the Convotrons."""

    def predict(self, X):
        """Network output ``sum_l a_l phi(w^T x_l)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._forward(X)[:, 0]

    def _patch_layout(self, n_features):
        if self.patch_indices is not None:
            if self.patch_size is not None or self.input_shape is not None:
                raise ValueError(
                    "Give either patch_indices or patch_size (with input_shape and "
                    "stride), not both."
                )
            return check_patch_indices(self.patch_indices, n_features)
        if self.patch_size is None:
            if self.input_shape is not None or self.stride is not None:
                raise ValueError("input_shape and stride need a patch_size.")
            return np.arange(n_features)[np.newaxis, :]
        return make_patch_indices(
            n_features,
            self.patch_size,
            input_shape=self.input_shape,
            stride=self.stride,
        )

    def _network_params(self):
        return NetworkParams(
            self.hidden_weights_,
            np.asarray(self.output_weights_, dtype=float).reshape(1, -1, 1),
            np.zeros(1),
        )

    @property
    def filter_(self):
        """The filter ``w`` in the shape of a patch (rows, columns, channels)."""
        check_is_fitted(self)
        return self.hidden_weights_[0].reshape(self.patch_shape_)

    def _patch_shape(self, n_features, patch_length):
        if self.patch_indices is not None or self.patch_size is None:
            return (patch_length,)
        size = (
            (self.patch_size,)
            if isinstance(self.patch_size, Integral)
            else self.patch_size
        )
        shape = (n_features,) if self.input_shape is None else tuple(self.input_shape)
        channels = shape[len(size) :]
        return tuple(size) + tuple(channels)


def update_directions(X, patch_indices, output_weights, update_patch=None):
    """``u(x) = sum_l a_l x_l`` (or ``x_j`` for the one-disjoint-patch update) and
    ``v(x) = sum_l a_l x_l``, for the rows of one chunk, shape (n, patch length)."""
    patches = gather_patches(X, patch_indices).astype(np.float64, copy=False)
    pooled = np.einsum("l,clr->cr", output_weights, patches)
    if update_patch is None:
        return pooled, pooled
    return patches[:, update_patch, :], pooled


def drift_matrix(X, sample_weight, patch_indices, output_weights, update_patch=None):
    """``D = E[u(x) v(x)^T]``: the mean update is ``c_alpha D (w* - w)``.

    For Convotron ``D`` is the patch covariance ``C = E[v v^T]``, whose extreme
    eigenvalues set the step size and the rate (Goel, Klivans and Meka need
    ``lambda_min(C) > 0``). Also returns ``E[||u||^2]``.
    """
    total, squared = 0.0, 0.0
    scale = 1.0 / float(sample_weight.sum())
    step = chunk_rows(patch_indices.size)
    for start in range(0, X.shape[0], step):
        u, v = update_directions(
            X[start : start + step], patch_indices, output_weights, update_patch
        )
        weights = sample_weight[start : start + step] * scale
        total = total + (weights[:, np.newaxis] * u).T @ v
        squared += weights @ np.einsum("cr,cr->c", u, u)
    return total, float(squared)


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
):
    """Mean squared loss and the mean Convotron update ``E[(y - f(x)) u(x)]``.

    The update has no ``phi'`` factor: it is not the gradient of the loss, which is
    why Convotron can start from ``w = 0`` (where the ReLU gradient vanishes).
    """
    activation = LeakyReLU(slope)
    output = output_weights.reshape(1, -1, 1)
    total = float(sample_weight.sum())
    loss, update = 0.0, np.zeros_like(w)
    monitored = np.zeros(len(monitor_weights))
    step = chunk_rows(patch_indices.size)
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        patches = gather_patches(X[rows], patch_indices).astype(np.float64, copy=False)
        hidden = activation(_pre_activations(patches, w[np.newaxis, :]))
        residual = y[rows] - _pool(hidden, output)[:, 0]
        u = (
            np.einsum("l,clr->cr", output_weights, patches)
            if update_patch is None
            else patches[:, update_patch, :]
        )
        weights = sample_weight[rows]
        squared = 0.5 * residual * residual
        loss += weights @ squared
        update += (weights * residual) @ u
        for m, monitor in enumerate(monitor_weights):
            monitored[m] += monitor[rows] @ squared
    means = [
        monitored[m] / max(float(weights.sum()), 1e-300)
        for m, weights in enumerate(monitor_weights)
    ]
    return loss / total, update / total, means


class Convotron(RegressorMixin, _ConvolutionalBase):
    """Convotron: one convolutional filter over overlapping patches, learnt from zero.

    Fits ``f(x) = sum_l a_l phi(w^T x_l)``: one filter ``w`` read by every patch
    ``x_l`` of ``x`` (patches may overlap), average pooling ``a_l = 1 / k`` (or known
    output weights), and a leaky ReLU ``phi``. The update ``w <- w + eta (y - f(x))
    sum_l a_l x_l`` (Goel, Klivans and Meka, 2018) has no ``phi'`` factor: it is not a
    gradient, starts from ``w = 0``, and for inputs symmetric about 0 moves ``w``
    towards the true filter along a positive definite matrix, so it converges with
    no local minima and no tuning.

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
    average : bool or int, default=False
        Polyak-Ruppert averaging of the iterates of the stochastic solvers, which
        removes the error floor a constant step leaves with noisy labels. ``True``
        averages every update; an int starts after that many updates.
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
        Always 0: the model has none.
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
    **Model and assumptions.** ``E[y | x] = sum_l a_l phi(w*^T x_l)`` with ``phi`` a
    leaky ReLU of slope ``alpha`` in [0, 1], inputs symmetric about 0 (``x`` and
    ``-x`` equally likely) and ``lambda_min(E[v v^T]) > 0``. No Gaussianity is needed
    and patches may overlap arbitrarily. Centre each feature (not the target),
    scale all features by one common factor: a per-feature scale breaks the
    weight sharing.

    **Why it works.** With ``c = (1 + alpha) / 2``, symmetry gives
    ``E[phi(u^T x) v^T x] = c E[u^T x v^T x]``, so the mean update is
    ``c E[v v^T] (w* - w)``: a contraction towards ``w*`` with no local minima.

    **Step sizes** (``learning_rate="auto"``, from the data): stochastic
    ``c / (E||u||^2 + 2 lambda_max)``; minibatch of ``b`` samples ``min(b eta_1, 1 /
    (c lambda_max))``. The batch solver follows the mean update preconditioned by
    the inverse patch covariance, ``w <- w + eta E[v v^T]^{-1} E[(y - f(x)) v]``
    with ``eta = 1``: the same fixed point, but the linear part of the field becomes
    ``c (w* - w)``, so its rate no longer depends on the overlap (stride 2 of
    patches of 16: 185 iterations instead of ~1400). On data that violate the
    assumptions the steps can be too long: whenever the loss becomes non-finite or
    grows more than tenfold, the step is halved and the fit resumes from the best
    filter.

    **Guarantee.** Realizable labels: ``||w_t - w*||`` falls geometrically, at a
    rate set by ``lambda_min / lambda_max``; noisy labels: ``O(1/epsilon)``
    updates to error ``epsilon`` with a decreasing or averaged step.

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
        "patch_size": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "input_shape": [None, tuple],
        "stride": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "patch_indices": [None, "array-like"],
        "activation": [StrOptions({"relu", "leaky_relu", "linear"}), Activation],
        "output_weights": [None, "array-like"],
        "update_patch": [None, Interval(Integral, 0, None, closed="left")],
        "solver": [StrOptions({"batch", "minibatch", "stochastic"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        **{
            k: v
            for k, v in OPTIMIZER_CONSTRAINTS.items()
            if k not in ("solver", "learning_rate")
        },
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
        solver="batch",
        batch_size=_MINIBATCH_SIZE,
        learning_rate="auto",
        average=False,
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
    def fit(self, X, y, sample_weight=None):
        """Learn the filter from ``w = 0`` (or the previous one with ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, symmetric about 0.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as repeating the sample.

        Returns
        -------
        self : Convotron
            The fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "hidden_weights_")
        X, y, sample_weight = self._validate_training_data(X, y, sample_weight)
        random_state = check_random_state(self.random_state)
        train_weight, validation_weight = self._validation_split(
            sample_weight, random_state
        )
        self._prepare(X, train_weight, random_state, keep_filter=warm)
        if self.solver == "batch":
            result = self._fit_batch(X, y, train_weight, validation_weight)
        else:
            result = self._fit_epochs(
                X, y, train_weight, validation_weight, random_state
            )
        self.hidden_weights_ = result.x[np.newaxis, :]
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve
        self._set_or_forget(
            "validation_loss_curve_",
            None if validation_weight is None else result.validation_loss_curve,
        )
        self._warn_not_converged(
            result,
            f"The patch covariance has condition number {self.condition_number_:.3g}: "
            "heavily overlapping patches converge slowly.",
        )
        return self

    def _can_partial_fit(self):
        return self.solver != "batch"

    @available_if(_can_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of the (mini)batch updates over ``X``, in the given order.

        The algorithm is online: a stream of chunks passed to successive calls makes
        the same updates as one epoch of ``fit`` over their concatenation with
        ``shuffle=False`` (given a fixed ``learning_rate``; ``"auto"`` is estimated
        on the first chunk). Available for ``solver="stochastic"`` and
        ``"minibatch"``.

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
        first = not hasattr(self, "hidden_weights_")
        if first:
            self._validate_params()
        X, y = validate_data(
            self, X, y, reset=first, dtype=[np.float64, np.float32], y_numeric=True
        )
        y = np.asarray(y, dtype=np.float64)
        sample_weight = self._check_sample_weight(sample_weight, X)
        if first:
            self._prepare(X, sample_weight, check_random_state(self.random_state))
            self.n_iter_, self.loss_curve_ = 0, []
        w = self.hidden_weights_[0].copy()
        w = self._epoch(X, y, sample_weight, np.arange(len(y)), w)
        self.hidden_weights_ = w[np.newaxis, :]
        self.n_iter_ += 1
        self.loss_curve_.append(self._field(X, y, sample_weight, w)[0])
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # One leaky-ReLU filter with fixed output weights and no intercept, fitted by
        # its own fixed-point rule (not least squares): on data no convolutional
        # teacher made (the common checks' near-linear target), R^2 can be low.
        tags.regressor_tags.poor_score = True
        return tags

    # -- fitting
    def _prepare(self, X, sample_weight, random_state, keep_filter=False):
        """Patches, output weights, activation, drift spectrum and step size."""
        n_features = X.shape[1]
        patch_indices = self._patch_layout(n_features)
        n_patches, patch_length = patch_indices.shape
        output = (
            np.full(n_patches, 1.0 / n_patches)
            if self.output_weights is None
            else np.asarray(self.output_weights, dtype=float)
        )
        if output.shape != (n_patches,):
            raise ValueError(
                f"output_weights has shape {output.shape}; the layout has {n_patches} "
                f"patches, so it must have shape ({n_patches},)."
            )
        self._check_update_patch(patch_indices)
        slope = leaky_slope(self.activation)
        self.patch_indices_ = patch_indices
        self.n_patches_ = n_patches
        self.patch_shape_ = self._patch_shape(n_features, patch_length)
        self.output_weights_ = output
        self.intercept_ = 0.0
        self.activation_ = LeakyReLU(slope)
        self._check_symmetric_inputs(X, sample_weight, random_state)
        drift, mean_square = drift_matrix(
            X, sample_weight, patch_indices, output, self.update_patch
        )
        eigenvalues = np.linalg.eigvalsh((drift + drift.T) / 2)
        self.lambda_min_, self.lambda_max_ = (
            float(eigenvalues[0]),
            float(eigenvalues[-1]),
        )
        self.condition_number_ = (
            self.lambda_max_ / self.lambda_min_ if self.lambda_min_ > 0 else np.inf
        )
        if self.lambda_min_ <= _SINGULAR * max(self.lambda_max_, np.finfo(float).tiny):
            warnings.warn(
                "The patch covariance E[v v^T] (v = sum_l a_l x_l) is singular "
                f"(lambda_min = {self.lambda_min_:.3g}, lambda_max = "
                f"{self.lambda_max_:.3g}): the condition lambda_min > 0 of Convotron's "
                "guarantee fails, and the filter is not identifiable along its null "
                "space.",
                AssumptionWarning,
                stacklevel=3,
            )
        # The batch solver follows the mean update preconditioned by D^{-1}: its
        # linear part c D (w* - w) becomes c (w* - w) whatever the overlap.
        self._preconditioner = linalg.pinv(drift)
        self.learning_rate_ = self._step_size(slope, mean_square)
        if not keep_filter:
            self.hidden_weights_ = np.zeros((1, patch_length))
            self.t_ = 0
            self.__dict__.pop("_iterate", None)

    def _step_size(self, slope, mean_square):
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        c = (1 + slope) / 2
        largest = max(self.lambda_max_, np.finfo(float).tiny)
        batch = 1.0 / (c * largest)
        single = c / (mean_square + 2 * largest)
        if self.solver == "batch":
            return 1.0
        if self.solver == "stochastic":
            return single
        return min(self.batch_size * single, batch)

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

    def _check_symmetric_inputs(self, X, sample_weight, random_state):
        statistics = _moments.feature_statistics(
            X, sample_weight, random_state=random_state
        )
        problems = symmetry_problems(statistics)
        if problems:
            warnings.warn(
                f"{type(self).__name__} assumes inputs symmetric about 0; on these "
                "inputs " + "; ".join(problems) + ". Centre each feature (e.g. "
                "StandardScaler(with_std=False) in a Pipeline).",
                AssumptionWarning,
                stacklevel=4,
            )

    def _field(self, X, y, sample_weight, w, monitor_weights=()):
        return convotron_field(
            X,
            y,
            sample_weight,
            w,
            self.patch_indices_,
            self.output_weights_,
            self.activation_.slope,
            self.update_patch,
            monitor_weights,
        )

    def _fit_batch(self, X, y, sample_weight, validation_weight):
        monitors = () if validation_weight is None else (validation_weight,)

        def objective(w):
            loss, update, monitored = self._field(X, y, sample_weight, w, monitors)
            direction = self._preconditioner @ update
            return loss, -direction, monitored[0] if monitors else None

        result = minimize(
            objective,
            self.hidden_weights_[0],
            solver="fixed_point",
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate_,
            validate=validation_weight is not None,
            verbose=self.verbose,
            loss_floor=_LOSS_FLOOR * weighted_variance(y, sample_weight),
            stop_on="step",
        )
        self.learning_rate_ = result.learning_rate
        self.t_ = getattr(self, "t_", 0) + result.n_iter
        return result

    def _fit_epochs(self, X, y, sample_weight, validation_weight, random_state):
        monitor = Monitor(
            self.hidden_weights_[0],
            self.tol,
            self.n_iter_no_change,
            validation_weight is not None,
            self.verbose,
            _LOSS_FLOOR * weighted_variance(y, sample_weight),
            stop_on="either",
        )
        w = self.hidden_weights_[0].copy()
        training = np.flatnonzero(sample_weight > 0)
        monitors = () if validation_weight is None else (validation_weight,)
        best_w, best_loss = w.copy(), self._field(X, y, sample_weight, w)[0]
        for _ in range(self.max_iter):
            order = random_state.permutation(training) if self.shuffle else training
            w = self._epoch(X, y, sample_weight, order, w)
            loss, _, monitored = self._field(X, y, sample_weight, w, monitors)
            if blew_up(loss, best_loss):
                # The step is too long for these data (asymmetric inputs, say):
                # halve it and resume from the best filter.
                self.learning_rate_ /= 2
                w = best_w.copy()
                self.__dict__.pop("_iterate", None)
                continue
            if loss < best_loss:
                best_w, best_loss = w.copy(), loss
            if monitor.record(w, loss, monitored[0] if monitors else None):
                break
        return monitor.result

    def _epoch(self, X, y, sample_weight, order, w):
        """One pass of updates over the rows ``order``; returns the new filter.

        With ``average``, the returned filter is the running average of the
        iterates (the raw iterate is kept in ``_iterate``).
        """
        eta = self.learning_rate_
        slope = self.activation_.slope
        output = self.output_weights_
        relative = sample_weight / np.mean(sample_weight[order])
        iterate = getattr(self, "_iterate", w).copy() if self.average else w.copy()
        batch = 1 if self.solver == "stochastic" else self.batch_size
        step = max(batch, chunk_rows(self.patch_indices_.size) // batch * batch)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            patches = gather_patches(X[rows], self.patch_indices_).astype(np.float64)
            u, _ = update_directions(
                X[rows], self.patch_indices_, output, self.update_patch
            )
            scale = eta * relative[rows]
            for b in range(0, len(rows), batch):
                block = slice(b, b + batch)
                pre = patches[block] @ iterate
                f = np.where(pre > 0, pre, slope * pre) @ output
                iterate += (
                    (scale[block] * (y[rows[block]] - f)) @ u[block] / len(scale[block])
                )
                self.t_ += 1
                if self.average:
                    w = self._averaged(w, iterate)
        if self.average:
            self._iterate = iterate
            return w
        return iterate

    def _averaged(self, average, iterate):
        """Running average of the iterates once ``average`` updates have passed."""
        start = 1 if self.average is True else int(self.average)
        if self.t_ < start:
            return iterate.copy()
        count = self.t_ - start + 1
        return average + (iterate - average) / count


class DoubleConvotron(RegressorMixin, _ConvolutionalBase):
    """Double Convotron: learns a convolutional filter and its output weights.

    Fits ``f(x) = sum_l a_l phi(w^T x_l)`` over 1-D strided patches, learning both
    the filter ``w`` and the output weights ``a`` (Du and Goel, 2018), in three
    stages:

    1. ``(w_non, a)``, where ``w_non`` is the part of the filter no two patches
       share, from the rank-one matrix ``E[y x_{l,non}] = c a_l w_non``: its top
       singular pair (``stage1="spectral"``), or the paper's noisy stochastic
       updates (``"sgd"``), whose mean on symmetric inputs is the gradient of the
       rank-one factorisation of that matrix with a balancing term;
    2. :class:`Convotron` with the output layer fixed at ``a`` and at ``-a`` (the
       sign stage 1 cannot see), each from ``w = 0``;
    3. the candidate with the lower training loss.

    Parameters
    ----------
    patch_size : int, default=None
        Patch length ``r`` of the 1-D signal; ``None`` is one patch of all features
        (a single unit ``a phi(w^T x)``).
    stride : int, default=None
        Step ``s`` between patches, at least ``r // 2 + 1`` so that only neighbours
        overlap; ``None`` is the patch size.
    activation : {"relu", "leaky_relu", "linear"} or LeakyReLU, default="relu"
        Leaky ReLU with slope ``gamma`` in [0, 1).
    stage1 : {"spectral", "sgd"}, default="spectral"
        ``"spectral"``: the top singular pair of the weighted empirical matrix
        ``E[y x_{l,non}]`` (one pass, deterministic; the point the paper's
        dynamics converge to). ``"sgd"``: the paper's noisy stochastic updates from
        a small random start.
    learning_rate : float, default=1e-4
        Step size of ``stage1="sgd"`` (the paper's, for standardised inputs).
    max_iter : int, default=10000
        Updates ``T1`` of ``stage1="sgd"`` (one sample each, drawn in proportion to
        the sample weights). Measured on ``r = 16``: the paper's budget
        (``eta T1 = 1``) leaves the saddle at 0 for about one teacher in ten;
        ``eta T1 = 10`` is safer.
    perturbation_scale : float, default=1.0
        Radius of the uniform spherical noise added to each ``"sgd"`` update.
    convotron_solver : {"batch", "minibatch", "stochastic"}, default="batch"
        Solver of the two stage-2 Convotrons (automatic step size).
    tol : float, default=1e-8
        Tolerance of the stage-2 Convotrons.
    verbose : int, default=0
        Print stage-2 progress.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, the sample order and the perturbations.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (1, patch_size)
        The filter ``w``, scaled so that ``||a|| = 1``.
    filter_ : ndarray of shape (patch_size,)
        The filter.
    patch_shape_ : tuple of int
        ``(patch_size,)``.
    output_weights_ : ndarray of shape (n_patches,)
        The output weights ``a``, of unit norm.
    intercept_ : float
        Always 0.
    patch_indices_ : ndarray of shape (n_patches, patch_size)
        Feature indices of each patch.
    n_patches_ : int
        Number of patches.
    activation_ : LeakyReLU
        The activation used.
    sign_ : {1, -1}
        Which of ``a`` and ``-a`` from stage 1 stage 3 kept.
    candidate_losses_ : ndarray of shape (2,)
        Training losses of the candidates with ``+a`` and ``-a``.
    stage1_filter_ : ndarray of shape (2 s - r,)
        The exclusive part ``w_non`` of the filter after stage 1.
    stage1_singular_values_ : ndarray
        Singular values of ``E[y x_{l,non}]`` (``stage1="spectral"``): one dominates
        when the model holds.
    stage1_output_weights_ : ndarray of shape (n_patches,)
        ``a`` after stage 1.
    n_iter_ : int
        Stage-1 updates (0 for ``"spectral"``) plus the iterations of the chosen
        stage-2 Convotron.
    loss_curve_ : list of float
        Loss of the chosen stage-2 Convotron after each of its iterations.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    Convotron : The filter alone, with known output weights.

    Notes
    -----
    **Assumptions.** Inputs symmetric about 0 with identity covariance, bounded in
    theory; ``s >= r // 2 + 1`` (each patch has an exclusive middle of length
    ``2 s - r``); ``phi`` a leaky ReLU. ``(w, a)`` and ``(c w, a / c)`` are the same
    network for ``c > 0``: the output weights are reported with unit norm.

    **Guarantee.** With polynomially many samples and iterations (in the patch
    length, the number of patches and ``1 / epsilon``) the excess risk is at most
    ``epsilon`` with high probability (Du and Goel, 2018, Thm. 3.1).

    References
    ----------
    S. S. Du, S. Goel. Improved Learning of One-hidden-layer Convolutional Neural
    Networks with Overlaps. arXiv:1805.07798, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover import DoubleConvotron
    >>> from skrecover.datasets import make_teacher_convolution
    >>> X, y, teacher = make_teacher_convolution(
    ...     n_samples=5000, n_features=64, patch_size=8, stride=8,
    ...     output_weights="random", random_state=0)
    >>> model = DoubleConvotron(patch_size=8, random_state=0).fit(X, y)
    >>> cosine = model.output_weights_ @ teacher.output_weights
    >>> bool(np.arccos(min(cosine, 1.0)) < 0.1)
    True
    """

    _parameter_constraints: dict = {
        "patch_size": [None, Interval(Integral, 1, None, closed="left")],
        "stride": [None, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "leaky_relu", "linear"}), Activation],
        "stage1": [StrOptions({"spectral", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "perturbation_scale": [Interval(Real, 0, None, closed="left")],
        "convotron_solver": [StrOptions({"batch", "minibatch", "stochastic"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        patch_size=None,
        *,
        stride=None,
        activation="relu",
        stage1="spectral",
        learning_rate=1e-4,
        max_iter=10_000,
        perturbation_scale=1.0,
        convotron_solver="batch",
        tol=1e-8,
        verbose=0,
        random_state=None,
    ):
        self.patch_size = patch_size
        self.stride = stride
        self.activation = activation
        self.stage1 = stage1
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.perturbation_scale = perturbation_scale
        self.convotron_solver = convotron_solver
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state

    # The layout helpers of _ConvolutionalBase read these.
    input_shape = None
    patch_indices = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Run the three stages.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs: 1-D signals, symmetric about 0 with identity covariance.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (stage 1 samples rows in proportion to them).

        Returns
        -------
        self : DoubleConvotron
            The fitted estimator.
        """
        X, y, sample_weight = self._validate_training_data(X, y, sample_weight)
        random_state = check_random_state(self.random_state)
        patch_indices = self._patch_layout(X.shape[1])
        n_patches, r = patch_indices.shape
        s = r if self.stride is None else self.stride
        if s < r // 2 + 1:
            raise ValueError(
                f"stride={s} is below patch_size // 2 + 1 = {r // 2 + 1}: Double "
                "Convotron needs patches that overlap only their neighbours, each "
                "with an exclusive middle part."
            )
        slope = leaky_slope(self.activation)
        exclusive = np.arange(r - s, s) if s < r else np.arange(r)
        exclusive_patches = patch_indices[:, exclusive]
        if self.stage1 == "spectral":
            w_non, a = self._spectral_stage1(
                X, y, sample_weight, exclusive_patches, slope
            )
            stage1_updates = 0
        else:
            w_non, a = self._stage1(
                X, y, sample_weight, exclusive_patches, slope, random_state
            )
            stage1_updates = self.max_iter
        self.stage1_filter_, self.stage1_output_weights_ = w_non, a
        candidates = []
        for sign in (1.0, -1.0):
            convotron = Convotron(
                patch_indices=patch_indices,
                activation=LeakyReLU(slope),
                output_weights=sign * a,
                solver=self.convotron_solver,
                tol=self.tol,
                verbose=self.verbose,
                random_state=random_state,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AssumptionWarning)
                convotron.fit(X, y, sample_weight)
            loss = convotron.loss_curve_[-1] if convotron.loss_curve_ else np.inf
            candidates.append((loss, sign, convotron))
        losses = np.array([c[0] for c in candidates])
        _, sign, chosen = candidates[int(np.argmin(losses))]
        scale = np.linalg.norm(a)
        self.patch_indices_ = patch_indices
        self.n_patches_ = n_patches
        self.patch_shape_ = (r,)
        self.output_weights_ = sign * a / scale
        # f = sum_l a_l phi(w^T x_l): moving the scale of a into w (phi homogeneous)
        self.hidden_weights_ = chosen.hidden_weights_ * scale
        self.intercept_ = 0.0
        self.activation_ = LeakyReLU(slope)
        self.sign_ = int(sign)
        self.candidate_losses_ = losses
        self.n_iter_ = stage1_updates + chosen.n_iter_
        self.loss_curve_ = chosen.loss_curve_
        return self

    def _spectral_stage1(self, X, y, sample_weight, exclusive_patches, slope):
        """Balanced top singular pair of ``E[y x_{l,non}] = c w_non a^T``.

        By the key identity, on symmetric inputs with identity covariance only patch
        ``l`` itself correlates with its exclusive part: the matrix has rank one.
        """
        moment = 0.0
        scale = 1.0 / float(sample_weight.sum())
        step = chunk_rows(exclusive_patches.size)
        for start in range(0, X.shape[0], step):
            rows = slice(start, start + step)
            patches = np.take(X[rows], exclusive_patches, axis=1).astype(np.float64)
            weights = sample_weight[rows] * y[rows] * scale
            moment = moment + np.einsum("n,nld->dl", weights, patches)
        left, values, right = np.linalg.svd(moment, full_matrices=False)
        self.stage1_singular_values_ = values
        size = np.sqrt(values[0] / ((1 + slope) / 2))
        return size * left[:, 0], size * right[0]

    def _stage1(self, X, y, sample_weight, exclusive_patches, slope, random_state):
        """Noisy stochastic updates of (w_non, a) (Du and Goel, Algorithm 1)."""
        n_patches, length = exclusive_patches.shape
        w = 0.1 * random_state.standard_normal(length) / np.sqrt(length)
        a = 0.1 * random_state.standard_normal(n_patches) / np.sqrt(n_patches)
        gain = 2.0 / (1.0 + slope)
        eta = self.learning_rate
        probability = sample_weight / sample_weight.sum()
        order = random_state.choice(len(y), size=self.max_iter, p=probability)
        noise = random_state.standard_normal((self.max_iter, length + n_patches))
        noise *= self.perturbation_scale / np.linalg.norm(noise, axis=1, keepdims=True)
        step = chunk_rows(exclusive_patches.size)
        for start in range(0, self.max_iter, step):
            rows = order[start : start + step]
            patches = np.take(X[rows], exclusive_patches, axis=1).astype(np.float64)
            for i in range(len(rows)):
                P = patches[i]
                pre = P @ w
                error = gain * (np.where(pre > 0, pre, slope * pre) @ a - y[rows[i]])
                balance = 0.5 * (w @ w - a @ a)
                g = error * (a @ P) + balance * w
                h = error * pre - balance * a
                xi = noise[start + i]
                w = w - eta * (g + xi[:length])
                a = a - eta * (h + xi[length:])
        return w, a

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # One leaky-ReLU filter learnt by a three-stage rule (see Convotron).
        tags.regressor_tags.poor_score = True
        return tags
