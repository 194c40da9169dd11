import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skrecover import Network, TensorInitGDClassifier, _tensor_init
from skrecover._moments import MomentSample
from skrecover._network import NetworkParams, loss_gradient
from skrecover._tensor_init import units_centred_on_inputs
from skrecover.activations import Sigmoid, Tanh
from skrecover.datasets import make_teacher_classification
from skrecover.exceptions import InitializationWarning
from skrecover.metrics import recovery_error, recovery_success


def teacher_data(n_samples, seed, **kwargs):
    params = {"n_features": 10, "n_hidden": 3}
    params.update(kwargs)
    return make_teacher_classification(n_samples=n_samples, random_state=seed, **params)


def bayes_accuracy(teacher, n_samples=200_000, seed=123):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(
        (
            n_samples,
            teacher.hidden_weights.shape[1]
            if teacher.patch_indices is None
            else teacher.patch_indices.size,
        )
    )
    probability = teacher.predict(X)
    y = (rng.uniform(size=n_samples) < probability).astype(int)
    return X, y, float(np.mean((probability > 0.5) == y))


def test_distance_to_the_teacher_shrinks_like_one_over_sqrt_n():
    """The fitted weights approach the teacher's at the statistical rate:
    16 times the data, about 4 times closer (averaged over 3 teachers)."""
    ratios = []
    for seed in range(3):
        errors = []
        for n in (25_000, 400_000):
            X, y, teacher = teacher_data(n, seed)
            model = TensorInitGDClassifier(3, random_state=0, max_iter=500)
            with warnings.catch_warnings():
                # At n = 2.5e4 the third unit is at the noise level: expected.
                warnings.simplefilter("ignore", InitializationWarning)
                model.fit(X, y)
            errors.append(recovery_error(teacher, model, reduce="mean"))
        ratios.append(errors[0] / errors[1])
    assert 2.5 < np.mean(ratios) < 6.5
    assert errors[1] < 0.1


def test_accuracy_and_log_loss_close_to_the_teachers():
    X, y, teacher = teacher_data(100_000, 3)
    model = TensorInitGDClassifier(random_state=0).fit(X, y)
    X_test, y_test, bayes = bayes_accuracy(teacher)
    assert model.score(X_test, y_test) > bayes - 0.005
    true_loss = log_loss(y_test, teacher.predict(X_test))
    assert log_loss(y_test, model.predict_proba(X_test)) < true_loss + 0.003


def test_tensor_initialisation_lands_near_the_teacher():
    """The moment estimate alone (max_iter=0), over the random contractions of
    three random states."""
    X, y, teacher = teacher_data(300_000, 4)
    errors = []
    for random_state in range(3):
        model = TensorInitGDClassifier(max_iter=0, random_state=random_state).fit(X, y)
        init = Network(
            model.init_hidden_weights_, model.init_output_weights_, model.activation_
        )
        assert model.n_hidden_.tolist() == [3]
        assert np.allclose(model.output_weights_, 1 / 3)
        errors.append(recovery_error(teacher, init))
    assert np.median(errors) < 0.5


def test_convolutional_classifier():
    """One kernel shared by 4 disjoint patches of length 5: P(y=1|x) is the mean of
    the 4 sigmoid units (the CNN model of Fu, Chi and Liang)."""
    X, y, teacher = teacher_data(200_000, 5, n_features=20, n_hidden=1, patch_size=5)
    model = TensorInitGDClassifier(n_hidden=1, patch_size=5, random_state=0).fit(X, y)
    assert model.hidden_weights_.shape == (1, 5)
    assert np.allclose(model.output_weights_, 1 / 4)
    assert recovery_success(teacher, model, threshold=0.05)


def test_cross_entropy_gradient_of_the_model_against_finite_differences():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 6))
    y = rng.integers(0, 2, (50, 1)).astype(float)
    weights = rng.uniform(0.5, 1.5, 50)
    patches = np.arange(6).reshape(2, 3)
    params = NetworkParams(
        rng.standard_normal((2, 3)), np.full((1, 2), 0.25), np.zeros(1)
    )

    def loss(hidden):
        return loss_gradient(
            X,
            y,
            weights,
            params._replace(hidden_weights=hidden),
            Sigmoid(),
            loss="cross_entropy",
            patch_indices=patches,
        )[0]

    _, gradient, _ = loss_gradient(
        X, y, weights, params, Sigmoid(), loss="cross_entropy", patch_indices=patches
    )
    numeric = np.zeros_like(params.hidden_weights)
    for index in np.ndindex(numeric.shape):
        step = np.zeros_like(numeric)
        step[index] = 1e-6
        numeric[index] = (
            loss(params.hidden_weights + step) - loss(params.hidden_weights - step)
        ) / 2e-6
    assert np.allclose(gradient.hidden_weights, numeric, rtol=1e-5, atol=1e-9)


def test_string_labels_and_multiclass_one_vs_rest_in_parallel():
    X, y = make_blobs(n_samples=600, centers=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["ant", "bee", "cat"])[y]
    serial = TensorInitGDClassifier(random_state=0).fit(X, labels)
    parallel = TensorInitGDClassifier(random_state=0, n_jobs=2).fit(X, labels)
    assert list(serial.classes_) == ["ant", "bee", "cat"]
    # One network with an output per class against the rest, block by block.
    assert serial.output_weights_.shape == (3, serial.n_hidden_.sum())
    assert np.allclose(serial.output_weights_.sum(axis=1), 1)
    assert np.all((serial.output_weights_ > 0).sum(axis=0) == 1)
    assert serial.score(X, labels) > 0.9
    proba = serial.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(proba, parallel.predict_proba(X))
    assert serial.decision_function(X).shape == (600, 3)


@pytest.mark.filterwarnings("ignore::skrecover.exceptions.AssumptionWarning")
def test_the_same_attributes_for_any_number_of_classes():
    X, y = make_blobs(n_samples=300, centers=3, random_state=1)
    model = TensorInitGDClassifier(random_state=0).fit(X, y)
    names = {name for name in vars(model) if name.endswith("_")}
    assert model.output_weights_.shape[0] == 3
    model.fit(X[y < 2], y[y < 2])
    assert model.output_weights_.shape[0] == 1 and len(model.classes_) == 2
    assert {name for name in vars(model) if name.endswith("_")} == names


def test_probabilities_stay_inside_the_unit_interval_for_extreme_inputs():
    X, y, _ = teacher_data(5_000, 7)
    extreme = np.vstack([np.full(10, 1e6), np.full(10, -1e6), np.zeros(10)])
    for fit_hidden_bias in (True, False):
        model = TensorInitGDClassifier(fit_hidden_bias=fit_hidden_bias, random_state=0)
        proba = model.fit(X, y).predict_proba(extreme)
        assert np.all(np.isfinite(proba)) and np.all((proba > 0) & (proba < 1))
        assert np.all(np.isfinite(model.decision_function(extreme)))
    assert proba[2, 1] == pytest.approx(0.5)  # no biases: P(y=1 | 0) = 1/2


def test_single_class_and_bad_activation_errors():
    X, y, _ = teacher_data(100, 8)
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        TensorInitGDClassifier().fit(X, np.zeros(100))
    with pytest.raises(ValueError, match="outside"):
        TensorInitGDClassifier(activation=Tanh()).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        TensorInitGDClassifier().fit(X, np.linspace(0, 1, 100))


def test_warm_start_and_convergence_warning():
    X, y, teacher = teacher_data(50_000, 9)
    model = TensorInitGDClassifier(3, max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    model.set_params(warm_start=True, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert recovery_error(teacher, model) < 0.3


@pytest.mark.parametrize("n_classes", [2, 3])
def test_warm_start_refuses_other_classes(n_classes):
    X, _, _ = make_teacher_classification(300, 6, 2, random_state=0)
    labels = np.arange(300) % (5 - n_classes)
    model = TensorInitGDClassifier(warm_start=True, random_state=0)
    model.fit(X, np.arange(300) % n_classes)
    with pytest.raises(ValueError, match="warm_start: the classes"):
        model.fit(X, labels)
    model.set_params(warm_start=False).fit(X, labels)
    assert model.predict_proba(X).shape == (300, 5 - n_classes)


def _unit_statistics(X, params):
    pre = X @ params.hidden_weights.T + params.hidden_biases
    return pre.mean(axis=0), pre.std(axis=0)


@pytest.mark.parametrize("whiten", [False, True])
def test_units_dominated_by_an_input_offset_are_recentred(whiten):
    """A unit whose ``w^T x`` has a mean beyond twice its spread gets the spread
    ``|w|`` (in whitened coordinates) about its own bias on the data; the others,
    and every unit on centred inputs, are left exactly as they were."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    X[:, 0] += 30.0
    R = np.diag(1 / np.sqrt(np.mean(X**2, axis=0))) if whiten else None
    sample = MomentSample(X, np.ones(3000), whitening=R)
    units = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.5, 0, 0, 0.5]])
    params = NetworkParams(
        units, np.full((1, 3), 1 / 3), np.zeros(1), np.array([0.3, -0.2, 0.1])
    )
    recentred, count = units_centred_on_inputs(sample, params)
    assert count == 2
    mean, spread = _unit_statistics(X, recentred)
    intended = np.linalg.norm(units if R is None else units @ np.linalg.inv(R), axis=1)
    np.testing.assert_allclose(mean[[0, 2]], params.hidden_biases[[0, 2]], atol=1e-9)
    np.testing.assert_allclose(spread[[0, 2]], intended[[0, 2]], rtol=1e-9)
    np.testing.assert_array_equal(recentred.hidden_weights[1], units[1])
    assert recentred.hidden_biases[1] == params.hidden_biases[1]
    centred = MomentSample(X - X.mean(axis=0), np.ones(3000), whitening=R)
    same, none = units_centred_on_inputs(centred, params)
    assert none == 0 and same is params
    unbiased = params._replace(hidden_biases=None)
    assert units_centred_on_inputs(sample, unbiased) == (unbiased, 0)


def test_unit_statistics_survive_spaced_rows_of_zero_weight(monkeypatch):
    """Weights 0 on every other row, read on every other row: the statistics
    fall back to the rows unweighted rather than divide by zero."""
    monkeypatch.setattr(_tensor_init, "_UNIT_STATISTICS_ROWS", 500)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1000, 3)) + 10.0
    sample = MomentSample(X, np.tile([0.0, 1.0], 500))
    params = NetworkParams(np.eye(3), np.full((1, 3), 1 / 3), np.zeros(1), np.zeros(3))
    recentred, count = units_centred_on_inputs(sample, params)
    assert count == 3
    mean, spread = _unit_statistics(X[::2], recentred)
    np.testing.assert_allclose(mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(spread, 1.0, rtol=1e-9)


def test_raw_pixel_intensities_fit_far_beyond_chance():
    """Digits as raw intensities (0 to 16, far from centred): the moment units
    saturate on every row, and without recentring the descent stalled at 0.28 to
    0.71 accuracy (random_state 0-2); with it, 0.97, as on standardised inputs."""
    X, y = load_digits(n_class=4, return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGDClassifier(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    assert sum(p.recentred_units for p in model.diagnostics_.problems) > 0


def test_centred_teacher_inputs_recentre_no_unit():
    X, y, _ = teacher_data(5000, 0, hidden_biases=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGDClassifier(random_state=0).fit(X, y)
    assert [p.recentred_units for p in model.diagnostics_.problems] == [0]


def test_separated_classes_stop_with_a_warning_that_says_so():
    """One unit per class separates standardised wine: the fit ran to max_iter,
    to a training loss of 1.5e-60 and weights of norm 632, and then advised
    "Increase max_iter"."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = TensorInitGDClassifier(n_hidden=1, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert len(messages) == 1
    assert "separates the training classes" in messages[0]
    assert "Increase max_iter" not in messages[0]
    assert model.n_iter_ < model.max_iter
    assert np.linalg.norm(model.hidden_weights_, axis=-1).max() < 300


def test_auto_n_hidden_of_a_binary_problem_tries_one_more_unit():
    """The moments count 2 of the teacher's 3 units; the information criterion
    of the cross-entropy keeps a third, and the probabilities move closer to the
    teacher's (mean error 0.009 against 0.014-0.018 for 2-unit fits)."""
    from skrecover.datasets import make_teacher_classification

    X, y, teacher = make_teacher_classification(
        n_samples=50_000, n_features=10, n_hidden=3, random_state=53
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGDClassifier(random_state=0).fit(X, y)
    assert model.n_hidden_.tolist() == [3]
    assert model.diagnostics_.added_units == 1
    X_test = np.random.default_rng(0).standard_normal((20_000, 10))
    error = np.abs(model.predict_proba(X_test)[:, 1] - teacher.predict(X_test))
    assert error.mean() < 0.012


def test_relabelling_the_classes_permutes_the_fit():
    """Each one-against-the-rest problem drew from a stream picked by its class's
    position: swapping two iris labels changed a class's units from 3 to 2 and
    probabilities by 0.4."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    swap = np.array([1, 0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TensorInitGDClassifier(random_state=0).fit(X, y)
        swapped = TensorInitGDClassifier(random_state=0).fit(X, swap[y])
        named = TensorInitGDClassifier(random_state=0).fit(
            X, np.array(["setosa", "versicolor", "virginica"])[y]
        )
    assert swapped.n_hidden_[swap].tolist() == model.n_hidden_.tolist()
    probabilities = model.predict_proba(X)
    assert np.allclose(swapped.predict_proba(X)[:, swap], probabilities, atol=1e-10)
    assert np.allclose(named.predict_proba(X), probabilities, atol=1e-10)
