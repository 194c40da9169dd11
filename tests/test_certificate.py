"""Certificates at the solution and confidence intervals of the fitted weights."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skrecover import MomentRecovery, TensorInitGD, TensorInitGDClassifier
from skrecover._network import (
    NetworkParams,
    canonicalize,
    loss_gradient,
    row_gradients,
    squared_hessian,
)
from skrecover.activations import (
    Activation,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    SquaredReLU,
    Tanh,
)
from skrecover.datasets import (
    make_teacher_classification,
    make_teacher_regression,
    make_teacher_two_layer,
)
from skrecover.metrics import match_hidden_units

ACTIVATIONS = [ReLU(), LeakyReLU(0.2), SquaredReLU(), Sigmoid(), Tanh()]
PATCHES = np.array([[0, 1], [2, 3], [4, 5]])


def random_params(rng, n_hidden, n_inputs, n_outputs, biases):
    return NetworkParams(
        rng.standard_normal((n_hidden, n_inputs)),
        rng.standard_normal((n_outputs, n_hidden)),
        rng.standard_normal(n_outputs),
        rng.standard_normal(n_hidden) if biases else None,
    )


def shifted(params, direction, step):
    return NetworkParams(
        *(
            None if p is None else p + step * d
            for p, d in zip(params, direction, strict=True)
        )
    )


@pytest.mark.parametrize(
    "activation",
    [*ACTIVATIONS, Softplus(), Activation(np.sin, np.cos, name="sine")],
    ids=lambda a: a.display_name,
)
def test_second_derivative_matches_differences_of_the_derivative(activation):
    z = np.linspace(-3, 3, 25) + 0.013  # away from the kink at 0
    h = 1e-5
    differences = (activation.derivative(z + h) - activation.derivative(z - h)) / (
        2 * h
    )
    np.testing.assert_allclose(
        activation.second_derivative(z), differences, rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: a.display_name)
@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("patch_indices", [None, PATCHES])
def test_squared_hessian_matches_differences_of_the_gradient(
    activation, biases, patch_indices
):
    rng = np.random.default_rng(0)
    n_inputs = 6 if patch_indices is None else 2
    X = rng.standard_normal((400, 6))
    y = rng.standard_normal((400, 2))
    weights = rng.uniform(size=400)
    params = random_params(rng, 3, n_inputs, 2, biases)
    hessian = squared_hessian(
        X, y, weights, params, activation, patch_indices=patch_indices
    )
    sizes = [p.size for p in params if p is not None]
    assert hessian.shape == (sum(sizes), sum(sizes))
    h = 1e-6
    for column, unit in enumerate(np.eye(sum(sizes))):
        parts = np.split(unit, np.cumsum(sizes)[:-1])
        direction = NetworkParams(
            *(part.reshape(p.shape) for part, p in zip(parts, params, strict=False)),
            *([None] if params.hidden_biases is None else []),
        )
        plus, minus = (
            loss_gradient(
                X, y, weights, shifted(params, direction, s), activation,
                patch_indices=patch_indices,
            )[1]
            for s in (h, -h)
        )  # fmt: skip
        difference = np.concatenate(
            [(p - m).ravel() for p, m in zip(plus, minus, strict=True) if p is not None]
        ) / (2 * h)
        np.testing.assert_allclose(
            hessian[:, column],
            difference,
            rtol=1e-6,
            atol=1e-7 * np.abs(hessian).max(),
        )


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_row_gradients_average_to_the_gradient(loss):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5))
    weights = rng.uniform(size=300)
    params = random_params(rng, 3, 5, 1, True)
    if loss == "squared":
        y = rng.standard_normal((300, 1))
        activation = Tanh()
    else:
        y = (rng.uniform(size=(300, 1)) < 0.5).astype(float)
        params = params._replace(
            output_weights=np.full((1, 3), 1 / 3), intercept=np.zeros(1)
        )
        activation = Sigmoid()
    rows = row_gradients(X, y, params, activation, loss=loss)
    mean = loss_gradient(X, y, weights, params, activation, loss=loss)[1]
    for per_row, total in zip(rows, mean, strict=True):
        np.testing.assert_allclose(
            np.tensordot(weights, per_row, axes=1) / weights.sum(), total, atol=1e-12
        )


def dense_hessian_by_differences(model, X, y):
    """The Hessian of the training loss over (W, v, c) of a fitted TensorInitGD
    with a smooth activation, by central differences of loss_gradient."""
    params = canonicalize(model.network_.params, model.activation_)
    sizes = [p.size for p in params[:3]]
    x = np.concatenate([p.ravel() for p in params[:3]])

    def gradient(vector):
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        network = NetworkParams(
            *(part.reshape(p.shape) for part, p in zip(parts, params[:3], strict=True))
        )
        g = loss_gradient(
            X, y.reshape(-1, 1), np.ones(len(X)), network, model.activation_
        )[1]
        return np.concatenate([part.ravel() for part in g[:3]])

    h = 1e-5
    columns = [
        (gradient(x + h * e) - gradient(x - h * e)) / (2 * h) for e in np.eye(x.size)
    ]
    hessian = np.column_stack(columns)
    return (hessian + hessian.T) / 2


def test_certificate_eigenvalues_match_a_dense_hessian():
    X, y, _ = make_teacher_regression(
        n_samples=3000, n_features=4, n_hidden=2, activation="tanh", noise=0.1,
        random_state=0,
    )  # fmt: skip
    model = TensorInitGD(
        activation="tanh", n_hidden=2, fit_hidden_bias=False, certify=True,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    certificate = model.certificate_
    eigenvalues = np.linalg.eigvalsh(dense_hessian_by_differences(model, X, y))
    assert certificate.n_parameters == eigenvalues.size == 2 * 4 + 2 + 1
    assert certificate.n_symmetries == 0
    np.testing.assert_allclose(
        [certificate.hessian_min_eigenvalue, certificate.hessian_max_eigenvalue],
        eigenvalues[[0, -1]],
        rtol=1e-5,
    )
    assert certificate.positive_definite
    assert certificate.gradient_norm < 1e-4
    assert certificate.n_passes == 3  # loss and gradient, Hessian, scores


@pytest.mark.parametrize("activation", ["relu", "squared_relu", "tanh", "sigmoid"])
def test_an_exact_fit_is_certified_a_strict_local_minimum(activation):
    X, y, _ = make_teacher_regression(
        n_samples=20_000, n_features=6, n_hidden=3, activation=activation,
        random_state=1,
    )  # fmt: skip
    model = TensorInitGD(activation=activation, n_hidden=3, certify=True).fit(X, y)
    certificate = model.certificate_
    assert certificate.positive_definite
    assert certificate.hessian_min_eigenvalue > 1e-4
    assert certificate.newton_decrement < 1e-12 * np.var(y)
    assert certificate.training_loss < 1e-12 * np.var(y)


def test_the_initialisation_is_not_certified():
    X, y, _ = make_teacher_regression(
        n_samples=5_000, n_features=6, n_hidden=3, activation="tanh", noise=0.1,
        random_state=2,
    )  # fmt: skip
    start = TensorInitGD(
        activation="tanh", n_hidden=3, max_iter=0, certify=True, random_state=0
    ).fit(X, y)
    fitted = TensorInitGD(
        activation="tanh", n_hidden=3, certify=True, random_state=0
    ).fit(X, y)
    # Far from the minimum: an indefinite Hessian, or a Newton decrement of the
    # order of the loss.
    before, after = start.certificate_, fitted.certificate_
    assert after.positive_definite
    assert not before.positive_definite or (
        before.newton_decrement > 1e3 * after.newton_decrement
    )
    assert before.gradient_norm > 1e2 * after.gradient_norm


def test_a_redundant_unit_leaves_a_flat_direction():
    """Two copies of one tanh unit: moving weight between them does not change
    the function, so the Hessian at that network is singular."""
    X, y, teacher = make_teacher_regression(
        n_samples=5_000, n_features=4, n_hidden=1, activation="tanh",
        output_weights=[2.0], random_state=3,
    )  # fmt: skip
    model = TensorInitGD(
        activation="tanh", n_hidden=2, init="random", certify=True, random_state=0,
        max_iter=500, tol=1e-12,
    ).fit(X, y)  # fmt: skip
    certificate = model.certificate_
    assert not certificate.positive_definite or (
        certificate.hessian_min_eigenvalue < 1e-5 * certificate.hessian_max_eigenvalue
    )


def test_moment_recovery_certificate_removes_the_rescaling_directions():
    X, y, _ = make_teacher_two_layer(
        n_samples=20_000, n_features=5, n_hidden=3, n_outputs=6, noise=0.1,
        random_state=0,
    )  # fmt: skip
    model = MomentRecovery(n_hidden=3, refine=True, certify=True, random_state=0)
    certificate = model.fit(X, y).certificate_
    # W (3 x 5), A (6 x 3), c (6); one flat direction per ReLU unit.
    assert certificate.n_parameters == 15 + 18 + 6
    assert certificate.n_symmetries == 3
    assert certificate.positive_definite


def test_classifier_certificate_and_intervals():
    X, y, _ = make_teacher_classification(
        n_samples=30_000, n_features=5, n_hidden=2, random_state=0
    )
    model = TensorInitGDClassifier(n_hidden=2, certify=True, random_state=0).fit(X, y)
    certificate = model.certificate_
    assert certificate.positive_definite
    assert certificate.n_passes == 2 * certificate.n_parameters + 2
    intervals = model.confidence_intervals()
    assert intervals.hidden_weights.shape == (2, *model.hidden_weights_.shape)
    # The output weights of the mean-of-probabilities model are fixed.
    np.testing.assert_array_equal(
        intervals.output_weights[0], intervals.output_weights[1]
    )


def coverage(activation, hidden_biases, n_teachers=30):
    """Share of true canonical weights inside their 95% intervals."""
    hits = []
    for seed in range(n_teachers):
        X, y, teacher = make_teacher_regression(
            n_samples=20_000, n_features=5, n_hidden=3, activation=activation,
            noise=0.3, hidden_biases=hidden_biases, random_state=100 + seed,
        )  # fmt: skip
        model = TensorInitGD(
            activation=activation, n_hidden=3, certify=True,
            fit_hidden_bias=hidden_biases is not None, random_state=seed,
        ).fit(X, y)  # fmt: skip
        intervals = model.confidence_intervals(level=0.95)
        true = canonicalize(teacher.params, teacher.activation)
        _, match, _ = match_hidden_units(true.hidden_weights, model.hidden_weights_)
        pairs = [
            (true.hidden_weights, intervals.hidden_weights[:, match]),
            (true.output_weights[0], intervals.output_weights[:, match]),
            (true.intercept, intervals.intercept.reshape(2, 1)),
        ]
        if hidden_biases is not None:
            pairs.append((true.hidden_biases, intervals.hidden_biases[:, match]))
        for value, (low, high) in pairs:
            trained = high > low
            hits.extend(((value >= low) & (value <= high))[trained].ravel())
    return np.mean(hits)


@pytest.mark.parametrize(
    "activation, hidden_biases",
    [("relu", None), ("tanh", None), ("relu", 0.5)],
)
def test_confidence_intervals_are_calibrated(activation, hidden_biases):
    """Measured, not assumed: over 30 noisy held-out teachers, the 95% intervals
    contain the true weights 90-98% of the time."""
    assert 0.90 <= coverage(activation, hidden_biases) <= 0.98


def test_intervals_shrink_as_one_over_root_n():
    widths = []
    for n in (10_000, 40_000):
        X, y, _ = make_teacher_regression(
            n_samples=n, n_features=5, n_hidden=3, activation="tanh", noise=0.3,
            random_state=5,
        )  # fmt: skip
        model = TensorInitGD(activation="tanh", n_hidden=3, certify=True).fit(X, y)
        low, high = model.confidence_intervals().hidden_weights
        widths.append(np.median(high - low))
    assert widths[1] / widths[0] == pytest.approx(0.5, rel=0.15)


@pytest.mark.filterwarnings("ignore::skrecover.exceptions.AssumptionWarning")
def test_intervals_follow_the_units_of_the_data():
    """Inputs beyond 2^20 are fitted in rescaled units: the intervals of the
    hidden weights scale as 1 / x, those of the output weights not at all."""
    X, y, _ = make_teacher_regression(
        n_samples=10_000, n_features=4, n_hidden=2, activation="tanh", noise=0.2,
        random_state=6,
    )  # fmt: skip
    scale = 2.0**30
    fits = [
        TensorInitGD(activation="tanh", n_hidden=2, certify=True, random_state=0)
        .fit(data, y)
        .confidence_intervals()
        for data in (X, X * scale)
    ]
    # (The two fits stop at slightly different points, 1e-3 apart.)
    np.testing.assert_allclose(
        fits[1].hidden_weights * scale, fits[0].hidden_weights, rtol=1e-2
    )
    np.testing.assert_allclose(
        fits[1].output_weights, fits[0].output_weights, rtol=1e-2
    )


def test_intervals_need_a_certified_fit():
    X, y, _ = make_teacher_regression(n_samples=2000, noise=0.1, random_state=0)
    model = TensorInitGD(activation="squared_relu", n_hidden=5).fit(X, y)
    with pytest.raises(NotFittedError, match="certify=True"):
        model.confidence_intervals()
    model.set_params(certify=True).fit(X, y)
    with pytest.raises(ValueError, match="level"):
        model.confidence_intervals(level=1.5)
    intervals = model.confidence_intervals(level=0.5)
    assert set(intervals) == {
        "hidden_weights",
        "hidden_biases",
        "output_weights",
        "intercept",
    }
    assert intervals.intercept.shape == (2,)
    low, high = intervals.hidden_weights
    assert np.all(low <= model.hidden_weights_) and np.all(
        model.hidden_weights_ <= high
    )


def test_intervals_of_unidentified_weights_are_nan_with_a_warning():
    """A duplicated feature: the difference of its two weights is a flat direction
    of the loss, the Hessian is singular, and the intervals are NaN; they used to
    be NaN silently."""
    from skrecover.exceptions import AssumptionWarning

    X, y, _ = make_teacher_regression(
        3000, 6, 2, activation="tanh", noise=0.1, random_state=0
    )
    X = np.column_stack([X, X[:, 0]])
    model = TensorInitGD(2, activation="tanh", certify=True, random_state=0)
    model.fit(X, y)
    assert not model.certificate_.positive_definite
    with pytest.warns(AssumptionWarning, match="not positive definite"):
        intervals = model.confidence_intervals()
    assert np.all(np.isnan(intervals.hidden_weights))
