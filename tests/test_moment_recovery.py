import itertools
import re
import warnings

import numpy as np
import pytest

from skrecover import MomentRecovery
from skrecover import _moment_recovery as module
from skrecover.datasets import make_teacher_two_layer
from skrecover.exceptions import AssumptionWarning
from skrecover.metrics import hidden_weights_error, recovery_error


def unit_row_error(teacher, model):
    """GKLW's eW: RMS distance of matched unit rows, ||W_hat - W||_F / sqrt(k)."""
    return hidden_weights_error(
        teacher.hidden_weights, model.hidden_weights_, allow_scaling=True, reduce="rms"
    )


@pytest.mark.parametrize("test_functions", ["rowspan", "full", "sketch"])
def test_exact_recovery_from_population_moments(test_functions):
    """The +-1 hypercube of d = 10, enumerated, is a symmetric distribution whose
    sample moments are the population moments."""
    _, _, teacher = make_teacher_two_layer(1, 10, 5, 8, random_state=1)
    X = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    y = teacher.predict(X)
    model = MomentRecovery(5, test_functions=test_functions, random_state=0).fit(X, y)
    assert unit_row_error(teacher, model) < 1e-10
    assert recovery_error(teacher, model) < 1e-10
    assert np.abs(model.predict(X) - y).max() < 1e-10
    assert model.diagnostics_["t_gap_ratio"] > 1e6


def test_error_falls_like_one_over_root_n():
    errors = {}
    for n in (10_000, 160_000):
        errors[n] = np.median(
            [
                unit_row_error(
                    teacher,
                    MomentRecovery(5, random_state=0).fit(X, y),
                )
                for X, y, teacher in (
                    make_teacher_two_layer(n, 10, 5, 8, noise=0.1, random_state=s)
                    for s in range(3)
                )
            ]
        )
    assert 2 < errors[10_000] / errors[160_000] < 8  # sqrt(16) = 4


def test_gaussian_recovery_and_refinement():
    """d = 10, k = 5, l = 8, n = 1e5 (GKLW's setting in the spec's protocol)."""
    X, y, teacher = make_teacher_two_layer(
        100_000, 10, 5, 8, noise=0.05, random_state=0
    )
    model = MomentRecovery(random_state=0).fit(X, y)
    assert model.n_hidden_ == 5  # "auto" from the singular values of P
    assert unit_row_error(teacher, model) <= 0.03
    refined = MomentRecovery(refine=True, random_state=0).fit(X, y)
    assert refined.refined_ and refined.n_iter_ > 0
    assert unit_row_error(teacher, refined) <= 1e-3
    assert np.allclose(np.linalg.norm(refined.hidden_weights_, axis=1), 1)


@pytest.mark.parametrize("distribution", ["uniform", "rademacher", "mixture"])
def test_other_symmetric_input_families(distribution):
    X, y, teacher = make_teacher_two_layer(
        100_000, 10, 5, 8, distribution=distribution, noise=0.1, random_state=2
    )
    model = MomentRecovery(random_state=0).fit(X, y)
    assert unit_row_error(teacher, model) < 0.1


def test_noise_projection_is_what_makes_noisy_data_work(monkeypatch):
    """Noise of standard deviation 2 (std of the clean outputs: 1.7)."""
    X, y, teacher = make_teacher_two_layer(100_000, 10, 5, 8, noise=2.0, random_state=0)
    model = MomentRecovery(5, fit_intercept=False, random_state=0)
    projected = unit_row_error(teacher, model.fit(X, y))
    monkeypatch.setattr(module, "_project_off", lambda rows, feature_mean: rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssumptionWarning)
        unprojected = unit_row_error(teacher, model.fit(X, y))
    assert projected < 0.06  # measured 0.039
    assert unprojected > 3 * projected  # measured 0.157


@pytest.mark.parametrize("test_functions", ["rowspan", "full", "sketch"])
def test_partial_fit_over_chunks_equals_fit(test_functions):
    X, y, teacher = make_teacher_two_layer(20_000, 8, 4, 6, noise=0.1, random_state=2)
    weights = np.random.default_rng(0).uniform(0.5, 2, len(y))
    fitted = MomentRecovery(
        test_functions=test_functions, output_solver="moments", random_state=0
    ).fit(X, y, sample_weight=weights)
    streamed = MomentRecovery(test_functions=test_functions, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssumptionWarning)  # small early chunks
        for chunk in np.array_split(np.arange(len(y)), 7):
            streamed.partial_fit(X[chunk], y[chunk], sample_weight=weights[chunk])
    assert np.allclose(streamed.hidden_weights_, fitted.hidden_weights_, atol=1e-10)
    assert np.allclose(streamed.output_weights_, fitted.output_weights_, atol=1e-10)
    least_squares = MomentRecovery(test_functions=test_functions, random_state=0).fit(
        X, y, sample_weight=weights
    )
    assert np.allclose(least_squares.hidden_weights_, fitted.hidden_weights_)
    assert unit_row_error(teacher, streamed) < 0.1


def test_least_squares_output_weights_beat_the_closed_form():
    X, y, teacher = make_teacher_two_layer(30_000, 10, 5, 8, noise=0.1, random_state=3)
    X_test, y_test = X[:5000], teacher.predict(X[:5000])
    scores = {
        solver: MomentRecovery(output_solver=solver, random_state=0)
        .fit(X, y)
        .score(X_test, y_test)
        for solver in ("lstsq", "moments")
    }
    assert scores["lstsq"] > scores["moments"] > 0.9


def test_single_output_fits_one_neuron():
    """Exactly symmetric samples (each row with its negation): exact recovery."""
    half = np.random.default_rng(0).uniform(-1, 1, (2500, 4))
    X = np.vstack([half, -half])
    w = np.array([1.0, -2.0, 0.5, 0.0])
    y = 3 * np.maximum(X @ w, 0)
    model = MomentRecovery(random_state=0).fit(X, y)
    assert model.n_hidden_ == 1 and model.predict(X).shape == (5000,)
    assert np.allclose(model.hidden_weights_[0], w / np.linalg.norm(w), atol=1e-8)
    assert np.allclose(model.output_weights_, [[3 * np.linalg.norm(w)]])


@pytest.mark.parametrize(
    "n_hidden, message",
    [(4, "exceeds the number of outputs \\(3\\)"), (3, None)],
)
def test_more_units_than_outputs_is_an_error(n_hidden, message):
    X, y, _ = make_teacher_two_layer(2000, 6, 3, 3, random_state=0)
    model = MomentRecovery(n_hidden, symmetry_check="off", random_state=0)
    if message is None:
        model.fit(X, y)
    else:
        with pytest.raises(ValueError, match=message):
            model.fit(X, y)
    with pytest.raises(ValueError, match="exceeds the number of outputs \\(1\\)"):
        MomentRecovery(2).fit(X, y[:, 0])
    with pytest.raises(ValueError, match="exceeds the number of features \\(2\\)"):
        MomentRecovery(3).fit(X[:, :2], y)


def test_asymmetric_inputs_warn_raise_or_pass():
    X, y, teacher = make_teacher_two_layer(20_000, 10, 5, 8, random_state=0)
    shifted = X + 0.3
    with pytest.warns(AssumptionWarning, match="feature .* has mean 0.3"):
        MomentRecovery(random_state=0).fit(shifted, teacher.predict(shifted))
    skewed = np.random.default_rng(0).exponential(size=X.shape) - 1
    with pytest.raises(ValueError, match="has skewness"):
        MomentRecovery(symmetry_check="raise", random_state=0).fit(
            skewed, teacher.predict(skewed)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MomentRecovery(symmetry_check="off", random_state=0).fit(
            skewed, teacher.predict(skewed)
        )
        MomentRecovery(random_state=0).fit(X, y)  # symmetric: silent


def test_diagnostics_and_reproducibility():
    X, y, _ = make_teacher_two_layer(30_000, 10, 4, 6, noise=0.1, random_state=5)
    model = MomentRecovery(random_state=0).fit(X, y)
    diagnostics = model.diagnostics_
    assert diagnostics["p_singular_values"].shape == (6,)
    assert diagnostics["t_singular_values"].shape == (9,)
    assert diagnostics["t_gap_ratio"] > 5
    assert diagnostics["sign_margins"].min() > 3
    assert np.abs(diagnostics["mean_t_statistics"]).max() < 5
    again = MomentRecovery(random_state=0).fit(X, y)
    assert np.array_equal(again.hidden_weights_, model.hidden_weights_)
    assert np.abs(model.intercept_).max() < 0.02  # the teacher has no offset


def test_inputs_are_not_modified_and_y_shapes():
    X, y, _ = make_teacher_two_layer(3000, 6, 2, 3, random_state=0)
    X_copy, y_copy = X.copy(), y.copy()
    model = MomentRecovery(random_state=0).fit(X, y)
    assert np.array_equal(X, X_copy) and np.array_equal(y, y_copy)
    assert model.predict(X).shape == (3000, 3)
    with pytest.raises(ValueError, match="2 outputs but .* fitted with 3"):
        MomentRecovery().partial_fit(X, y).partial_fit(X, y[:, :2])


def test_training_loss_from_the_least_squares_sums():
    """The least-squares pass also gives its minimum: the loss a pass over the
    rows measures (the fit's training loss, without that pass)."""
    X, y, teacher = make_teacher_two_layer(4000, 6, 2, 3, noise=0.3, random_state=1)
    weight = np.random.default_rng(0).uniform(0.5, 2, len(y))
    hidden = teacher.hidden_weights + 0.1
    for fit_intercept in (True, False):
        output, intercept, loss = module._least_squares_output(
            X, y, weight, hidden, fit_intercept
        )
        params = module.NetworkParams(hidden, output, intercept)
        measured = module._held_out_loss(X, y, weight, params)
        assert loss == pytest.approx(measured, rel=1e-10)


@pytest.mark.parametrize("output_solver", ["lstsq", "moments"])
def test_an_offset_of_y_far_above_its_spread_changes_nothing(output_solver):
    """y + 1e9 (a spread of about 1, so 1e-7 of the offset) is fitted as y is, up to
    the offset: the sums hold y minus its mean. Before, the centred moments were
    differences of moments of y near 1e18 and the score fell to 0.44."""
    X, y, _ = make_teacher_two_layer(3000, 10, 3, 5, random_state=1)
    model = MomentRecovery(output_solver=output_solver, random_state=0)
    base = model.fit(X, y).predict(X)
    shifted = model.fit(X, y + 1e9).predict(X) - 1e9
    assert np.max(np.abs(shifted - base)) <= 1e-5 * np.std(y)
    assert model.score(X, y + 1e9) > 0.99


@pytest.mark.parametrize("value", [0.0, 3.7])
def test_constant_targets_are_a_clear_error(value):
    X, y, _ = make_teacher_two_layer(500, 10, 3, 5, random_state=1)
    with pytest.raises(ValueError, match="constant or even targets"):
        MomentRecovery(random_state=0).fit(X, np.full_like(y, value))


def test_normalised_weights_fit_as_the_weights_they_normalise():
    """Weights summing to 1 are scaled up to their effective number of samples:
    counted as one sample, they made the moments look like noise (1 unit, R^2
    0.44)."""
    X, y, teacher = make_teacher_two_layer(3000, 10, 3, 5, random_state=1)
    weights = np.random.default_rng(0).uniform(0.5, 2, len(y))
    model = MomentRecovery(random_state=0)
    reference = model.fit(X, y, sample_weight=weights).predict(X)
    normalised = model.fit(X, y, sample_weight=weights / weights.sum())
    assert normalised.n_hidden_ == 3
    assert np.allclose(normalised.predict(X), reference, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize(
    "distribution, n_hidden, condition_number, seed",
    [("uniform", 2, 3, 42), ("mixture", 3, 3, 41), ("uniform", 4, 10, 42)],
)
def test_few_units_with_an_offset_are_recovered(
    distribution, n_hidden, condition_number, seed
):
    """With an output offset (k more unknowns), the k (k + 1) / 2 row-span test
    functions of few units pinned the detector poorly: these noise-free teachers
    scored test R^2 0.71, 0.96 and 0.81 (the full test functions 0.9999)."""
    X, y, _ = make_teacher_two_layer(
        40_000,
        12,
        n_hidden,
        6,
        distribution=distribution,
        condition_number=condition_number,
        random_state=seed,
    )
    model = MomentRecovery(n_hidden, random_state=0).fit(X[:30_000], y[:30_000])
    assert model.score(X[30_000:], y[30_000:]) > 0.999


def test_partial_fit_takes_chunks_of_one_row():
    """After a first chunk, rows one at a time (which were refused, "minimum of 2")
    add to the moment sums as any chunk does: the same network as one fit."""
    X, y, _ = make_teacher_two_layer(20_000, 8, 4, 6, noise=0.1, random_state=2)
    fitted = MomentRecovery(output_solver="moments", random_state=0).fit(X, y)
    streamed = MomentRecovery(random_state=0).partial_fit(X[:19_990], y[:19_990])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for row in range(19_990, 20_000):
            streamed.partial_fit(X[row : row + 1], y[row : row + 1])
    assert np.allclose(streamed.hidden_weights_, fitted.hidden_weights_, atol=1e-10)
    assert np.allclose(streamed.output_weights_, fitted.output_weights_, atol=1e-10)
    # The input statistics are those of the last chunk that has them.
    first = MomentRecovery(random_state=0).partial_fit(X[:19_990], y[:19_990])
    assert np.array_equal(
        streamed.diagnostics_["skewness"], first.diagnostics_["skewness"]
    )


def test_constant_features_are_named_as_such():
    """A constant column was reported as a mean 8.7e13 standard deviations from 0
    (its rounding), or after StandardScaler as a variance 0 with the advice to
    standardise."""
    X, y, teacher = make_teacher_two_layer(5000, 8, 3, 4, random_state=41)
    for value, match in [(3.0, r"feature 8 is constant \(3\)"), (0.0, None)]:
        with_constant = np.column_stack([X, np.full(len(X), value)])
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            MomentRecovery(random_state=0).fit(with_constant, y)
        messages = [str(w.message) for w in record if w.category is AssumptionWarning]
        if match is None:  # 0 is symmetric about 0: nothing to report
            assert not any("feature 8" in message for message in messages)
            continue
        assert len(messages) == 1
        assert re.search(match, messages[0])
        assert "VarianceThreshold" in messages[0]
        assert "standard deviations" not in messages[0]


def test_auto_n_hidden_finds_a_unit_within_the_noise_of_the_odd_part():
    """As many outputs as units: the output layer is nearly singular, and the
    8th singular value of the odd part (0.13) lay below its noise edge: 7 units,
    test R^2 0.76 without a warning (8 of 20 teachers). The detector isolates the
    8th unit, and the least-squares loss falls from 2.3 to 0.005 with it."""
    X, y, teacher = make_teacher_two_layer(50_000, 60, 8, 8, random_state=53)
    model = MomentRecovery(random_state=0).fit(X, y)
    assert model.n_hidden_ == 8
    assert model.diagnostics_["p_singular_values"][7] < 0.2
    X_test = np.random.default_rng(0).standard_normal((5000, 60))
    assert model.score(X_test, teacher.predict(X_test)) > 0.999
