"""The abstract base that owns ``fit``, and what every estimator shares with it.

:class:`BaseRecovery` runs the one fit sequence of every estimator:

1. validate ``X``, ``y`` and ``sample_weight`` and bring them to working units
   (:class:`Scaling`: an exact power-of-two rescaling of extreme inputs, targets
   centred and scaled), so that finite inputs of any magnitude are fitted;
2. draw the random state and split off validation weights (early stopping);
3. check the input assumption of the method (:mod:`._assumptions`);
4. ``_initialize`` and ``_optimize`` (the family's hooks);
5. ``_fitted_attributes`` (the family's hook, back in original units), which the
   base sets after removing those of a previous fit;
6. emit the warnings the fit collected, at most one of each kind.

Families fill in the hooks and declare their own parameters; helpers return
values and never set attributes or warn: they hand messages to the fit's
:class:`Report`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._assumptions import assumption_message, feature_statistics, input_problems
from ._engine import Largest, as_rows, is_dask, map_rows, persist_rows, reduce_rows
from ._network import Network, forward
from .activations import Activation, activation_names
from .exceptions import AssumptionWarning

# Inputs whose largest magnitude lies outside [2^-20, 2^20] are rescaled by a power
# of two (exactly) before fitting: fourth moments of such data stay within 2^100.
_SAFE_EXPONENT = 20
# Targets varying beyond this scale are refused: squared errors would overflow.
_LARGEST_TARGET = 2.0**500
# A fit whose training loss is below this fraction of the variance of y has fitted
# y to 1e-6 relative: it is not reported as unconverged.
NEGLIGIBLE_LOSS = 1e-12

N_JOBS_CONSTRAINT = [
    None,
    Interval(Integral, None, -1, closed="right"),
    Interval(Integral, 1, None, closed="left"),
]

ITERATIVE_CONSTRAINTS = {
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "warm_start": ["boolean"],
}


def activation_constraint(allowed=None):
    """``_parameter_constraints`` entry of an ``activation`` parameter.

    Every registered name passes: an activation the method cannot use is refused
    when it is resolved, by :func:`~skrecover.activations.get_activation`, with the
    reason.
    """
    return [StrOptions(activation_names(allowed)), Activation]


class Scaling(NamedTuple):
    """Working units: ``X / x_scale`` and ``(y - y_offset) / y_scale``.

    The offset is the weighted mean of ``y`` for models with a free output offset
    (else 0). ``weight_scale`` multiplies the sample weights (see
    :func:`_weight_scale`). Both scales are 1 unless the inputs (or the centred
    targets) are extreme: beyond ``2^20`` or below ``2^-20`` in magnitude, they are
    the power of two near that magnitude, so that the rescaling is exact.
    One-hidden-layer networks map back exactly: ``w -> w / x_scale``,
    ``v -> v y_scale``, ``c -> c y_scale + y_offset``.
    """

    x_scale: float
    y_scale: float
    y_offset: np.ndarray
    weight_scale: float = 1.0

    def to_original(self, params):
        """Network parameters fitted in working units, in original units."""
        return params._replace(
            hidden_weights=params.hidden_weights / self.x_scale,
            output_weights=params.output_weights * self.y_scale,
            intercept=params.intercept * self.y_scale + self.y_offset,
        )

    def to_working(self, params):
        """Network parameters in original units, in working units (warm starts)."""
        return params._replace(
            hidden_weights=params.hidden_weights * self.x_scale,
            output_weights=params.output_weights / self.y_scale,
            intercept=(params.intercept - self.y_offset) / self.y_scale,
        )


class FitData(NamedTuple):
    """Validated training data in working units.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Float32 or float64; the user's array unless it had to be rescaled.
    y : ndarray of shape (n_samples, n_outputs)
        Float64 targets in working units (for classifiers: 0/1 indicators).
    sample_weight : ndarray of shape (n_samples,)
        Non-negative float64 weights (divided by a power of two when extreme).
    scaling : Scaling
    classes : ndarray or None
        The class labels of a classifier.
    y_1d : bool
        Whether ``y`` was one-dimensional.
    """

    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray
    scaling: Scaling
    classes: np.ndarray | None
    y_1d: bool


class Report:
    """The warnings of one fit, emitted at its end, at most one of each kind."""

    def __init__(self):
        self.messages = {}

    def warn(self, category, message):
        """Queue ``message``; messages of one category are joined."""
        queued = self.messages.setdefault(category, [])
        if message not in queued:
            queued.append(message)

    def emit(self, stacklevel):
        for category, messages in self.messages.items():
            warnings.warn(" Also: ".join(messages), category, stacklevel=stacklevel)


def validation_split(X, sample_weight, fraction, purpose, random_state):
    """Training and validation weights without copying ``X``.

    About a ``fraction`` of the rows gets weight zero in the training weights and
    keeps its weight in the validation ones, so that both losses are computed in the
    same pass over the data. Which rows is a function of their values and of
    ``random_state`` (the fractional part of ``1000 g^T x`` for a random ``g``), so
    that a repeated row and a row of weight 2 go the same way: weights stay
    frequencies. ``purpose`` names the option in error messages.
    """
    direction = random_state.standard_normal(X.shape[1])
    position = map_rows(
        lambda rows: np.modf(1000.0 * np.abs(rows @ direction.astype(rows.dtype)))[0],
        X,
        width=2,
    )
    positive = sample_weight > 0
    validation = position < fraction
    if not (validation & positive).any():  # few distinct rows: the lowest position
        validation = position == position[positive].min()
    n_training = int(np.sum(~validation & (sample_weight > 0)))
    if n_training < 2 or not validation.any():
        raise ValueError(
            f"{purpose} with validation_fraction={fraction} leaves "
            f"{n_training} of the {len(sample_weight)} samples for training and "
            f"{int(validation.sum())} for validation: at least 2 and 1 are needed."
        )
    training_weight = np.where(validation, 0.0, sample_weight)
    validation_weight = np.where(validation, sample_weight, 0.0)
    if not (training_weight.sum() > 0 and validation_weight.sum() > 0):
        raise ValueError(
            f"{purpose} needs positive sample weights in both the training and the "
            "validation part."
        )
    return training_weight, validation_weight


def weighted_mean(y, sample_weight):
    """``sum_i s_i y_i / sum_i s_i``, of shape (n_outputs,)."""
    y = as_rows(y).reshape(len(y), -1)
    total = float(np.sum(sample_weight))
    width = 2 * y.shape[1]
    return reduce_rows(lambda rows, s: s @ rows, y, sample_weight, width=width) / total


def least_squares_pass(features, X, Y, sample_weight, *, fit_intercept, width):
    """Output weights ``B`` (and intercept ``c``) minimising the weighted ``||Y -
    F B - c||^2`` for the features ``F = features(rows)`` of a block of rows, from
    the normal equations summed in one pass; and that minimum (half the weighted
    mean). ``width``: floats of temporaries per row."""

    def block(x, y, weights):
        F = features(x)
        if fit_intercept:
            F = np.column_stack([F, np.ones(len(F))])
        weighted = weights[:, np.newaxis] * F
        return weighted.T @ F, weighted.T @ y, weights @ np.square(y).sum(1)

    gram, cross, squares = reduce_rows(block, X, Y, sample_weight, width=width)
    solution = linalg.lstsq(gram, cross, cond=1e-12)[0]
    # ||y - F B||^2 = ||y||^2 - 2 <B, F^T y> + <B, F^T F B>, at the solution.
    residual = (
        squares - 2 * np.sum(solution * cross) + np.sum(solution * (gram @ solution))
    )
    loss = max(float(residual), 0.0) / (2 * float(sample_weight.sum()))
    solution = solution.T
    if fit_intercept:
        return solution[:, :-1], solution[:, -1], loss
    return solution, np.zeros(len(solution)), loss


def information_prefers(loss, larger_loss, n, more_parameters, kind="squared"):
    """Whether a model with ``more_parameters`` more parameters and the training
    loss ``larger_loss`` (the larger model's) beats one with ``loss``, by the
    Bayesian information criterion over ``n`` samples: ``n log L + p log n`` for
    the squared loss ``L``, ``2 n L + p log n`` for the cross-entropy (minus the
    log-likelihood per sample)."""
    if not larger_loss > 0:
        return True
    if kind == "squared":
        gain = n * np.log(loss / larger_loss)
    else:
        gain = 2 * n * (loss - larger_loss)
    return gain > more_parameters * np.log(n)


def weighted_variance(y, sample_weight):
    """``sum_i s_i ||y_i - mean||^2 / sum_i s_i`` (summed over outputs)."""
    y = as_rows(y).reshape(len(y), -1)
    total = float(np.sum(sample_weight))
    width = 2 * y.shape[1]
    mean = weighted_mean(y, sample_weight)

    def spread(rows, s):
        return s @ ((rows - mean) ** 2).sum(axis=1)

    return float(reduce_rows(spread, y, sample_weight, width=width) / total)


def _weight_scale(sample_weight):
    """1, or the factor that brings weights summing to less than their effective
    number of samples, Kish's ``(sum w)^2 / sum w^2`` (normalised or balanced
    weights, say), up to it. Weights count as frequencies (an integer weight
    repeats its row, and their sum is the number of samples the moments' noise
    levels use), but never as fewer samples than that: rescaling weights below it
    changes nothing."""
    total = float(sample_weight.sum())
    factor = total / float((sample_weight * sample_weight).sum())
    return factor if factor > 1.0 else 1.0


def _power_of_two(value):
    """The power of two nearest ``value`` from below (1 for 0)."""
    return float(np.ldexp(1.0, int(np.frexp(value)[1]) - 1)) if value > 0 else 1.0


def _safe_scale(largest):
    """1, or the power of two near ``largest`` when it is extreme."""
    if largest > 0 and abs(int(np.frexp(largest)[1])) > _SAFE_EXPONENT:
        return _power_of_two(largest)
    return 1.0


def _largest_magnitude(array):
    """``max |a|`` (NaN when an entry is NaN) in one pass, without an ``|a|``
    temporary: each block is read from memory once for both its maximum and its
    minimum (blocks of 2 MB in float64, a quarter of the engine's, stay in cache
    between the two)."""
    if is_dask(array):
        from ._dask import largest_magnitude

        return largest_magnitude(array)
    if not array.size:
        return 0.0
    rows = array.reshape(len(array), -1)

    def largest(block):
        return Largest(max(block.max(), -block.min()))

    return float(reduce_rows(largest, rows, width=4 * rows.shape[1]).value)


def _offset_and_deviation(Y, weights, centre):
    """The offset of each column of ``Y`` (its weighted mean with ``centre``, else
    0) and ``max |Y - offset|``, without a temporary. A constant column is its own
    offset: its working targets are then exactly zero, not the rounding error of
    a weighted mean."""
    offset = np.asarray(weights @ Y) if centre else np.zeros(Y.shape[1])
    if is_dask(Y) or not Y.size:
        return offset, _largest_magnitude(Y - offset)
    high, low = Y.max(axis=0), Y.min(axis=0)
    if centre:
        offset = np.where(high == low, high, offset)
    return offset, float(np.max(np.maximum(high - offset, offset - low)))


def _encode_classes(y):
    """The sorted class labels of ``y`` and each label's index among them."""
    if is_dask(y):
        from ._dask import encode_classes

        classes, encoded = encode_classes(y)
    else:
        classes, encoded = np.unique(y, return_inverse=True)
    check_classification_targets(classes)
    return classes, encoded


def class_labels(classes, codes):
    """``classes[codes]``; lazy when ``codes`` is a dask array."""
    if is_dask(codes):
        from ._dask import take_labels

        return take_labels(classes, codes)
    return classes[codes]


def label_repr(label):
    """A label as the user gave it (``0``, not ``np.int64(0)``)."""
    return repr(label.item() if isinstance(label, np.generic) else label)


class BaseRecovery(BaseEstimator, metaclass=ABCMeta):
    """The fit sequence of every skrecover estimator (see the module docstring).

    Class attributes of the families: ``_input_assumption`` ("gaussian",
    "symmetric", "isotropic" or None), ``_dtypes`` (accepted float dtypes),
    ``_fits_dask`` (whether a dask array is fitted where its chunks are; else it
    is gathered into a numpy array, as scikit-learn's validation does).
    """

    _parameter_constraints: dict = {
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _input_assumption = None
    _dtypes = (np.float64, np.float32)
    _fits_dask = False

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs. A dask array (chunked along the rows) is fitted where
            its chunks are: every pass over the data runs on the workers (see
            :doc:`/scaling`).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for classifiers); a dask array with ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as repeating the sample.
            Weights summing to less than their effective number of samples,
            ``sum(w)**2 / sum(w**2)`` (normalised weights, say), are scaled up to
            it, so that rescaling them changes nothing.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        """The fit sequence (:meth:`fit` without its parameter validation)."""
        state = self._fit_state(X, y, sample_weight, reset=True)
        held_out = self._validation_fraction()
        if held_out is not None:
            state.training_weight, state.validation_weight = persist_rows(
                *validation_split(
                    state.data.X,
                    state.data.sample_weight,
                    *held_out,
                    state.random_state,
                )
            )
        state.statistics = self._check_inputs(state)
        start = self._initialize(state)
        model = self._optimize(state, start)
        return self._finish(state, model, stacklevel=6)

    def _partial_fit(self, X, y, sample_weight):
        """The incremental counterpart of :meth:`_fit`: ``_partial_update`` on a
        chunk, from the stream's state, in the units of the stream's first chunk.
        Called by a ``partial_fit`` decorated with ``_fit_context``."""
        first = not self._stream_started()
        scaling = None if first else self._scaling_
        state = self._fit_state(X, y, sample_weight, reset=first, scaling=scaling)
        state.first = first
        state.statistics = self._check_inputs(state)
        model = self._partial_update(state)
        return self._finish(state, model, stacklevel=6)

    def _fit_state(self, X, y, sample_weight, *, reset, scaling=None):
        data = self._fit_data(X, y, sample_weight, reset=reset, scaling=scaling)
        return Bunch(
            data=data,
            training_weight=data.sample_weight,
            validation_weight=None,
            random_state=check_random_state(self.random_state),
            report=Report(),
        )

    def _finish(self, state, model, stacklevel):
        self._check_training_fit(state, model)
        attributes = self._fitted_attributes(state, model)
        attributes["_scaling_"] = state.data.scaling
        attributes["_y_1d_"] = state.data.y_1d
        self._set_fitted(attributes)
        state.report.emit(stacklevel=stacklevel)
        return self

    def _check_training_fit(self, state, model):
        """Warn when a regressor fits its training data worse than their mean."""
        loss = model.get("training_loss")
        if is_classifier(self) or loss is None:
            return
        variance = weighted_variance(state.data.y, state.training_weight)
        if not variance > 0:
            return
        r2 = 1 - 2 * loss / variance
        if r2 < 0:
            state.report.warn(
                AssumptionWarning,
                f"{type(self).__name__} ends with a training R^2 of {r2:.3g}: it "
                "fits the training data worse than their mean does, so the data "
                "are far from the model it recovers. Check its assumptions, and "
                "compare with a baseline (Ridge, gradient boosting).",
            )

    # -- validation and working units
    def _fit_data(self, X, y, sample_weight, *, reset, scaling=None):
        classifier = is_classifier(self)
        if is_dask(X) and self._fits_dask:
            X, y, sample_weight = self._dask_data(X, y, sample_weight, reset=reset)
            largest_input = None
        else:
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=False,
                dtype=list(self._dtypes),
                y_numeric=not classifier,
                multi_output=self.__sklearn_tags__().target_tags.multi_output,
                # A fit needs two rows; a later chunk of a stream may be one.
                ensure_min_samples=2 if reset else 1,
                reset=reset,
                # Checked below in the pass that finds the scale of X.
                ensure_all_finite=False,
            )
            largest_input = _largest_magnitude(X)
            if not np.isfinite(largest_input):
                assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        y_1d = np.ndim(y) == 1
        largest_weight = float(sample_weight.max())
        if not largest_weight > 0:
            raise ValueError("sample_weight must have a positive sum.")
        # Weights count as frequencies (the moments' noise levels use their sum):
        # they are rescaled only when extreme.
        sample_weight = sample_weight / _safe_scale(largest_weight)
        classes = None
        if classifier:
            classes, encoded = _encode_classes(y)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes; got "
                    f"1 class ({label_repr(classes[0])})."
                )
            Y = self._class_targets(encoded, len(classes))
        else:
            # The caller's array when it is float64 already (only read from here).
            Y = y.astype(np.float64, copy=False).reshape(len(y), -1)
        if scaling is None:
            scaling = self._choose_scaling(
                X, Y, sample_weight, classifier, largest_input
            )._replace(weight_scale=_weight_scale(sample_weight))
        elif Y.shape[1] != len(scaling.y_offset):
            raise ValueError(
                f"y has {Y.shape[1]} outputs but {type(self).__name__} was fitted "
                f"with {len(scaling.y_offset)}."
            )
        if scaling.weight_scale != 1.0:
            sample_weight = sample_weight * scaling.weight_scale
        if scaling.x_scale != 1.0:
            X = np.ldexp(X, -int(np.frexp(scaling.x_scale)[1] - 1))
        if np.any(scaling.y_offset) or scaling.y_scale != 1.0:
            Y = (Y - scaling.y_offset) / scaling.y_scale
        elif isinstance(Y, np.ndarray) and np.shares_memory(Y, y):
            # The caller's targets, already in working units: read, never written.
            Y = Y.view()
            Y.flags.writeable = False
        Y, sample_weight = persist_rows(Y, sample_weight)
        return FitData(X, Y, sample_weight, scaling, classes, y_1d)

    def _dask_data(self, X, y, sample_weight, *, reset):
        """Dask ``X``, ``y`` and weights validated lazily (one pass for the checks);
        rows stay on the workers, chunked alike."""
        from ._dask import (
            check_finite,
            validate_inputs,
            validate_targets,
            validate_weights,
        )

        X = validate_inputs(self, X, reset=reset, dtypes=self._dtypes)
        y = validate_targets(y, X, numeric=not is_classifier(self))
        if y.ndim == 2 and not self.__sklearn_tags__().target_tags.multi_output:
            raise ValueError(f"{type(self).__name__} takes a 1D y; got {y.shape}.")
        sample_weight = validate_weights(sample_weight, X)
        check_finite(X, y, sample_weight)
        return X, y, sample_weight

    def _choose_scaling(self, X, Y, sample_weight, classifier, largest_input=None):
        if largest_input is None:
            largest_input = _largest_magnitude(X)
        x_scale = _safe_scale(largest_input)
        if classifier:
            return Scaling(x_scale, 1.0, np.zeros(Y.shape[1]))
        weights = sample_weight / float(sample_weight.sum())
        offset, largest = _offset_and_deviation(Y, weights, self._centres_targets())
        if largest > _LARGEST_TARGET:
            raise ValueError(
                f"y varies on a scale of {largest:.3g}, beyond {_LARGEST_TARGET:.3g}: "
                "squared errors on that scale overflow float64, so no loss could be "
                "reported. Divide y by a constant first (e.g. with sklearn's "
                "TransformedTargetRegressor)."
            )
        return Scaling(x_scale, _safe_scale(largest), offset)

    def _class_targets(self, encoded, n_classes):
        """The 0/1 targets of a classifier: one column per class."""
        return (encoded[:, np.newaxis] == np.arange(n_classes)).astype(np.float64)

    def _check_inputs(self, state):
        """The input-assumption check: statistics, and the warning it calls for
        (none on a single row, a chunk of a stream, which has no spread)."""
        if self._input_assumption is None or len(state.data.y) < 2:
            return None
        data = state.data
        statistics = feature_statistics(
            data.X,
            data.sample_weight,
            random_state=state.random_state,
            correlation=self._input_assumption in ("gaussian", "isotropic"),
        )
        problems = input_problems(
            statistics, self._input_assumption, whiten=bool(self._whiten_option())
        )
        state.input_problems = problems
        action = self._assumption_action()
        if problems and action != "off":
            message = assumption_message(
                type(self).__name__,
                self._input_assumption,
                problems,
                whiten=self._whiten_option(),
                scaler=self._scaler_advice(),
            )
            if action == "raise":
                raise ValueError(message)
            state.report.warn(AssumptionWarning, message)
        return statistics

    def _set_fitted(self, attributes):
        """Set the attributes of this fit, after removing every fitted attribute of
        a previous one (names ending in an underscore) that it does not set."""
        kept = {"n_features_in_", "feature_names_in_"}
        for name in list(vars(self)):
            if name.endswith("_") and name not in kept and name not in attributes:
                delattr(self, name)
        for name, value in attributes.items():
            setattr(self, name, value)

    # -- hooks with defaults
    def _validation_fraction(self):
        """``(fraction, purpose)`` of the rows held out for validation, or None."""
        return None

    def _centres_targets(self):
        """Whether ``y`` may be centred (the model has a free output offset)."""
        return False

    def _whiten_option(self):
        """None without a ``whiten`` option, else its value (for the warning)."""
        return None

    def _assumption_action(self):
        """``"warn"``, ``"raise"`` or ``"off"`` when the inputs break the assumption."""
        return "warn"

    def _scaler_advice(self):
        """The preprocessing the assumption warning recommends."""
        return None

    def _stream_started(self):
        return hasattr(self, "_scaling_")

    @abstractmethod
    def _initialize(self, state):
        """The start of the optimisation (working units)."""

    @abstractmethod
    def _optimize(self, state, start):
        """The fitted model (working units) from the start."""

    @abstractmethod
    def _fitted_attributes(self, state, model):
        """The fitted attributes (original units) as a dict."""

    def _partial_update(self, state):
        raise NotImplementedError

    # -- prediction
    def _validated(self, X):
        """``X`` for a fitted model's prediction, checked against the fit."""
        check_is_fitted(self)
        if is_dask(X) and self._fits_dask:
            from ._dask import validate_inputs

            return validate_inputs(self, X, reset=False, dtypes=self._dtypes)
        return validate_data(self, X, reset=False, dtype=list(self._dtypes))

    def _output(self, X):
        """Validated ``X`` through the fitted model, shape (n_samples, n_outputs)."""
        return self._forward(self._validated(X))

    @abstractmethod
    def _forward(self, X):
        """The model's outputs on validated inputs."""

    def predict(self, X):
        """Predict with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions (float64), one-dimensional when the model was fitted on a
            one-dimensional ``y``.
        """
        output = self._output(X)
        return output[:, 0] if self._y_1d_ else output


class IterativeMixin:
    """What the iterative estimators share: ``max_iter``, ``tol``,
    ``n_iter_no_change``, ``early_stopping``, ``validation_fraction`` and
    ``warm_start``, which the classes using it declare (``ITERATIVE_CONSTRAINTS``)."""

    def _validation_fraction(self):
        if self.early_stopping:
            return self.validation_fraction, "early_stopping"
        return None

    def _warn_unconverged(self, state, result, advice):
        """The ConvergenceWarning, naming the parameters the user can change."""
        last = result.loss_curve[-1] if result.loss_curve else float("nan")
        state.report.warn(
            ConvergenceWarning,
            f"{type(self).__name__} stopped after max_iter={self.max_iter} "
            f"iterations without meeting tol={self.tol} (last loss {last:.4g}). "
            f"Increase max_iter or tol. {advice}",
        )


class BaseNetworkRecovery(BaseRecovery):
    """Estimators whose fitted model is a one-hidden-layer :class:`Network`."""

    # Whether the output weights are one per patch (Convotron) or one per unit.
    _output_per_patch = False
    _fits_dask = True

    @property
    def network_(self):
        """The fitted network (:class:`~skrecover.Network`): the one accessor
        through which metrics and displays read the fitted weights."""
        check_is_fitted(self)
        return Network(
            self.hidden_weights_,
            self.output_weights_,
            self.activation_,
            intercept=getattr(self, "intercept_", 0.0),
            hidden_biases=getattr(self, "hidden_biases_", None),
            patch_indices=getattr(self, "patch_indices_", None),
            output_per_patch=self._output_per_patch,
        )

    def _forward(self, X):
        network = self.network_
        return forward(
            X, network.params, network.activation, patch_indices=network.patch_indices
        )
