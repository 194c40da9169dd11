"""scikit-learn's common checks on every public estimator, found automatically."""

import inspect
import warnings

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

import skrecover


def all_estimators():
    """Every estimator class that ``skrecover`` exports."""
    return [
        obj
        for name in skrecover.__all__
        if inspect.isclass(obj := getattr(skrecover, name))
        and issubclass(obj, BaseEstimator)
    ]


ESTIMATORS = [estimator() for estimator in all_estimators()]


def test_estimators_are_found():
    assert {type(e).__name__ for e in ESTIMATORS} >= {"TensorInitGD"}


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # The common checks feed tiny non-Gaussian data: the assumption and
        # initialisation warnings are expected there.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_parameter_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
