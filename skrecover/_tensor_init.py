"""The tensor (method-of-moments) initialisation of Zhong et al. (2017), as functions.

Algorithm 1 of Zhong, Song, Jain, Bartlett and Dhillon (2017), with Hermite control
variates: the span of the hidden units from the second Hermite moment (or a sketch
of the third), the reduced third-order tensor in that span, its non-orthogonal CP
decomposition, then magnitudes and signs from the lower moments. The functions
return parameters and a diagnostics :class:`~sklearn.utils.Bunch` whose
``messages`` say why an initialisation is unreliable; the estimator warns.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import special
from sklearn.utils import Bunch

from ._base import weighted_variance
from ._engine import is_dask, random_rows, take_rows
from ._magnitudes import (
    MIN_RELATIVE_NORM,
    fit_intercept_and_flips,
    fit_units,
    guard_magnitudes,
    magnitudes_and_signs,
    n_patches,
    output_sd,
)
from ._network import (
    NetworkParams,
    gather_patches,
    hidden_features,
    loss_gradient,
    pre_activations,
    squared_loss,
)
from ._optim import train_network
from ._tensor import _rank_one_terms, fit_cp_weights, refine_symmetric_cp, symmetric_cp

# Candidate initialisations are compared on at most this many rows.
_LOSS_ROWS = 20_000

# A unit whose pre-activations on the inputs have a mean beyond this many times
# their spread is recentred (:func:`units_centred_on_inputs`), measured on about
# this many rows.
_OFFSET_DOMINATED = 2.0
_UNIT_STATISTICS_ROWS = 20_000

# Subspaces of inputs up to this dimension come from the full d x d moment matrix;
# beyond it from randomized subspace iteration on the moment's products.
_FULL_MATRIX_MAX_FEATURES = 256
_SUBSPACE_ITERATIONS = 4
# n_hidden="auto" considers at most this many units.
_MAX_AUTO_UNITS = 20
# Random contraction vectors of the reduced fourth-order tensor (ReLU family).
_N_CONTRACTIONS = 5
# Health thresholds: the k-th moment eigenvalue must stand above the sampling noise,
# and the tensor decomposition must explain at least half of the tensor (Zhong et
# al. suggest a residual of at most one half).
_MAX_CP_RESIDUAL = 0.5
# Least-squares output weights ignore directions of the hidden features whose
# singular value is below this fraction of the largest (near-duplicate units).
_LSTSQ_RCOND = 1e-8
_SKETCH_NOISE_MARGIN = 1.2
_NO_SIGNAL_MARGIN = 1.5
# Moment eigenvalues below this fraction of the standard deviation of y are rounding.
_ROUNDING_LEVEL = 1e-8
# When the linear trend fits best, it and the best moment start are compared again
# after this many L-BFGS iterations on the same rows.
_COMPARISON_ITERATIONS = 10
# The projected moments of orders 3 and 4 have k^3 and k^4 entries where the
# subspace step reads a d x p sketch: once a quarter of the rows the subspace asked
# for is at least _PROJECTED_MIN_ROWS, they read a random quarter (measured at
# n = 1e6, d = 100, k = 10 on sigmoid and tanh teachers: the same descents).
_PROJECTED_SHARE = 0.25
_PROJECTED_MIN_ROWS = 100_000


def tensor_initialization(
    sample,
    y,
    activation,
    n_hidden,
    *,
    fit_intercept=True,
    fit_hidden_bias=False,
    known_output=False,
    n_cp_draws=50,
    moments="control_variates",
    min_signal_to_noise=None,
    random_state,
):
    """Algorithm 1 of Zhong et al. (2017): weights from the moments of the data.

    Parameters
    ----------
    sample : MomentSample
        The (weighted, whitened, patch) data.
    y : ndarray of shape (n_samples,)
        Targets, or 0/1 labels with ``known_output``.
    known_output : bool, default=False
        Classification (Fu, Chi and Liang, 2018): ``E[y | x]`` is the network with
        all output weights ``1 / (n_hidden n_patches)`` and no intercept; norms then
        come from inverting ``m_1``.

    fit_hidden_bias : bool, default=False
        Units with biases: see :func:`biased_tensor_initialization`.
    moments : {"control_variates", "paper"}, default="control_variates"
        The estimator of the moments: see :func:`moment_labels`.
    min_signal_to_noise : float, default=None
        When the weakest unit's moment stands less than this many times above its
        sampling noise, stop once that is measured (the subspace step) and return
        None for the parameters: a caller that will estimate the moments on more
        rows skips the decomposition and the unit fits.

    Returns the initial :class:`~skrecover._network.NetworkParams` and a diagnostics
    :class:`~sklearn.utils.Bunch`.
    """
    if fit_hidden_bias:
        return biased_tensor_initialization(
            sample,
            y,
            activation,
            n_hidden,
            fit_intercept=fit_intercept,
            known_output=known_output,
            n_cp_draws=n_cp_draws,
            moments=moments,
            min_signal_to_noise=min_signal_to_noise,
            random_state=random_state,
        )
    orders = activation.moment_orders
    y_scale = np.sqrt(weighted_variance(y, sample.sample_weight))
    first, residual, drop_quadratic = moment_labels(sample, y, moments)
    basis, spectrum, noise_level, eigenvalues = unit_subspace(
        sample, residual, orders, n_hidden, random_state, y_scale
    )
    k = basis.shape[1]
    informative = spectrum[0] > noise_level
    weak = _weak_moments(spectrum, noise_level, k, informative, min_signal_to_noise)
    if weak is not None:
        return None, weak
    if not informative:
        return _uninformative_moments(
            sample,
            y,
            activation,
            k,
            first,
            spectrum,
            noise_level,
            fit_intercept=fit_intercept,
            fit_hidden_bias=False,
            known_output=known_output,
            random_state=random_state,
        )
    # V^T P_2 V is diagonal: the eigenvalues of the chosen eigenvectors.
    second = np.diag(eigenvalues) if orders.j2 == 2 else None
    higher = sample.projected_hermite_moments(
        residual, basis, orders.j3, quadratic=second if drop_quadratic else None
    )
    moments = [basis.T @ first, second, *higher[2:]]
    decomposition = decompose_reduced_tensor(
        moments, orders, k, random_state, n_cp_draws
    )
    output_scale = 1.0 / (k * n_patches(sample)) if known_output else None
    signed_norms, output_weights, estimates = magnitudes_and_signs(
        decomposition, moments, activation, orders, y_scale, output_scale
    )
    hidden = sample.to_original(
        signed_norms[:, np.newaxis] * (basis @ decomposition.factors).T
    )
    params = NetworkParams(hidden, output_weights[np.newaxis, :], np.zeros(1))
    if not known_output:
        params = fit_intercept_and_flips(sample, y, params, activation, fit_intercept)
    diagnostics = _moment_diagnostics(
        orders,
        spectrum,
        noise_level,
        decomposition,
        k,
        cp_weights=decomposition.weights,
        magnitude_estimates=estimates,
    )
    return params, diagnostics


def _moment_diagnostics(orders, spectrum, noise_level, decomposition, k, **extra):
    """The diagnostics of a moment initialisation with ``k`` units, and the
    messages of its health checks."""
    return Bunch(
        fallback=False,
        moment_orders=orders,
        spectrum=spectrum,
        noise_level=noise_level,
        eigen_gap=_eigen_gap(spectrum, k, noise_level),
        signal_to_noise=_signal_to_noise(spectrum[k - 1], noise_level),
        cp_residual=decomposition.residual,
        **extra,
        messages=_health_problems(spectrum[k - 1], noise_level, decomposition.residual),
    )


def _uninformative_moments(
    sample,
    y,
    activation,
    k,
    first,
    spectrum,
    noise_level,
    *,
    fit_intercept,
    fit_hidden_bias,
    known_output,
    random_state,
):
    """The fallback initialisation when no moment stands above its noise."""
    message = (
        "The moments of the data carry no information about hidden units above "
        f"their sampling noise (largest eigenvalue {spectrum[0]:.3g}, noise level "
        f"{noise_level:.3g}): y may be linear in X, or the sample too small. "
        "Falling back to units along the linear trend and random directions, "
        "with output weights fitted by least squares."
    )
    params = fallback_initialization(
        sample, y, activation, k, first, fit_intercept, known_output, random_state
    )
    if fit_hidden_bias:
        params = params._replace(hidden_biases=np.zeros(k))
    diagnostics = Bunch(
        fallback=True,
        moment_orders=activation.moment_orders,
        spectrum=spectrum,
        noise_level=noise_level,
        signal_to_noise=_signal_to_noise(spectrum[0], noise_level),
        messages=[message],
    )
    return params, diagnostics


def biased_tensor_initialization(
    sample,
    y,
    activation,
    n_hidden,
    *,
    fit_intercept=True,
    known_output=False,
    n_cp_draws=50,
    moments="control_variates",
    min_signal_to_noise=None,
    random_state,
):
    """The tensor initialisation of units with biases, ``phi(w^T x + b)``.

    The moments keep their rank-one structure, ``M_j = sum_i v_i m_j(s_i, b_i)
    u_i^{(x)j}`` (``w_i = s_i u_i``), but a bias makes the constants that vanish
    at ``b = 0`` (``m_3`` of ReLU, ``m_2`` and ``m_4`` of tanh) small rather than
    zero, and those that do not can vanish (``m_4`` of ReLU at ``b = +-s``). So no
    single order is relied on: the span of the units is the range of the second
    moment and of a sketch of the third together (each scaled by its noise), and
    the directions come from the third moment plus the fourth contracted with a
    random vector (each scaled by its noise; the draw that explains both best is
    kept). Each unit's coefficients in the moments of orders 1 to 4 then give its
    norm, bias and output weight (:func:`~skrecover._magnitudes.fit_units`). The
    projected moments, whose noise spreads over far fewer entries than the
    subspace's sketch, read a random quarter of the rows when that is 100 000 or
    more (:func:`_projected_sample`).
    ``moments`` chooses the estimator of the moments (:func:`moment_labels`);
    ``min_signal_to_noise`` is that of :func:`tensor_initialization`.
    """
    y_scale = np.sqrt(weighted_variance(y, sample.sample_weight))
    first, residual, drop_quadratic = moment_labels(sample, y, moments)
    basis, spectrum, noise_level, second = _biased_subspace(
        sample, residual, n_hidden, random_state, y_scale
    )
    k = basis.shape[1]
    # The spectrum is the larger of two noise-normalised ones: the test of any
    # signal at all takes a margin (pure noise was seen to reach 1.35).
    informative = spectrum[0] > _NO_SIGNAL_MARGIN * noise_level
    weak = _weak_moments(spectrum, noise_level, k, informative, min_signal_to_noise)
    if weak is not None:
        return None, weak
    if not informative:
        return _uninformative_moments(
            sample,
            y,
            activation,
            k,
            first,
            spectrum,
            noise_level,
            fit_intercept=fit_intercept,
            fit_hidden_bias=True,
            known_output=known_output,
            random_state=random_state,
        )
    projected, projected_residual = _projected_sample(sample, residual, random_state)
    higher, halves = projected.projected_hermite_moments(
        projected_residual,
        basis,
        4,
        quadratic=second if drop_quadratic else None,
        return_halves=True,
    )
    moments = [basis.T @ first, second, higher[2], higher[3]]
    noise_energy = _noise_energy(projected, projected_residual, halves, k)
    candidates = [
        # The orders of units without biases, refined on the whole tensor: the
        # best directions when the biases are small.
        decompose_reduced_tensor(
            moments, activation.moment_orders, k, random_state, n_cp_draws
        ),
        _biased_directions(
            moments[2], moments[3], noise_energy, k, random_state, n_cp_draws
        ),
    ]
    scored, scored_y = _loss_sample(sample, y, random_state)
    starts = []
    for decomposition in candidates:
        factors = decomposition.factors / np.linalg.norm(decomposition.factors, axis=0)
        params, units = _biased_units(
            sample,
            y,
            residual,
            basis,
            factors,
            moments,
            halves,
            activation,
            higher_samples=projected.n_effective,
            fit_intercept=fit_intercept,
            known_output=known_output,
            y_scale=y_scale,
        )
        starts.append(("moments", params, units, decomposition))
        if not known_output:
            # On data far from the model, moment magnitudes can be absurd while the
            # directions still help: the same units with least-squares outputs.
            params = least_squares_outputs(
                scored, scored_y, params, activation, fit_intercept
            )
            starts.append(("moment directions", params, units, decomposition))
    trend = fallback_initialization(
        scored,
        scored_y,
        activation,
        k,
        first,
        fit_intercept,
        known_output,
        random_state,
    )
    trend = trend._replace(hidden_biases=np.zeros(k))
    starts.append(("linear trend", trend, units, decomposition))
    losses = [
        _sample_loss(scored, scored_y, start[1], activation, known_output)
        for start in starts
    ]
    best = int(np.argmin(losses))
    if starts[best][0] == "linear trend":
        moment_best = int(np.argmin(losses[:-1]))
        descended = [
            _descended_loss(
                scored, scored_y, starts[i][1], activation, fit_intercept, known_output
            )
            for i in (moment_best, best)
        ]
        best = moment_best if descended[0] < descended[1] else best
    start, params, units, decomposition = starts[best]
    diagnostics = _moment_diagnostics(
        activation.moment_orders,
        spectrum,
        noise_level,
        decomposition,
        k,
        start=start,
        unit_fit_chi2=units.chi2,
    )
    return params, diagnostics


def _biased_units(
    sample,
    y,
    residual,
    basis,
    factors,
    moments,
    halves,
    activation,
    *,
    fit_intercept,
    known_output,
    y_scale,
    higher_samples,
):
    """The network whose units point along ``factors`` (in the subspace), with
    norms, biases and output weights fitted to their moment coefficients (those of
    orders 3 and 4 estimated on ``higher_samples`` samples)."""
    k = factors.shape[1]
    coefficients = _unit_coefficients(moments, factors)
    errors = _coefficient_errors(sample, y, residual, factors, halves, higher_samples)
    fixed = np.full(k, 1.0 / (k * n_patches(sample))) if known_output else None
    units = fit_units(coefficients, errors, activation, fixed)
    scale, output = units.scale, units.output
    if not known_output:
        norms, output = guard_magnitudes(
            np.abs(scale), output, activation, y_scale, units.bias
        )
        scale = np.sign(scale) * norms
    floor = MIN_RELATIVE_NORM * max(np.abs(scale).max(), 1e-12)
    scale = np.where(np.abs(scale) < floor, np.where(scale < 0, -floor, floor), scale)
    hidden = sample.to_original(scale[:, np.newaxis] * (basis @ factors).T)
    params = NetworkParams(
        hidden, output[np.newaxis, :], np.zeros(1), units.bias.astype(float)
    )
    if not known_output:
        params = fit_intercept_and_flips(sample, y, params, activation, fit_intercept)
    return params, units


def _noise_energy(sample, residual, halves, k):
    """Squared norms of the sampling noise of the third and fourth moments: from
    their two independent halves, ``||M_a - M_b||^2 / 4``, or (no usable halves)
    ``k^j j! E[r^2] / n``."""
    if halves is not None:
        return [np.sum((a - b) ** 2) / 4 for a, b in zip(*halves, strict=True)][2:]
    variance = weighted_variance(residual, sample.sample_weight)
    return [k**j * special.factorial(j) * variance / sample.n_effective for j in (3, 4)]


def _projected_sample(sample, residual, random_state):
    """The rows of the projected moments and their labels: all of them, or a
    random ``_PROJECTED_SHARE`` of them when that is ``_PROJECTED_MIN_ROWS`` or
    more (read where they are, block by block, unless few)."""
    n_samples = len(sample.X)
    size = int(_PROJECTED_SHARE * n_samples)
    if size < _PROJECTED_MIN_ROWS:
        return sample, residual
    rows = random_rows(random_state, n_samples, size)
    return sample.subset(rows), residual[rows]


def _loss_sample(sample, y, random_state):
    """The rows on which candidate initialisations are fitted and compared, and
    their targets: all of them, or (gathered once, in memory) a random subsample
    of ``_LOSS_ROWS``."""
    n_samples = len(sample.X)
    if n_samples <= _LOSS_ROWS:
        return sample, y
    rows = random_rows(random_state, n_samples, _LOSS_ROWS)
    return sample.subset(rows, in_memory=True), take_rows(y, rows)


def _sample_loss(sample, y, params, activation, known_output):
    """The training loss of ``params``: squared (one forward pass), or the
    cross-entropy of the classifier's mean of probabilities."""
    targets = np.asarray(y, dtype=float)[:, np.newaxis]
    if not known_output:
        return squared_loss(
            sample.X,
            targets,
            sample.sample_weight,
            params,
            activation,
            patch_indices=sample.patch_indices,
        )
    return loss_gradient(
        sample.X,
        targets,
        sample.sample_weight,
        params,
        activation,
        loss="cross_entropy",
        patch_indices=sample.patch_indices,
    )[0]


def _descended_loss(sample, y, params, activation, fit_intercept, known_output):
    """The loss of ``params`` after ``_COMPARISON_ITERATIONS`` iterations of L-BFGS
    on the sample's rows, all parameters free.

    A start's own loss says little about the basin it lies in: the linear trend of
    a nearly linear network (sigmoid units of norm 1.5, whose third moment barely
    stands above its noise at a million rows) fits better than the moment units 10
    to 25 degrees off the teacher's, which then descend to the teacher within a
    few dozen iterations while the trend stalls (measured: 3.9e-3 against 1.9e-2
    after 10 iterations, 1.1e-5 against 1.2e-2 after 100). The rows (few, in
    memory) are read in float32: float32 rounding is far below such differences,
    and the iterations take a third less time.
    """
    free = ["hidden_weights", "hidden_biases"]
    free += ["intercept"] * fit_intercept + ["output_weights"] * (not known_output)
    rows = sample.X if is_dask(sample.X) else np.asarray(sample.X, dtype=np.float32)
    _, result = train_network(
        rows,
        np.asarray(y, dtype=float)[:, np.newaxis],
        sample.sample_weight,
        params,
        activation,
        free=free,
        loss="cross_entropy" if known_output else "squared",
        patch_indices=sample.patch_indices,
        max_iter=_COMPARISON_ITERATIONS,
    )
    return min(result.loss_curve, default=result.start_loss)


def _biased_subspace(sample, y, n_hidden, random_state, y_scale):
    """The span of the units, seen by the second moment or the third.

    Each of ``P_2`` and a sketch of ``M_3`` is divided by its noise edge (the
    spectral norm its sampling noise reaches) and weighted by the share of its
    energy above the noise, so that a moment without signal adds nothing; the
    basis is the top left singular vectors of the two side by side. The number of
    units (``"auto"``) is the larger of the counts of singular values above the
    edge in each. Returns the basis, the signal-to-noise spectrum (the larger of
    the two normalised spectra), its noise level 1, and ``V^T P_2 V``.
    """
    dim, n_effective = sample.dim, sample.n_effective
    cap = unit_cap(sample, n_hidden)
    n_sketch = max(4 * cap, cap + 8)
    left = _random_unit_columns(random_state, dim, n_sketch)
    right = _random_unit_columns(random_state, dim, n_sketch)
    sketch, sketch_variance = sample.m3_sketch(y, left, right, return_noise=True)
    if dim <= _FULL_MATRIX_MAX_FEATURES:
        second, second_variance = sample.p2_product(y, return_noise=True)
    else:
        probe = _random_unit_columns(random_state, dim, 2 * cap + 10)
        second, second_variance = sample.p2_product(y, probe, return_noise=True)
    # Noise edges: of a symmetric d x d noise matrix (P_2, as in unit_subspace),
    # and of a d x p sketch.
    blocks = []
    for block, variance, edge in (
        (second, second_variance, _symmetric_noise_edge(dim)),
        (
            sketch,
            sketch_variance,
            _SKETCH_NOISE_MARGIN * (np.sqrt(dim) + np.sqrt(n_sketch)),
        ),
    ):
        # Moments below 1e-8 of the scale of y are rounding, whatever their noise.
        noise = max(
            np.sqrt(variance / n_effective),
            _ROUNDING_LEVEL * y_scale,
            np.finfo(float).tiny,
        )
        energy = np.sum(block**2)
        share = max(0.0, 1.0 - block.size * noise**2 / energy) if energy > 0 else 0.0
        values = np.linalg.svd(block, compute_uv=False) / (noise * edge)
        blocks.append((share * block / (noise * edge), values))
    stacked = np.hstack([block for block, _ in blocks])
    vectors = _fix_signs(np.linalg.svd(stacked, full_matrices=False)[0])
    length = min(len(values) for _, values in blocks)
    spectrum = np.maximum(*(values[:length] for _, values in blocks))
    noise_level = 1.0
    k = _choose_n_hidden(spectrum, noise_level, cap) if n_hidden == "auto" else n_hidden
    basis = vectors[:, :k]
    if dim <= _FULL_MATRIX_MAX_FEATURES:
        quadratic = basis.T @ second @ basis
    else:
        quadratic = basis.T @ sample.p2_product(y, basis)
    return basis, spectrum, float(noise_level), (quadratic + quadratic.T) / 2


def _symmetric_noise_edge(dim):
    """Where the largest eigenvalue of a symmetric ``d x d`` noise matrix with
    entries of unit variance stays: ``2 sqrt(d)`` plus its Tracy-Widom fluctuation
    ``d^(-1/6)`` times 2.5 (the 99th percentile is about 2), which matters for
    small ``d``."""
    return 2 * np.sqrt(dim) + 2.5 * dim ** (-1 / 6)


def unit_cap(sample, n_hidden):
    """At most this many units: ``n_hidden``, or for "auto" what the dimension and
    the samples allow (``k (d + 1)`` at most the number of samples), at most 20."""
    if n_hidden != "auto":
        return n_hidden
    by_samples = max(1, int(sample.n_effective // (sample.dim + 1)))
    return min(sample.dim, _MAX_AUTO_UNITS, by_samples)


def _biased_directions(third, fourth, noise_energy, k, random_state, n_cp_draws):
    """Unit directions (columns) from ``M_3`` plus ``M_4(., ., ., beta)``.

    Each moment is divided by its noise per entry and weighted by the share of
    its energy above the noise (``max(0, 1 - N / ||M||^2)``), so that an order
    with no signal (the third of unbiased ReLU units, the fourth of unbiased tanh)
    adds nothing; over random unit ``beta``, the draw whose decomposition leaves
    the smallest relative residual is kept and refined (a
    :class:`~skrecover._tensor.SymmetricCP`).
    """
    tensors = []
    for moment, noise in zip((third, fourth), noise_energy, strict=True):
        energy = np.sum(moment**2)
        share = max(0.0, 1.0 - noise / energy) if energy > 0 else 0.0
        per_entry = np.sqrt(max(noise, 1e-300) / moment.size)
        tensors.append(share * moment / per_entry)
    draws = max(1, n_cp_draws // _N_CONTRACTIONS)
    best = None
    for _ in range(_N_CONTRACTIONS):
        beta = random_state.standard_normal(k)
        beta /= np.linalg.norm(beta)
        combined = tensors[0] + np.tensordot(tensors[1], beta, axes=(3, 0))
        decomposition = symmetric_cp(
            combined, k, n_draws=draws, refine=False, random_state=random_state
        )
        if best is None or decomposition.residual < best[0].residual:
            best = decomposition, combined
    return refine_symmetric_cp(best[1], best[0])


def _unit_coefficients(moments, factors, orders=None):
    """Least-squares coefficients ``c_{j,i}`` of ``M_j = sum_i c_{j,i} u_i^{(x)j}``
    for the moments of ``orders`` (default ``1..len(moments)``), shape
    (k, n_orders)."""
    k = factors.shape[1]
    orders = range(1, len(moments) + 1) if orders is None else orders
    coefficients = np.empty((k, len(moments)))
    for column, (j, moment) in enumerate(zip(orders, moments, strict=True)):
        design = _rank_one_terms(factors, j).reshape(k, -1).T
        coefficients[:, column] = np.linalg.lstsq(design, moment.ravel(), rcond=None)[0]
    return coefficients


def _coefficient_errors(sample, y, residual, factors, halves, higher_samples):
    """Standard errors of the coefficients, shape (k, 4).

    ``sqrt(j! E[r^2] / n) sqrt(((U^T U)^{.j})^{-1}_ii)`` (the noise of a moment along
    a unit direction, with ``r`` the labels of that moment and ``n`` its samples,
    ``higher_samples`` for orders 3 and 4); for orders 3 and 4, when the two
    independent halves of their rows are there, from the difference of their
    coefficients, pooled over the units.
    """
    k = factors.shape[1]
    gram = factors.T @ factors
    errors = np.empty((k, 4))
    orders = ((1, y, sample.n_effective), (2, residual, sample.n_effective))
    if halves is None:
        orders += ((3, residual, higher_samples), (4, residual, higher_samples))
    for j, labels, n in orders:
        variance = weighted_variance(labels, sample.sample_weight)
        inverse = np.diag(np.linalg.pinv(gram**j))
        errors[:, j - 1] = np.sqrt(
            special.factorial(j) * variance / n * np.maximum(inverse, 0.0)
        )
    if halves is None:
        return errors
    even, odd = (_unit_coefficients(half[2:4], factors, (3, 4)) for half in halves)
    for column, j in enumerate((3, 4)):
        pooled = np.mean((even[:, column] - odd[:, column]) ** 2) / 4
        inverse = np.maximum(np.diag(np.linalg.pinv(gram**j)), 0.0)
        errors[:, j - 1] = np.sqrt(pooled * inverse / max(inverse.mean(), 1e-300))
    return np.maximum(errors, 1e-12 * np.abs(errors).max(initial=1e-300))


def linear_residual(sample, y):
    """The first Hermite moment and ``y`` minus its constant and linear terms.

    Hermite control variates: the moments of order >= 2 of the residual are those of
    ``y`` (Hermite polynomials of different orders are orthogonal), and their
    estimates are far less noisy. (Moments of order >= 3 get the quadratic term
    removed too, in :func:`~skrecover._moments.projected_hermite_moments`.)
    """
    centred = y - np.average(y, weights=sample.sample_weight)
    first = sample.first_moment(centred)
    return first, sample.remove_linear_part(centred, first)


def moment_labels(sample, y, moments="control_variates"):
    """The first moment, the labels of the higher moments, and whether the moments
    of order >= 3 also drop the quadratic Hermite term of those labels.

    ``"control_variates"``: :func:`linear_residual`, and the quadratic term dropped
    (``quadratic`` of :func:`~skrecover._moments.projected_hermite_moments`).
    ``"paper"``: the empirical moments of Zhong et al. (2017, Definition 5.1),
    ``M_1 = mean(y x)``, ``M_2 = mean(y (x x^T - I))``, ``M_3 = mean(y (x^(x)3 -
    sym(x (x) I)))``, ``M_4 = mean(y He_4(x))``, all with the labels as observed
    (``y`` plus the ``label_offset`` of the sample, the constant an estimator
    with an intercept centred them by): unbiased too, but noisier.
    """
    if moments == "paper":
        labels = y + sample.label_offset
        return sample.first_moment(labels), labels, False
    return (*linear_residual(sample, y), True)


def unit_subspace(sample, y, orders, n_hidden, random_state, y_scale):
    """Orthonormal basis of the span of the hidden units (Step 2 of Algorithm 1).

    ``j2 = 2``: top eigenvectors of ``P_2`` by absolute eigenvalue (``P_2`` is
    indefinite). ``j2 = 3``: top left singular vectors of a sketch of the third moment
    with many random contraction pairs (one contraction loses units whose weight
    along it is small).

    Returns
    -------
    basis : ndarray of shape (dim, k)
    spectrum : ndarray
        Leading absolute eigenvalues (singular values), decreasing.
    noise_level : float
        Estimated spectral norm of the sampling noise of the moment matrix, at least
        ``1e-8 y_scale`` (rounding).
    eigenvalues : ndarray of shape (k,) or None
        The signed eigenvalues of ``P_2`` for the basis vectors (``j2 = 2``).
    """
    dim = sample.dim
    auto = n_hidden == "auto"
    n_effective = sample.n_effective
    cap = unit_cap(sample, n_hidden)
    if orders.j2 == 2:
        vectors, values, entry_variance, signed = _p2_eigenvectors(
            sample, y, cap, random_state
        )
        noise_level = _symmetric_noise_edge(dim) * np.sqrt(entry_variance / n_effective)
    elif orders.j2 == 3:
        n_sketch = max(4 * cap, cap + 8)
        left = _random_unit_columns(random_state, dim, n_sketch)
        right = _random_unit_columns(random_state, dim, n_sketch)
        sketch, entry_variance = sample.m3_sketch(y, left, right, return_noise=True)
        vectors, values, _ = np.linalg.svd(sketch, full_matrices=False)
        vectors = _fix_signs(vectors)
        # Edge of the singular values of a dim x n_sketch noise matrix, widened by
        # 1.2: the sketch's columns share the samples, so its noise is correlated
        # (measured: the top noise singular value reaches 1.05 times the iid edge).
        noise_level = (
            _SKETCH_NOISE_MARGIN
            * np.sqrt(entry_variance / n_effective)
            * (np.sqrt(dim) + np.sqrt(n_sketch))
        )
    else:
        raise ValueError(
            f"Moment order j2={orders.j2} is not supported: the activation's second "
            "and third Hermite constants vanish. Use init='random'."
        )
    noise_level = max(noise_level, _ROUNDING_LEVEL * y_scale)
    k = _choose_n_hidden(values, noise_level, cap) if auto else n_hidden
    eigenvalues = signed[:k] if orders.j2 == 2 else None
    return vectors[:, :k], values, float(noise_level), eigenvalues


def _p2_eigenvectors(sample, y, cap, random_state):
    """Eigenvectors of ``P_2`` sorted by decreasing absolute eigenvalue."""
    dim = sample.dim
    if dim <= _FULL_MATRIX_MAX_FEATURES:
        matrix, entry_variance = sample.p2_product(y, return_noise=True)
    else:
        # Randomized subspace iteration: power iteration finds the eigenvalues of
        # largest magnitude whatever their signs.
        block = min(dim, 2 * cap + 10)
        basis = np.linalg.qr(random_state.standard_normal((dim, block)))[0]
        for _ in range(_SUBSPACE_ITERATIONS):
            basis = np.linalg.qr(sample.p2_product(y, basis))[0]
        product, entry_variance = sample.p2_product(y, basis, return_noise=True)
        matrix = basis.T @ product
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    order = np.argsort(-np.abs(values), kind="stable")
    vectors = vectors[:, order]
    if dim > _FULL_MATRIX_MAX_FEATURES:
        vectors = basis @ vectors
    return _fix_signs(vectors), np.abs(values[order]), entry_variance, values[order]


def _fix_signs(vectors):
    """Flip columns so that each has a positive sum (eigenvector signs are arbitrary
    and would otherwise change with rounding)."""
    sums = vectors.sum(axis=0)
    return vectors * np.where(sums < 0, -1.0, 1.0)


def _random_unit_columns(random_state, n_rows, n_columns):
    columns = random_state.standard_normal((n_rows, n_columns))
    return columns / np.linalg.norm(columns, axis=0)


def _choose_n_hidden(values, noise_level, cap):
    """The number of moment eigenvalues above their sampling-noise level.

    With none above it the moments carry no information about the units; 2 units
    (at most ``cap``) are then used.
    """
    above = int(np.sum(values[:cap] > noise_level))
    return above if above else min(2, cap)


def _weak_moments(spectrum, noise_level, k, informative, min_signal_to_noise):
    """The diagnostics of moments whose signal-to-noise ratio (of the weakest of
    ``k`` units, or of the strongest when none is ``informative``, as the finished
    initialisation reports it) is below ``min_signal_to_noise``; else None."""
    if min_signal_to_noise is None:
        return None
    eigenvalue = spectrum[k - 1] if informative else spectrum[0]
    ratio = _signal_to_noise(eigenvalue, noise_level)
    if ratio >= min_signal_to_noise:
        return None
    return Bunch(signal_to_noise=ratio, messages=[])


def _signal_to_noise(eigenvalue, noise_level):
    return float(eigenvalue / max(noise_level, np.finfo(float).tiny))


def _eigen_gap(spectrum, k, noise_level):
    following = spectrum[k] if k < len(spectrum) else 0.0
    return float(spectrum[k - 1] / max(following, noise_level, np.finfo(float).tiny))


def decompose_reduced_tensor(moments, orders, k, random_state, n_cp_draws):
    """CP decomposition of the reduced moment tensor (Steps 3-4).

    ``j3 = 3``: the third Hermite moment in the unit subspace. ``j3 = 4`` (ReLU
    family): the fourth, contracted with a random unit vector ``beta`` of the subspace
    to a third-order tensor for Jennrich's algorithm, then refined on the whole
    fourth-order tensor (a single contraction weighs unit ``i`` by ``beta^T u_i``,
    which can be small). Several ``beta`` are tried, until two refinements agree on
    the smallest residual; the smallest residual wins.
    """
    if orders.j3 == 3:
        return symmetric_cp(
            moments[2], k, n_draws=n_cp_draws, random_state=random_state
        )
    fourth = moments[3]
    draws = max(1, n_cp_draws // _N_CONTRACTIONS)
    best, residuals = None, []
    for _ in range(_N_CONTRACTIONS):
        beta = random_state.standard_normal(k)
        beta /= np.linalg.norm(beta)
        contracted = np.tensordot(fourth, beta, axes=(3, 0))
        start = symmetric_cp(
            contracted, k, n_draws=draws, refine=False, random_state=random_state
        )
        candidate = refine_symmetric_cp(fourth, fit_cp_weights(fourth, start.factors))
        residuals.append(candidate.residual)
        if best is None or candidate.residual < best.residual:
            best = candidate
        # Refinements from independent contractions that end on the same lowest
        # residual have found its minimum: the others would end there too.
        if np.sum(np.isclose(residuals, best.residual, rtol=1e-6)) >= 2:
            break
    return best


def _health_problems(weakest, noise_level, cp_residual):
    """Why the initialisation is unreliable (an empty list when it is healthy)."""
    problems = []
    if weakest <= noise_level:
        problems.append(
            f"the weakest unit's moment eigenvalue {weakest:.3g} is within the "
            f"sampling noise ({noise_level:.3g})"
        )
    if cp_residual > _MAX_CP_RESIDUAL:
        problems.append(
            f"the tensor decomposition leaves a relative residual of {cp_residual:.3g} "
            f"(> {_MAX_CP_RESIDUAL})"
        )
    if not problems:
        return []
    return [
        "The tensor initialisation is unreliable: "
        + " and ".join(problems)
        + ". More samples, fewer hidden units (n_hidden) or standardised Gaussian "
        "inputs make it reliable; gradient descent still runs from it."
    ]


def fallback_initialization(
    sample,
    y,
    activation,
    n_hidden,
    first,
    fit_intercept,
    known_output,
    random_state,
):
    """Initialisation when the moments carry no information about the units.

    The first two units point along and against the linear trend ``E[y x]`` (for
    the ReLU family, ``phi(t) - phi(-t)`` is linear), the others in random
    directions; the output weights (and the intercept) are then fitted by weighted
    least squares on the hidden features.
    """
    directions = random_state.standard_normal((n_hidden, sample.dim))
    trend = np.linalg.norm(first)
    if trend > 0:
        directions[0] = first / trend
        if n_hidden > 1:
            directions[1] = -first / trend
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    hidden = sample.to_original(directions)
    if known_output:
        output = np.full(n_hidden, 1.0 / (n_hidden * n_patches(sample)))
        return NetworkParams(hidden, output[np.newaxis, :], np.zeros(1))
    params = NetworkParams(hidden, np.ones((1, n_hidden)), np.zeros(1))
    return least_squares_outputs(sample, y, params, activation, fit_intercept)


def least_squares_outputs(sample, y, params, activation, fit_intercept):
    """``params`` with the output weights (and intercept) that fit ``y`` best, by
    weighted least squares on the hidden features of the sample's rows."""
    X, weights = sample.X, sample.sample_weight
    features = hidden_features(
        X,
        params.hidden_weights,
        activation,
        patch_indices=sample.patch_indices,
        hidden_biases=params.hidden_biases,
    )
    n_hidden = features.shape[1]
    if is_dask(features):
        from ._dask import weighted_lstsq

        coefficients = weighted_lstsq(
            features, y, weights, intercept=fit_intercept, rcond=_LSTSQ_RCOND
        )
    else:
        if fit_intercept:
            features = np.column_stack([features, np.ones(len(features))])
        root = np.sqrt(weights)[:, np.newaxis]
        coefficients = np.linalg.lstsq(
            features * root, np.asarray(y, dtype=float) * root[:, 0], rcond=_LSTSQ_RCOND
        )[0]
    output = coefficients[:n_hidden]
    intercept = coefficients[n_hidden:] if fit_intercept else np.zeros(1)
    output = np.where(output == 0, 1e-3, output)
    return params._replace(
        output_weights=output[np.newaxis, :], intercept=np.asarray(intercept, float)
    )


def units_centred_on_inputs(sample, params):
    """``params`` with every unit whose pre-activations are dominated by an offset
    recentred, and the number of such units.

    The moments place a unit for centred inputs, on which ``w^T x`` spreads as
    ``N(0, |w|^2)`` about the unit's bias (``|w|`` in whitened coordinates). On
    inputs far from centred (raw pixel intensities, say), ``w^T x`` has a mean
    ``m`` beyond ``_OFFSET_DOMINATED`` times its spread ``s``: every row falls on
    the same side of the unit's ramp, and the descent from there was measured to
    stall at chance level. ``w -> r w`` and ``c -> c - r m``, with ``r = |w| / s``,
    give the unit that spread about its bias on these inputs. ``m`` and ``s`` come
    from evenly spaced rows (no random draw: the fit's random stream is unchanged).
    Units without biases cannot be recentred and are left as they are.
    """
    if params.hidden_biases is None:
        return params, 0
    n_rows = len(sample.sample_weight)
    rows = np.arange(0, n_rows, max(1, n_rows // _UNIT_STATISTICS_ROWS))
    X = np.asarray(take_rows(sample.X, rows), dtype=np.float64)
    pre = pre_activations(
        gather_patches(X, sample.patch_indices), params.hidden_weights
    )
    weights = np.repeat(np.asarray(take_rows(sample.sample_weight, rows)), pre.shape[1])
    if not weights.sum() > 0:  # the spaced rows all weigh 0 (weights in a pattern)
        weights = np.ones_like(weights)
    pre = pre.reshape(-1, pre.shape[-1])
    mean = np.average(pre, axis=0, weights=weights)
    spread = np.sqrt(np.average((pre - mean) ** 2, axis=0, weights=weights))
    offset = np.abs(mean) > _OFFSET_DOMINATED * spread
    if not offset.any():
        return params, 0
    units = params.hidden_weights
    if sample.whitening is not None:
        units = np.linalg.lstsq(sample.whitening, units.T, rcond=None)[0].T
    intended = np.linalg.norm(units, axis=1)
    ratio = np.where(
        offset & (spread > 0), intended / np.maximum(spread, np.finfo(float).tiny), 1.0
    )
    return params._replace(
        hidden_weights=params.hidden_weights * ratio[:, np.newaxis],
        hidden_biases=params.hidden_biases - np.where(offset, ratio * mean, 0.0),
    ), int(offset.sum())


def random_initialization(
    sample,
    y,
    activation,
    n_hidden,
    *,
    fit_intercept=True,
    fit_hidden_bias=False,
    known_output=False,
    n_cp_draws=None,
    moments="control_variates",
    random_state,
):
    """Gaussian hidden units of unit norm (in whitened coordinates) and random signs.

    The output weights are scaled so that the network's output has about the
    standard deviation of ``y`` (or, with ``known_output``, are
    ``1 / (n_hidden n_patches)``). ``n_hidden="auto"`` uses the spectrum of ``P_2``
    (as the tensor initialisation does, with the same ``moments``) to choose the
    number of units.
    """
    y_sd = np.sqrt(weighted_variance(y, sample.sample_weight))
    if n_hidden == "auto":
        n_hidden = unit_subspace(
            sample,
            moment_labels(sample, y, moments)[1],
            activation.moment_orders,
            "auto",
            random_state,
            y_sd,
        )[0].shape[1]
    directions = random_state.standard_normal((n_hidden, sample.dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    n_units = n_hidden * n_patches(sample)
    if known_output:
        output = np.full(n_hidden, 1.0 / n_units)
    else:
        unit_sd = max(float(output_sd(activation, 1.0)), 1e-12)
        output = random_state.choice([-1.0, 1.0], n_hidden) * (
            max(y_sd, 1e-12) / (unit_sd * np.sqrt(n_units))
        )
    params = NetworkParams(
        sample.to_original(directions),
        output[np.newaxis, :],
        np.zeros(1),
        np.zeros(n_hidden) if fit_hidden_bias else None,
    )
    if not known_output:
        params = fit_intercept_and_flips(sample, y, params, activation, fit_intercept)
    return params, Bunch(fallback=False, messages=[])
