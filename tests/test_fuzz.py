"""A bounded fuzz of every estimator over shapes, scales, dtypes and memory layouts.

Whatever the data, ``fit`` either gives finite fitted attributes and predictions,
or raises a ValueError with a message; never a numpy RuntimeWarning, never a
LinAlgError or a LAPACK message on stdout, and the inputs are left untouched. The
examples are derandomized: every run tries the same ones.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import is_classifier
from test_common import all_estimators

LAYOUTS = ["C", "F", "strided"]


@st.composite
def datasets(draw, classifier):
    n_samples = draw(st.integers(2, 40))
    n_features = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    # float32 holds magnitudes from about 1e-38 to 3e38.
    limit = 150 if dtype == np.float64 else 30
    x_exponent = draw(st.integers(-limit, limit))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["gaussian", "uniform", "integer", "constant column"]))
    X = {
        "gaussian": lambda: rng.standard_normal((n_samples, n_features)),
        "uniform": lambda: rng.uniform(0, 1, (n_samples, n_features)),
        "integer": lambda: rng.randint(-2, 3, (n_samples, n_features)) * 1.0,
        "constant column": lambda: np.column_stack(
            [rng.standard_normal((n_samples, n_features - 1)), np.ones(n_samples)]
        ),
    }[kind]()
    if draw(st.booleans()):
        X[n_samples // 2 :] = X[: n_samples - n_samples // 2]  # duplicated rows
    X = (X * 10.0**x_exponent).astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((n_samples, 2 * n_features), dtype=dtype)
        wide[:, ::2] = X
        X = wide[:, ::2]
    if classifier:
        y = rng.randint(0, draw(st.integers(2, 3)), n_samples)
        y[:2] = [0, 1]
    else:
        y_exponent = draw(st.integers(-150, 150))
        offset = draw(st.sampled_from([0.0, 1e6]))
        y = (rng.standard_normal(n_samples) + offset) * 10.0**y_exponent
    return X, y


@pytest.mark.parametrize("Estimator", all_estimators(), ids=lambda e: e.__name__)
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_finite_input_gives_a_finite_fit_or_a_clear_error(Estimator, data, capfd):
    estimator = Estimator(random_state=0)
    X, y = data.draw(datasets(is_classifier(estimator)))
    X_copy, y_copy = X.copy(order="K"), y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RuntimeWarning)
        try:
            estimator.fit(X, y)
        except ValueError as error:
            assert str(error)
            assert "must not contain infs or NaNs" not in str(error)
        else:
            for name, value in vars(estimator).items():
                if name.endswith("_") and isinstance(value, np.ndarray):
                    assert value.dtype.kind != "f" or np.all(np.isfinite(value)), name
            prediction = estimator.predict(X)
            assert prediction.dtype.kind != "f" or np.all(np.isfinite(prediction))
    assert np.array_equal(X, X_copy) and np.array_equal(y, y_copy)
    printed = capfd.readouterr()
    assert "DLASCL" not in printed.out + printed.err
