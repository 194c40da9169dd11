"""Recovery experiments: sweeps of an estimator over fresh teacher networks.

The experiments of the recovery papers share one harness: draw a teacher network
and data from it, fit, measure how far the fitted weights are from the true ones,
and repeat over trials and a grid of settings (sample size, dimension, condition
number, noise...). :func:`recovery_sweep` runs it with :mod:`joblib`, so a long
sweep runs on all cores, or on a dask cluster inside
``joblib.parallel_backend("dask")``, with results that do not depend on where
the trials ran.
"""

# SPDX-License-Identifier: BSD-3-Clause

import inspect
import time
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import ParameterGrid
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import check_random_state
from sklearn.utils._optional_dependencies import check_pandas_support
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from ._network import Network
from .datasets import (
    make_teacher_classification,
    make_teacher_convolution,
    make_teacher_regression,
    make_teacher_two_layer,
)
from .metrics import as_network, population_loss, recovery_error, recovery_success

__all__ = ["BestOfRestarts", "recovery_sweep"]

_TEACHERS = {
    "regression": make_teacher_regression,
    "classification": make_teacher_classification,
    "convolution": make_teacher_convolution,
    "two_layer": make_teacher_two_layer,
}

# Columns after the grid keys, in this order.
_RESULT_COLUMNS = [
    "trial",
    "teacher_seed",
    "estimator_seed",
    "recovery_error",
    "success",
    "init_error",
    "fit_time",
    "n_iter",
    "train_score",
    "train_loss",
    "population_loss",
]


def recovery_sweep(
    estimator,
    *,
    grid,
    n_trials=10,
    teacher="regression",
    threshold=0.01,
    random_state=None,
    n_jobs=None,
    verbose=0,
    **teacher_params,
):
    """Fit an estimator on fresh teacher data over a grid of settings and trials.

    For every point of ``grid`` and every trial, a teacher network and its data are
    drawn anew, a :func:`~sklearn.base.clone` of ``estimator`` is fitted on them,
    and the fitted weights are compared to the teacher's with
    :func:`~skrecover.metrics.recovery_error`. The trials run through
    :class:`joblib.Parallel`: with ``n_jobs`` on local cores, or on a dask cluster
    inside ``with joblib.parallel_backend("dask"):`` (with a
    ``distributed.Client`` connected).

    Parameters
    ----------
    estimator : estimator object
        An estimator whose fitted model is a one-hidden-layer network: a
        skrecover estimator with a ``network_``, or an
        :class:`~sklearn.neural_network.MLPRegressor` or
        :class:`~sklearn.neural_network.MLPClassifier` with one hidden layer (see
        :func:`~skrecover.metrics.as_network`). It is not modified.
    grid : dict of str to list, or list of such dicts
        The settings, expanded by :class:`~sklearn.model_selection.ParameterGrid`.
        A key names a parameter of the teacher generator (e.g. ``n_samples``,
        ``n_features``, ``n_hidden``, ``condition_number``, ``noise``), of the
        estimator (``estimator.get_params()``), or of both (e.g. ``n_hidden``,
        ``activation``), and its value goes to every side that has it. The
        prefixes ``teacher__`` and ``estimator__`` send a value to one side only
        (``teacher__n_hidden``, ``estimator__max_iter``). ``random_state`` is set
        by the sweep: use ``estimator__random_state`` to fix the estimator's.
    n_trials : int, default=10
        Trials per grid point, each on a new teacher and new data.
    teacher : {"regression", "classification", "convolution", "two_layer"} or \
            callable, default="regression"
        The teacher generator: :func:`~skrecover.datasets.make_teacher_regression`,
        :func:`~skrecover.datasets.make_teacher_classification`,
        :func:`~skrecover.datasets.make_teacher_convolution`,
        :func:`~skrecover.datasets.make_teacher_two_layer`, or a callable with
        their contract: it takes keyword parameters and ``random_state`` and
        returns ``X, y, teacher_network``. A callable with ``**kwargs`` receives
        every key that names no estimator parameter.
    threshold : float, default=0.01
        Recovery error up to which a trial counts as a success (see
        :func:`~skrecover.metrics.recovery_success`).
    random_state : int, RandomState instance or None, default=None
        Draws the seeds of all trials up front, so that the results do not depend
        on ``n_jobs`` or on the backend. Each trial gets two seeds: one for the
        teacher and one for the estimator, which is given to the clone's
        ``random_state`` when that parameter exists and is None (an estimator
        whose ``random_state`` is set keeps it).
    n_jobs : int, default=None
        Trials run in parallel. ``None`` means 1 unless in a
        ``joblib.parallel_backend`` context; -1 means all processors.
    verbose : int, default=0
        Verbosity of :class:`joblib.Parallel` (through scikit-learn's
        ``sklearn.utils.parallel.Parallel``, which carries the caller's
        warning filters and configuration to the workers): from 1 on, it reports
        how many trials are done and the time elapsed and left, useful for long
        sweeps (above 10, every trial).
    **teacher_params : dict
        Teacher-generator parameters fixed at every grid point (e.g.
        ``n_features=5``); they go to the teacher only (set the estimator's own
        parameters on ``estimator``).

    Returns
    -------
    results : pandas.DataFrame
        One row per grid point and trial, points in the order of
        :class:`~sklearn.model_selection.ParameterGrid`, with columns:

        - every grid key, with its value (object columns hold non-scalar values
          such as an ``input_covariance`` array; NaN where a sub-grid of a list
          of grids lacks the key);
        - ``trial``: the trial's index within its point;
        - ``teacher_seed`` and ``estimator_seed``: the seeds of the trial (the
          latter used only where the estimator's ``random_state`` was None);
        - ``recovery_error``: :func:`~skrecover.metrics.recovery_error`;
        - ``success``: :func:`~skrecover.metrics.recovery_success` with
          ``threshold``;
        - ``init_error``: the recovery error of the estimator's initialisation,
          for estimators that keep it (``init_hidden_weights_`` and
          ``init_output_weights_``), NaN otherwise;
        - ``fit_time``: seconds spent in ``fit``;
        - ``n_iter``: the fitted ``n_iter_`` (float), NaN without one;
        - ``train_score``: ``score`` on the training data;
        - ``train_loss`` and ``population_loss``, for the regression teacher
          (Gaussian inputs; NaN for the others): half the mean squared error on
          the training data, and its expectation on fresh data from the teacher
          (:func:`~skrecover.metrics.population_loss`, computed exactly): their
          gap is the sampling error of the fit, the excess of the population
          loss over half the noise variance what the fit got wrong (the
          computation takes a fraction of a second for the ReLU family and up to
          about a second for tanh and sigmoid networks of 5 units; it grows as
          the square of the units).

    Raises
    ------
    ValueError
        For a grid key or teacher parameter that names no parameter of the
        teacher generator nor of the estimator.
    TypeError
        For an estimator whose fitted model is not a one-hidden-layer network.

    See Also
    --------
    skrecover.inspection.PhaseDiagramDisplay : Success rate over two grid keys.
    skrecover.metrics.recovery_error : The error reported for each trial.

    Notes
    -----
    Exceptions raised by a fit stop the sweep, and warnings raised by fits are
    not caught (with process-based parallelism they are printed by the workers).

    Examples
    --------
    >>> from skrecover import TensorInitGD
    >>> from skrecover.experiments import recovery_sweep
    >>> results = recovery_sweep(
    ...     TensorInitGD(activation="squared_relu"), grid={"n_samples": [200, 2000]},
    ...     n_trials=2, n_features=5, n_hidden=2, random_state=0)
    >>> results[["n_samples", "trial"]]
       n_samples  trial
    0        200      0
    1        200      1
    2       2000      0
    3       2000      1
    >>> large = results[results["n_samples"] == 2000]  # gradient descent helps:
    >>> bool(large["success"].all()), bool(all(large.init_error > large.recovery_error))
    (True, True)
    """
    pd = check_pandas_support("recovery_sweep")
    _check_sweep_parameters(n_trials, threshold)
    make_teacher = _teacher_generator(teacher)
    teacher_names, accepts_any = _teacher_parameter_names(make_teacher)
    estimator_names = set(estimator.get_params(deep=True))
    fixed = {
        key: _route_teacher_parameter(key, teacher_names, accepts_any, make_teacher)
        for key in teacher_params
    }
    points = list(ParameterGrid(grid))
    settings = []
    for point in points:
        teacher_point = {fixed[key]: value for key, value in teacher_params.items()}
        estimator_point = {}
        for key, value in point.items():
            to_teacher, to_estimator = _route_grid_key(
                key,
                teacher_names,
                accepts_any,
                estimator_names,
                make_teacher,
                estimator,
            )
            if to_teacher is not None:
                teacher_point[to_teacher] = value
            if to_estimator is not None:
                estimator_point[to_estimator] = value
        _check_network_estimator(clone(estimator).set_params(**estimator_point))
        settings.append((teacher_point, estimator_point))

    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=(len(points), n_trials, 2))
    outcomes = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_run_trial)(
            estimator,
            make_teacher,
            teacher_point,
            estimator_point,
            int(seeds[p, trial, 0]),
            int(seeds[p, trial, 1]),
            threshold,
        )
        for p, (teacher_point, estimator_point) in enumerate(settings)
        for trial in range(n_trials)
    )
    return _results_frame(pd, grid, points, n_trials, seeds, outcomes)


def _check_sweep_parameters(n_trials, threshold):
    if not isinstance(n_trials, Integral) or isinstance(n_trials, bool):
        raise TypeError(f"n_trials must be an int, got {n_trials!r}.")
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
    if not isinstance(threshold, Real) or not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold}.")


def _teacher_generator(teacher):
    """The generator function of a teacher name, or the callable itself."""
    if callable(teacher):
        return teacher
    if isinstance(teacher, str) and teacher in _TEACHERS:
        return _TEACHERS[teacher]
    raise ValueError(
        f"teacher must be one of {sorted(_TEACHERS)} or a callable returning "
        f"X, y, teacher_network; got {teacher!r}."
    )


def _teacher_parameter_names(make_teacher):
    """The keyword parameters of a generator other than ``random_state``, and
    whether it takes any keyword (``**kwargs``)."""
    parameters = inspect.signature(make_teacher).parameters.values()
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    names = {
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    if "random_state" not in names and not accepts_any:
        raise ValueError(
            f"The teacher generator {_name(make_teacher)} has no random_state "
            "parameter: recovery_sweep seeds every trial through it."
        )
    return names - {"random_state"}, accepts_any


def _route_teacher_parameter(key, teacher_names, accepts_any, make_teacher):
    """The teacher parameter a fixed ``**teacher_params`` entry sets."""
    if key == "random_state":
        raise ValueError(
            "random_state is set by recovery_sweep for every trial: pass "
            "random_state=... to recovery_sweep to seed the sweep."
        )
    if key in teacher_names or accepts_any:
        return key
    raise ValueError(
        f"Unknown teacher parameter {key!r}: the teacher generator "
        f"{_name(make_teacher)} accepts {sorted(teacher_names)}."
    )


def _route_grid_key(
    key, teacher_names, accepts_any, estimator_names, make_teacher, estimator
):
    """``(teacher parameter or None, estimator parameter or None)`` of a grid key."""
    prefix, separator, name = key.partition("__")
    if separator and prefix == "teacher":
        return _route_teacher_parameter(
            name, teacher_names, accepts_any, make_teacher
        ), None
    if separator and prefix == "estimator":
        if name not in estimator_names:
            raise ValueError(
                f"Unknown grid key {key!r}: {type(estimator).__name__} has no "
                f"parameter {name!r}; it accepts {sorted(estimator_names)}."
            )
        return None, name
    if key == "random_state":
        raise ValueError(
            "The grid key 'random_state' is ambiguous: the sweep seeds the teachers "
            "itself; use 'estimator__random_state' to set the estimator's."
        )
    to_teacher = key in teacher_names
    to_estimator = key in estimator_names
    if not to_teacher and not to_estimator and accepts_any:
        to_teacher = True
    if not to_teacher and not to_estimator:
        raise ValueError(
            f"Unknown grid key {key!r}: it names no parameter of the teacher "
            f"generator {_name(make_teacher)} ({sorted(teacher_names)}) nor of "
            f"{type(estimator).__name__} ({sorted(estimator_names)}). Prefix a key "
            "with 'teacher__' or 'estimator__' to send it to one side only."
        )
    return (key if to_teacher else None), (key if to_estimator else None)


def _check_network_estimator(estimator):
    """Raise a TypeError, before any fit, for an estimator whose fitted model
    :func:`~skrecover.metrics.as_network` cannot read."""
    name = type(estimator).__name__
    if isinstance(estimator, MLPRegressor | MLPClassifier):
        n_layers = len(np.atleast_1d(estimator.hidden_layer_sizes))
        if n_layers != 1:
            raise TypeError(
                f"{name} with {n_layers} hidden layers cannot be compared to a "
                "teacher: use one hidden layer, e.g. hidden_layer_sizes=(k,)."
            )
        return
    if not hasattr(type(estimator), "network_"):
        raise TypeError(
            f"{name} cannot be compared to a teacher network: recovery_sweep needs "
            "an estimator whose fitted model is a one-hidden-layer network (a "
            "skrecover estimator with a network_, or an MLPRegressor or "
            "MLPClassifier with one hidden layer)."
        )


def _run_trial(
    estimator,
    make_teacher,
    teacher_params,
    estimator_params,
    teacher_seed,
    estimator_seed,
    threshold,
):
    """Draw a teacher and its data, fit a clone of the estimator, measure it."""
    X, y, teacher = make_teacher(**teacher_params, random_state=teacher_seed)
    model = clone(estimator).set_params(**estimator_params)
    params = model.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        model.set_params(random_state=estimator_seed)
    start = time.perf_counter()
    model.fit(X, y)
    fit_time = time.perf_counter() - start
    initial = _initial_network(model)
    n_iter = getattr(model, "n_iter_", None)
    return {
        "recovery_error": float(recovery_error(teacher, model)),
        "success": bool(recovery_success(teacher, model, threshold=threshold)),
        "init_error": np.nan
        if initial is None
        else float(recovery_error(teacher, initial)),
        "fit_time": fit_time,
        "n_iter": np.nan if n_iter is None else float(np.max(n_iter)),
        "train_score": float(model.score(X, y)),
        **_losses(make_teacher, teacher, model, X, y),
    }


def _losses(make_teacher, teacher, model, X, y):
    """The training loss and the population loss (:func:`~skrecover.metrics.
    population_loss`) of a fit of Gaussian-input regression data; NaN for
    other teachers."""
    if make_teacher is not make_teacher_regression:
        return {"train_loss": np.nan, "population_loss": np.nan}
    residual = np.asarray(as_network(model).predict(X)) - y
    return {
        "train_loss": float(np.mean(residual**2) / 2),
        "population_loss": population_loss(teacher, model),
    }


def _initial_network(model):
    """The network of a fitted estimator's initialisation, or None when the
    estimator does not keep it."""
    if not (
        hasattr(model, "init_hidden_weights_")
        and hasattr(model, "init_output_weights_")
    ):
        return None
    fitted = as_network(model)
    return Network(
        model.init_hidden_weights_,
        model.init_output_weights_,
        fitted.activation,
        hidden_biases=getattr(model, "init_hidden_biases_", None),
        patch_indices=fitted.patch_indices,
        output_per_patch=fitted.output_per_patch,
    )


def _results_frame(pd, grid, points, n_trials, seeds, outcomes):
    """The DataFrame of the sweep: grid columns, then :data:`_RESULT_COLUMNS`."""
    keys = _grid_keys(grid)
    columns = {
        key: _grid_column(
            pd, [point.get(key, np.nan) for point in points for _ in range(n_trials)]
        )
        for key in keys
    }
    columns["trial"] = np.tile(np.arange(n_trials), len(points))
    columns["teacher_seed"] = seeds[:, :, 0].ravel().astype(np.int64)
    columns["estimator_seed"] = seeds[:, :, 1].ravel().astype(np.int64)
    for name in _RESULT_COLUMNS[3:]:
        dtype = bool if name == "success" else float
        columns[name] = np.array([outcome[name] for outcome in outcomes], dtype=dtype)
    return pd.DataFrame(columns)


def _grid_keys(grid):
    """The keys of a grid (or list of grids), in order of first appearance."""
    grids = [grid] if isinstance(grid, Mapping) else grid
    return list(dict.fromkeys(key for sub_grid in grids for key in sub_grid))


def _grid_column(pd, values):
    """A column of grid values: pandas' dtype for plain scalars, objects (kept
    as given) when a value is None or not a scalar, such as an array."""
    if all(value is not None and np.isscalar(value) for value in values):
        return pd.Series(values)
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return pd.Series(column, dtype=object)


def _name(function):
    return getattr(function, "__name__", repr(function))


class BestOfRestarts(RegressorMixin, BaseEstimator):
    """The fit with the lowest training loss among ``n_restarts`` random seeds.

    The baseline a practitioner runs when one random start of a network gets
    stuck: ``n_restarts`` clones of ``estimator``, each with its own
    ``random_state``, keeping the one with the lowest training mean squared
    error. Its ``network_`` is the kept model's network, so that it runs in
    :func:`recovery_sweep` beside the recovery estimators.

    Parameters
    ----------
    estimator : regressor with a ``random_state`` parameter
        Fitted ``n_restarts`` times, each clone with its own seed; a
        one-hidden-layer network (or an ``MLPRegressor`` with one hidden layer)
        for ``network_``.
    n_restarts : int, default=5
        Number of random starts.
    random_state : int, RandomState instance or None, default=None
        Draws the seeds of the restarts.

    Attributes
    ----------
    best_estimator_ : estimator
        The restart with the lowest training loss.
    training_losses_ : ndarray of shape (n_restarts,)
        Training mean squared error of every restart.

    Examples
    --------
    >>> from sklearn.neural_network import MLPRegressor
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.experiments import BestOfRestarts
    >>> X, y, teacher = make_teacher_regression(
    ...     n_samples=500, n_features=4, n_hidden=2, random_state=0
    ... )
    >>> mlp = MLPRegressor(hidden_layer_sizes=(2,), solver="lbfgs", max_iter=50)
    >>> model = BestOfRestarts(mlp, n_restarts=3, random_state=0).fit(X, y)
    >>> model.training_losses_.shape
    (3,)
    >>> model.network_.hidden_weights.shape
    (2, 4)
    """

    def __init__(self, estimator, n_restarts=5, random_state=None):
        self.estimator = estimator
        self.n_restarts = n_restarts
        self.random_state = random_state

    def fit(self, X, y):
        """Fit every restart and keep the one with the lowest training loss."""
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_restarts)
        models = [clone(self.estimator).set_params(random_state=s) for s in seeds]
        self.training_losses_ = np.array(
            [mean_squared_error(y, model.fit(X, y).predict(X)) for model in models]
        )
        self.best_estimator_ = models[int(np.argmin(self.training_losses_))]
        return self

    @property
    def network_(self):
        """The kept model's one-hidden-layer network."""
        check_is_fitted(self, "best_estimator_")
        return as_network(self.best_estimator_)

    def predict(self, X):
        """Predictions of the kept model."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)
