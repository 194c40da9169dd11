"""scikit-learn's common checks and the package's own on every public estimator,
found automatically."""

import inspect
import warnings

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

import skrecover
from skrecover.utils.estimator_checks import TEACHER_PROBLEMS
from skrecover.utils.estimator_checks import parametrize_with_checks as skrecover_checks


def all_estimators():
    """Every estimator class that ``skrecover`` exports."""
    return [
        obj
        for name in skrecover.__all__
        if inspect.isclass(obj := getattr(skrecover, name))
        and issubclass(obj, BaseEstimator)
    ]


ESTIMATORS = [estimator() for estimator in all_estimators()]
# Non-default configurations whose API differs: partial_fit exists only for the
# stochastic solvers of Convotron.
VARIANTS = [
    skrecover.Convotron(solver="minibatch", random_state=0),
    skrecover.MomentRecovery(test_functions="sketch", refine=True, random_state=0),
]


def test_estimators_are_found():
    assert {type(e).__name__ for e in ESTIMATORS} >= {
        "TensorInitGD",
        "TensorInitGDClassifier",
        "MomentRecovery",
        "Convotron",
        "DoubleConvotron",
    }


@parametrize_with_checks(ESTIMATORS + VARIANTS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # The common checks feed tiny non-Gaussian data: the assumption and
        # initialisation warnings are expected there.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_parameter_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@skrecover_checks(ESTIMATORS)
def test_skrecover_checks(estimator, check):
    check(type(estimator).__name__, estimator)


def test_every_estimator_has_a_teacher_problem():
    assert {type(e).__name__ for e in ESTIMATORS} <= set(TEACHER_PROBLEMS)
