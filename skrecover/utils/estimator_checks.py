"""Checks every skrecover estimator passes, beyond scikit-learn's common checks.

In the spirit of imbalanced-learn's ``utils/estimator_checks.py``: each check is a
function ``check(name, estimator)`` that raises an ``AssertionError`` naming what
failed. :func:`parametrize_with_checks` runs the ones that apply to each estimator
from ``tests/test_common.py``, next to
:func:`sklearn.utils.estimator_checks.parametrize_with_checks`.

The recovery check fits an estimator on its own teacher (:data:`TEACHER_PROBLEMS`):
a new estimator adds its teacher problem there, or the check fails and says so.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from functools import partial
from inspect import signature
from typing import NamedTuple

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning

from ..datasets import (
    make_teacher_classification,
    make_teacher_convolution,
    make_teacher_regression,
    make_teacher_two_layer,
)
from ..exceptions import AssumptionWarning
from ..metrics import recovery_error

__all__ = [
    "TEACHER_PROBLEMS",
    "TeacherProblem",
    "check_degenerate_inputs",
    "check_extreme_scales",
    "check_inputs_not_modified",
    "check_partial_fit_equals_fit",
    "check_recovers_its_teacher",
    "check_shifted_inputs_warn",
    "check_warm_start_continues",
    "parametrize_with_checks",
    "yield_checks",
]


class TeacherProblem(NamedTuple):
    """Data from the model an estimator recovers, and the tolerance it earns.

    Attributes
    ----------
    make_data : callable
        ``make_data(random_state) -> (X, y, teacher)``; ``teacher`` may be None
        (the guarantee is about the training loss, not weights).
    params : dict
        Estimator parameters for this problem.
    error : callable
        ``error(teacher, fitted_estimator, X, y) -> float``.
    tolerance : float
        The documented tolerance on ``error``.
    partial_fit_params : dict or None
        Parameters under which ``fit`` equals ``partial_fit`` over chunks; None
        for estimators without ``partial_fit``.
    """

    make_data: object
    params: dict
    error: object
    tolerance: float
    partial_fit_params: dict | None = None


def _weights_error(teacher, estimator, X, y, **options):
    return recovery_error(teacher, estimator, **options)


def _filter_error(teacher, estimator, X, y):
    return float(np.linalg.norm(estimator.hidden_weights_ - teacher.hidden_weights))


def _output_angle(teacher, estimator, X, y):
    cosine = float(estimator.output_weights_ @ teacher.output_weights)
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _training_loss(teacher, estimator, X, y):
    """Training loss relative to the variance (regression), or the cross-entropy
    (classification), of a certified global minimum."""
    if not estimator.is_global_minimum_:
        return np.inf
    loss = estimator.certificate_.train_loss
    return float(loss if is_classifier(estimator) else loss / np.var(y))


def _random_data(random_state, classes=None):
    rng = np.random.RandomState(random_state)
    X = rng.standard_normal((150, 5))
    y = rng.standard_normal(150) if classes is None else rng.randint(classes, size=150)
    return X, y, None


#: The :class:`~skrecover.utils.estimator_checks.TeacherProblem` of each
#: estimator, by class name: its data, the parameters its recovery check fits
#: with, and the tolerance it earns.
TEACHER_PROBLEMS = {
    "TensorInitGD": TeacherProblem(
        partial(
            make_teacher_regression,
            n_samples=5_000,
            n_features=6,
            n_hidden=3,
            activation="squared_relu",
        ),
        {"activation": "squared_relu"},
        _weights_error,
        1e-6,
    ),
    "TensorInitGDClassifier": TeacherProblem(
        partial(
            make_teacher_classification, n_samples=100_000, n_features=6, n_hidden=2
        ),
        {},
        _weights_error,
        0.1,
    ),
    "Convotron": TeacherProblem(
        partial(
            make_teacher_convolution,
            n_samples=2_000,
            n_features=40,
            patch_size=8,
            stride=4,
        ),
        {"patch_size": 8, "stride": 4},
        _filter_error,
        1e-6,
        {
            "patch_size": 8,
            "stride": 4,
            "solver": "minibatch",
            "learning_rate": 0.05,
            "shuffle": False,
            "max_iter": 1,
            "fit_intercept": False,
        },
    ),
    "DoubleConvotron": TeacherProblem(
        partial(
            make_teacher_convolution,
            n_samples=5_000,
            n_features=64,
            patch_size=8,
            stride=8,
            output_weights="random",
        ),
        {"patch_size": 8},
        _output_angle,
        0.1,
    ),
    "MomentRecovery": TeacherProblem(
        partial(
            make_teacher_two_layer,
            n_samples=20_000,
            n_features=6,
            n_hidden=3,
            n_outputs=4,
            distribution="uniform",
            noise=0.1,
        ),
        {},
        partial(_weights_error, reduce="rms"),
        0.05,
        {"output_solver": "moments"},
    ),
    # The guarantee: the global minimum of the unregularised training loss.
    "PracticalSizeGD": TeacherProblem(
        _random_data, {"alpha": 0}, _training_loss, 1e-10
    ),
    "PracticalSizeGDClassifier": TeacherProblem(
        partial(_random_data, classes=3), {"alpha": 0}, _training_loss, 1e-4
    ),
}


class _NoRuntimeWarning:
    """Run a block with numpy's RuntimeWarnings as errors and the package's own
    warnings (and ConvergenceWarning) ignored."""

    def __init__(self, *ignored):
        self.ignored = ignored or (UserWarning, ConvergenceWarning)

    def __enter__(self):
        self.context = warnings.catch_warnings()
        self.context.__enter__()
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


def _problem(name):
    if name not in TEACHER_PROBLEMS:
        raise AssertionError(
            f"{name} has no entry in skrecover.utils.estimator_checks."
            "TEACHER_PROBLEMS: add the teacher it recovers and its tolerance."
        )
    return TEACHER_PROBLEMS[name]


def _fitted(estimator, X, y, **fit_params):
    with _NoRuntimeWarning():
        return clone(estimator).fit(X, y, **fit_params)


def _assert_finite(name, estimator, X):
    for attribute, value in vars(estimator).items():
        floats = isinstance(value, np.ndarray) and value.dtype.kind == "f"
        if attribute.endswith("_") and floats and not np.all(np.isfinite(value)):
            raise AssertionError(f"{name}.{attribute} is not finite.")
    with _NoRuntimeWarning():
        prediction = estimator.predict(X)
    if prediction.dtype.kind == "f" and not np.all(np.isfinite(prediction)):
        raise AssertionError(f"{name}.predict returned non-finite values.")


def check_recovers_its_teacher(name, estimator):
    """Fitted to data of its own teacher, the estimator recovers it to the
    tolerance of :data:`~skrecover.utils.estimator_checks.TEACHER_PROBLEMS`, for
    two seeds."""
    problem = _problem(name)
    for seed in (0, 1):
        X, y, teacher = problem.make_data(random_state=seed)
        model = clone(estimator).set_params(**problem.params, random_state=seed)
        model = _fitted(model, X, y)
        error = problem.error(teacher, model, X, y)
        assert error <= problem.tolerance, (
            f"{name} recovers its teacher (seed {seed}) to {error:.3g}, beyond the "
            f"documented tolerance {problem.tolerance:g}."
        )


def check_partial_fit_equals_fit(name, estimator):
    """``partial_fit`` over chunks gives what ``fit`` gives on their concatenation
    (under the problem's ``partial_fit_params``)."""
    problem = _problem(name)
    X, y, _ = problem.make_data(random_state=0)
    params = {**problem.params, **problem.partial_fit_params, "random_state": 0}
    whole = _fitted(clone(estimator).set_params(**params), X, y)
    streamed = clone(estimator).set_params(**params)
    # Chunk boundaries at multiples of 32 rows: no minibatch straddles two chunks.
    bounds = [*(np.linspace(0, len(y), 6)[:-1] // 32 * 32).astype(int), len(y)]
    with _NoRuntimeWarning():
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            streamed.partial_fit(X[start:stop], y[start:stop])
    np.testing.assert_allclose(
        streamed.hidden_weights_,
        whole.hidden_weights_,
        rtol=1e-7,
        atol=1e-10,
        err_msg=f"{name}.partial_fit over chunks differs from fit.",
    )


def check_warm_start_continues(name, estimator):
    """A second fit with ``warm_start=True`` starts where the first stopped: its
    first loss is at most the first fit's last loss."""
    problem = _problem(name)
    X, y, _ = problem.make_data(random_state=0)
    model = clone(estimator).set_params(**problem.params, random_state=0, max_iter=2)
    with _NoRuntimeWarning():
        model.fit(X, y)
        last = model.loss_curve_[-1]
        model.set_params(warm_start=True, max_iter=3)
        model.fit(X, y)
    first = model.loss_curve_[0]
    assert first <= last * (1 + 1e-9) + 1e-300, (
        f"{name} with warm_start=True restarted: its first loss {first:.6g} is "
        f"above the previous fit's last loss {last:.6g}."
    )


def check_shifted_inputs_warn(name, estimator):
    """Inputs moved away from 0 break the input assumption: one AssumptionWarning
    that names the mean."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((500, 4)) + 3.0
    y = _targets(estimator, X, rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        clone(estimator).set_params(random_state=0).fit(X, y)
    assumption = [w for w in caught if issubclass(w.category, AssumptionWarning)]
    assert len(assumption) == 1, (
        f"{name} gave {len(assumption)} AssumptionWarnings on inputs with mean 3 "
        "(expected exactly one)."
    )
    assert "mean" in str(assumption[0].message), str(assumption[0].message)


def _targets(estimator, X, rng):
    signal = np.maximum(X @ rng.standard_normal(X.shape[1]), 0) + 0.1 * X[:, 0]
    if is_classifier(estimator):
        return (signal > np.median(signal)).astype(int)
    return signal


def _degenerate_cases(rng):
    X = rng.standard_normal((60, 4))
    constant = X.copy()
    constant[:, 1] = 3.0
    duplicated = np.vstack([X[:30], X[:30]])
    return {
        "y = 0": (X, np.zeros(60)),
        "a constant feature": (constant, None),
        "duplicated rows": (duplicated, None),
        "X = 0": (np.zeros((60, 4)), None),
    }


def check_degenerate_inputs(name, estimator):
    """Constant targets, a constant feature, duplicated rows and all-zero inputs
    give finite results (or a ValueError), with no numpy RuntimeWarning."""
    rng = np.random.RandomState(1)
    for case, (X, y) in _degenerate_cases(rng).items():
        if y is None:
            y = _targets(estimator, X, rng)
        if is_classifier(estimator) and len(np.unique(y)) < 2:
            y = np.arange(len(y)) % 2
        _fit_or_clear_error(name, estimator, X, y, case)


def _fit_or_clear_error(name, estimator, X, y, case):
    try:
        model = _fitted(clone(estimator).set_params(random_state=0), X, y)
    except ValueError as error:
        assert str(error), f"{name} raised an empty ValueError on {case}."
        return None
    except RuntimeWarning as warning:
        raise AssertionError(
            f"{name} leaks a RuntimeWarning on {case}: {warning}"
        ) from warning
    except Exception as error:
        raise AssertionError(
            f"{name} raised {type(error).__name__} on {case}: {error}"
        ) from error
    _assert_finite(name, model, X)
    return model


def _unit_scale(values, centre=False):
    """``values`` divided by a power of two: largest (centred) magnitude in [1, 2)."""
    spread = values - values.mean() if centre else values
    exponent = np.frexp(np.abs(spread).max())[1]
    return np.ldexp(values, 1 - exponent)


def _outputs(model, X):
    with _NoRuntimeWarning():
        if is_classifier(model):
            return model.predict_proba(X)
        return model.predict(X)


def check_extreme_scales(name, estimator):
    """Finite inputs of any magnitude are fitted through an exact internal
    rescaling: ``X`` or ``y`` multiplied by ``2**498`` (about 1e150) or ``2**-498``
    give the same model as the original data, in the original units; ``1e150``
    and ``1e-150`` give finite results or a ValueError."""
    rng = np.random.RandomState(2)
    X = _unit_scale(rng.standard_normal((200, 4)))
    y = _targets(estimator, X, rng)
    if not is_classifier(estimator):
        y = _unit_scale(y, centre=True)
    reference = _fitted(clone(estimator).set_params(random_state=0), X, y)
    expected = _outputs(reference, X)
    for factor in (2.0**-498, 2.0**498):
        cases = {f"X * {factor:g}": (X * factor, y, 1.0)}
        if not is_classifier(estimator):
            cases[f"y * {factor:g}"] = (X, y * factor, factor)
        for case, (X_case, y_case, unit) in cases.items():
            model = _fit_or_clear_error(name, estimator, X_case, y_case, case)
            np.testing.assert_allclose(
                _outputs(model, X_case),
                expected * unit,
                rtol=1e-9,
                atol=1e-12 * unit,
                err_msg=f"{name} fitted on {case} differs from the original fit.",
            )
    for scale in (1e-150, 1e150):
        _fit_or_clear_error(name, estimator, X * scale, y, f"X * {scale:g}")
        if not is_classifier(estimator):
            _fit_or_clear_error(name, estimator, X, y * scale, f"y * {scale:g}")


def check_inputs_not_modified(name, estimator):
    """``fit`` and ``predict`` leave ``X``, ``y`` and ``sample_weight`` untouched,
    in float64 and float32, C and Fortran order."""
    rng = np.random.RandomState(3)
    for dtype in (np.float64, np.float32):
        for order in ("C", "F"):
            X = np.asarray(rng.standard_normal((80, 4)), dtype=dtype, order=order)
            y = _targets(estimator, X, rng)
            copies = [X.copy(order="K"), y.copy()]
            fit_params = {}
            if "sample_weight" in signature(estimator.fit).parameters:
                fit_params["sample_weight"] = rng.uniform(0.5, 2.0, len(y))
                copies.append(fit_params["sample_weight"].copy())
            model = clone(estimator).set_params(random_state=0)
            model = _fitted(model, X, y, **fit_params)
            with _NoRuntimeWarning():
                model.predict(X)
            given = [X, y, *fit_params.values()]
            for original, copy in zip(given, copies, strict=True):
                assert np.array_equal(original, copy), f"{name} modified its input."
                assert original.flags.writeable


def yield_checks(estimator):
    """The checks that apply to ``estimator``."""
    name = type(estimator).__name__
    params = estimator.get_params()
    yield check_recovers_its_teacher
    problem = TEACHER_PROBLEMS.get(name)
    if problem is not None and problem.partial_fit_params is not None:
        yield check_partial_fit_equals_fit
    if "warm_start" in params:
        yield check_warm_start_continues
    if getattr(estimator, "_input_assumption", None) is not None:
        yield check_shifted_inputs_warn
    yield check_degenerate_inputs
    yield check_extreme_scales
    yield check_inputs_not_modified


def parametrize_with_checks(estimators):
    """A pytest ``parametrize`` over every (estimator, check) pair.

    Parameters
    ----------
    estimators : list of estimator instances

    Returns
    -------
    decorator : callable
        Parametrizes a test function of ``(estimator, check)``; each ``check`` is
        called as ``check(name, estimator)`` on a clone.

    Examples
    --------
    >>> from skrecover import TensorInitGD
    >>> from skrecover.utils.estimator_checks import parametrize_with_checks
    >>> @parametrize_with_checks([TensorInitGD()])
    ... def test_skrecover_checks(estimator, check):
    ...     check(type(estimator).__name__, estimator)
    """
    import pytest

    cases = [
        pytest.param(
            estimator, check, id=f"{type(estimator).__name__}-{check.__name__}"
        )
        for estimator in estimators
        for check in yield_checks(estimator)
    ]
    return pytest.mark.parametrize("estimator, check", cases)
