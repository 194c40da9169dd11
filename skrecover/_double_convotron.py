"""Double Convotron (Du, Goel, 2018): a convolutional filter and its output weights."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    BaseRecovery,
    activation_constraint,
    least_squares_pass,
    weighted_variance,
)
from ._convotron import _BaseConvotron
from ._convotron_updates import (
    LOSS_FLOOR,
    MINIBATCH_SIZE,
    Updates,
    leaky_relu,
    run_epochs,
    solve_batch,
    step_size,
)
from ._engine import reduce_rows, scan_rows, take_rows
from .exceptions import AssumptionWarning
from .patches import make_patch_indices

# Iterations of the batch Convotrons of the second stage.
_STAGE2_MAX_ITER = 5000


class DoubleConvotron(_BaseConvotron):
    r"""Double Convotron: learns a convolutional filter and its output weights.

    Fits ``f(x) = sum_l a_l phi(w^T x_l) + c`` over 1-D strided patches, learning
    the filter ``w``, the output weights ``a`` (Du and Goel, 2018) and an output
    intercept ``c``, in three stages:

    1. ``(w_non, a)``, where ``w_non`` is the part of the filter no two patches
       share, from the rank-one matrix ``E[y x_{l,non}] = c a_l w_non``: its top
       singular pair (``stage1="spectral"``), or the paper's noisy stochastic
       updates (``"sgd"``), whose mean on symmetric inputs is the gradient of the
       rank-one factorisation of that matrix with a balancing term;
    2. :class:`Convotron` with the output layer fixed at ``a`` and at ``-a`` (the
       sign stage 1 cannot see), each from ``w = 0``;
    3. the candidate with the lower training loss;
    4. (``refine_iter`` rounds) the output weights by least squares given the
       filter, then the filter by the batch Convotron given them, from where it
       is, while the training loss falls. Stage 1 sees ``a`` only through the
       filter's exclusive part: when that is small, its ``a`` is noisy (test R^2
       0.31-0.85 at 10 000 samples on the generator's default teacher, stage-1
       signal-to-noise 0.9-1.8), and these rounds make it exact (0.996-1).

    Parameters
    ----------
    patch_size : int, default=None
        Patch length ``r`` of the 1-D signal; ``None`` is one patch of all features
        (a single unit ``a phi(w^T x)``).
    stride : int, default=None
        Step ``s`` between patches, at least ``r // 2 + 1`` so that only neighbours
        overlap; ``None`` is the patch size.
    activation : {"relu", "leaky_relu", "linear"} or LeakyReLU, default="relu"
        Leaky ReLU with slope ``gamma`` in [0, 1).
    stage1 : {"spectral", "sgd"}, default="spectral"
        ``"spectral"``: the top singular pair of the weighted empirical matrix
        ``E[y x_{l,non}]`` (one pass, deterministic; the point the paper's
        dynamics converge to). ``"sgd"``: the paper's noisy stochastic updates from
        a small random start.
    learning_rate : float, default=1e-4
        Step size of ``stage1="sgd"`` (the paper's, for standardised inputs).
    max_iter : int, default=10000
        Updates ``T1`` of ``stage1="sgd"`` (one sample each, drawn in proportion to
        the sample weights). Measured on ``r = 16``: the paper's budget
        (``eta T1 = 1``) leaves the saddle at 0 for about one teacher in ten;
        ``eta T1 = 10`` is safer.
    perturbation_scale : float, default=1.0
        Radius of the uniform spherical noise added to each ``"sgd"`` update.
    fit_intercept : bool, default=True
        Fit the output intercept ``c``: stage 1 uses ``E[(y - E y) x]``, where a
        constant cancels on symmetric inputs, and the stage-2 Convotrons fit ``c``
        as the mean residual. ``False`` is the paper's model.
    convotron_solver : {"batch", "minibatch", "stochastic"}, default="batch"
        Solver of the two stage-2 Convotrons (automatic step size).
    tol : float, default=1e-8
        Tolerance of the stage-2 Convotrons; stage 4 stops when a round lowers
        the training loss by less than this fraction.
    refine_iter : int, default=5
        Rounds of stage 4; 0 is the paper's algorithm.
    verbose : int, default=0
        Print stage-2 progress.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, the sample order and the perturbations.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (1, patch_size)
        The filter ``w``, scaled so that ``||a|| = 1``.
    filter_ : ndarray of shape (patch_size,)
        The filter.
    patch_shape_ : tuple of int
        ``(patch_size,)``.
    output_weights_ : ndarray of shape (n_patches,)
        The output weights ``a``, of unit norm.
    intercept_ : float
        The output intercept ``c`` (0 with ``fit_intercept=False``).
    patch_indices_ : ndarray of shape (n_patches, patch_size)
        Feature indices of each patch.
    n_patches_ : int
        Number of patches.
    activation_ : LeakyReLU
        The activation used.
    sign_ : {1, -1}
        Which of ``a`` and ``-a`` from stage 1 stage 3 kept.
    candidate_losses_ : ndarray of shape (2,)
        Training losses of the candidates with ``+a`` and ``-a``.
    stage1_filter_ : ndarray of shape (2 s - r,)
        The exclusive part ``w_non`` of the filter after stage 1.
    stage1_singular_values_ : ndarray
        Singular values of ``E[y x_{l,non}]`` (``stage1="spectral"``): one dominates
        when the model holds.
    stage1_signal_to_noise_ : float
        The top singular value over where that of the matrix's sampling noise
        stays: below about 5, stage 1's ``a`` is noisy and stage 4 corrects it.
    refine_rounds_ : int
        Rounds of stage 4 that lowered the training loss (and were kept).
    stage1_output_weights_ : ndarray of shape (n_patches,)
        ``a`` after stage 1.
    n_iter_ : int
        Stage-1 updates (0 for ``"spectral"``) plus the iterations of the chosen
        stage-2 Convotron.
    loss_curve_ : list of float
        Loss of the chosen stage-2 Convotron after each of its iterations.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    Convotron : The filter alone, with known output weights.

    Notes
    -----
    **Assumptions.** Inputs symmetric about 0 with identity covariance, bounded in
    theory; a stride :math:`s \ge \lfloor r / 2 \rfloor + 1` for patches of length
    :math:`r` (each patch has an exclusive middle of length :math:`2 s - r`);
    :math:`\phi` a leaky ReLU. :math:`(w, a)` and :math:`(c w, a / c)` are the same
    network for :math:`c > 0`: the output weights are reported with unit norm.

    **Guarantee.** With polynomially many samples and iterations (in the patch
    length, the number of patches and :math:`1 / \epsilon`) the excess risk is at
    most :math:`\epsilon` with high probability (Du and Goel, 2018, Thm. 3.1).

    References
    ----------
    S. S. Du, S. Goel. Improved Learning of One-hidden-layer Convolutional Neural
    Networks with Overlaps. arXiv:1805.07798, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skrecover import DoubleConvotron
    >>> from skrecover.datasets import make_teacher_convolution
    >>> X, y, teacher = make_teacher_convolution(
    ...     n_samples=5000, n_features=64, patch_size=8, stride=8,
    ...     output_weights="random", random_state=0)
    >>> model = DoubleConvotron(patch_size=8, random_state=0).fit(X, y)
    >>> cosine = model.output_weights_ @ teacher.output_weights
    >>> bool(np.arccos(min(cosine, 1.0)) < 0.1)
    True
    """

    # Its stage-1 moment needs the identity covariance too (mixture inputs, whose
    # covariance is not, gave R^2 0.17-0.8 silently).
    _input_assumption = "isotropic"
    _parameter_constraints: dict = {
        **BaseRecovery._parameter_constraints,
        "patch_size": [None, Interval(Integral, 1, None, closed="left")],
        "stride": [None, Interval(Integral, 1, None, closed="left")],
        "activation": activation_constraint(),
        "stage1": [StrOptions({"spectral", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "perturbation_scale": [Interval(Real, 0, None, closed="left")],
        "convotron_solver": [StrOptions({"batch", "minibatch", "stochastic"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "refine_iter": [Interval(Integral, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
    }

    def __init__(
        self,
        patch_size=None,
        *,
        stride=None,
        activation="relu",
        stage1="spectral",
        learning_rate=1e-4,
        max_iter=10_000,
        perturbation_scale=1.0,
        convotron_solver="batch",
        tol=1e-8,
        refine_iter=5,
        fit_intercept=True,
        verbose=0,
        random_state=None,
    ):
        self.patch_size = patch_size
        self.stride = stride
        self.activation = activation
        self.stage1 = stage1
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.perturbation_scale = perturbation_scale
        self.convotron_solver = convotron_solver
        self.tol = tol
        self.refine_iter = refine_iter
        self.fit_intercept = fit_intercept
        self.verbose = verbose
        self.random_state = random_state

    def _initialize(self, state):
        """Stage 1, and the drift spectrum both stage-2 candidates share."""
        data = state.data
        n_features = data.X.shape[1]
        size = n_features if self.patch_size is None else self.patch_size
        if size > n_features:
            raise ValueError(
                f"patch_size={size} is larger than the {n_features} features."
            )
        layout = make_patch_indices(n_features, size, stride=self.stride)
        r = layout.shape[1]
        s = r if self.stride is None else self.stride
        if s < r // 2 + 1:
            raise ValueError(
                f"stride={s} is below patch_size // 2 + 1 = {r // 2 + 1}: Double "
                "Convotron needs patches that overlap only their neighbours, each "
                "with an exclusive middle part."
            )
        activation = leaky_relu(self.activation)
        exclusive = layout[:, np.arange(r - s, s) if s < r else np.arange(r)]
        moment, variance = _exclusive_moment(
            data.X, data.y[:, 0], data.sample_weight, exclusive
        )
        singular_values = np.linalg.svd(moment, compute_uv=False)
        # Where the top singular value of a noise matrix of this shape stays.
        noise = np.sqrt(variance / float(data.sample_weight.sum())) * (
            np.sqrt(moment.shape[0]) + np.sqrt(moment.shape[1])
        )
        if self.stage1 == "spectral":
            w_non, a = _spectral_stage1(moment, activation.slope)
            updates = 0
        else:
            w_non, a = self._sgd_stage1(state, exclusive, activation.slope, moment)
            updates = self.max_iter
        if not np.linalg.norm(a) > 0:
            state.report.warn(
                AssumptionWarning,
                "The stage-1 moment E[y x_l] is zero: y shows no filter through "
                "the patches' exclusive parts (constant or zero targets or inputs). "
                "The output weights are set to equal weights.",
            )
            a = np.full(len(layout), 1.0 / np.sqrt(len(layout)))
        problem, spectrum = self._drift_problem(
            state, layout, a, activation.slope, None
        )
        learning_rate = step_size(
            self.convotron_solver == "stochastic",
            activation.slope,
            spectrum.lambda_max,
            spectrum.mean_square,
            MINIBATCH_SIZE,
        )
        return Bunch(
            problem=problem,
            spectrum=spectrum,
            stage1=Bunch(
                filter=w_non,
                output_weights=a,
                singular_values=singular_values,
                signal_to_noise=float(singular_values[0] / max(noise, 1e-300)),
                updates=updates,
            ),
            learning_rate=1.0 if self.convotron_solver == "batch" else learning_rate,
        )

    def _sgd_stage1(self, state, exclusive, slope, moment):
        """Noisy stochastic updates of ``(w_non, a)`` (Du and Goel, Algorithm 1),
        with the blow-up guard of the other solvers."""
        data, random_state = state.data, state.random_state
        n_patches, length = exclusive.shape
        w = 0.1 * random_state.standard_normal(length) / np.sqrt(length)
        a = 0.1 * random_state.standard_normal(n_patches) / np.sqrt(n_patches)
        # The draws need every row's probability: the weights (not X) come to the
        # client when they are a dask array.
        weights = take_rows(data.sample_weight, slice(None))
        probability = weights / weights.sum()
        order = random_state.choice(len(data.y), size=self.max_iter, p=probability)
        noise = random_state.standard_normal((self.max_iter, length + n_patches))
        noise *= self.perturbation_scale / np.linalg.norm(noise, axis=1, keepdims=True)
        c = (1.0 + slope) / 2.0
        # Beyond this squared size the iterates have left any stationary point.
        ceiling = 1e6 * max(1.0, np.linalg.svd(moment, compute_uv=False)[0] / c)

        def block(stage, rows, targets):
            w, a, eta, position, halvings = stage
            patches = np.take(rows, exclusive, axis=1).astype(np.float64, copy=False)
            noises = noise[position : position + len(rows)]
            while True:
                new_w, new_a, size = _stage1_updates(
                    w, a, patches, targets, noises, eta, slope, length
                )
                if size <= ceiling:
                    return new_w, new_a, eta, position + len(rows), halvings
                eta, halvings = eta / 2, halvings + 1

        w, a, eta, _, halvings = scan_rows(
            block,
            (w, a, self.learning_rate, 0, 0),
            data.X,
            data.y[:, 0],
            order=order,
            width=4 * exclusive.size,
        )
        residual = np.linalg.norm(c * np.outer(w, a) - moment) / max(
            np.linalg.norm(moment), 1e-300
        )
        if halvings or residual > 0.5:
            diverged = (
                f"diverged with learning_rate={self.learning_rate} (the step was "
                f"halved {halvings} times, to {eta:.3g}); "
                if halvings
                else ""
            )
            state.report.warn(
                ConvergenceWarning,
                f"DoubleConvotron's stage1='sgd' {diverged}after max_iter="
                f"{self.max_iter} updates its rank-one fit of E[y x_l] leaves a "
                f"relative residual of {residual:.3g}. Lower learning_rate if it "
                "diverged, raise max_iter (or perturbation_scale to leave the saddle "
                "at 0) if it did not get there, or use stage1='spectral', which "
                "computes that fit exactly.",
            )
        return w, a

    def _optimize(self, state, start):
        """Stage 2 from ``+a`` and ``-a`` (the sign stage 1 cannot see), and
        stage 3: the candidate with the lower training loss."""
        data = state.data
        y = data.y[:, 0]
        options = {
            "max_iter": _STAGE2_MAX_ITER,
            "tol": self.tol,
            "n_iter_no_change": 10,
            "verbose": self.verbose,
            "loss_floor": LOSS_FLOOR * weighted_variance(data.y, data.sample_weight),
        }
        candidates = []
        zeros = np.zeros(start.problem.layout.shape[1])
        for sign in (1.0, -1.0):
            problem = start.problem._replace(output=sign * start.problem.output)
            if self.convotron_solver == "batch":
                result, intercept = solve_batch(
                    data.X, y, data.sample_weight, None, zeros, problem, **options
                )
            else:
                result, updates = run_epochs(
                    data.X,
                    y,
                    data.sample_weight,
                    None,
                    Updates(zeros, zeros, 0, start.learning_rate),
                    problem,
                    batch=1
                    if self.convotron_solver == "stochastic"
                    else MINIBATCH_SIZE,
                    average=False,
                    shuffle=True,
                    random_state=state.random_state,
                    **options,
                )
                intercept = updates.intercept
            loss = result.loss_curve[-1] if result.loss_curve else result.start_loss
            candidates.append((loss, sign, result, intercept))
        losses = np.array([candidate[0] for candidate in candidates])
        _, sign, result, intercept = candidates[int(np.argmin(losses))]
        if not result.converged:
            state.report.warn(
                ConvergenceWarning,
                f"DoubleConvotron's stage-2 Convotron stopped after {_STAGE2_MAX_ITER} "
                f"iterations without meeting tol={self.tol}: raise tol, or check the "
                "inputs (symmetric about 0, identity covariance).",
            )
        start.update(
            sign=sign,
            losses=losses,
            result=result,
            intercept=intercept,
            training_loss=float(losses.min()),
            refine_rounds=0,
        )
        return self._refine(state, start, options)

    def _refine(self, state, model, options):
        """Stage 4: rounds of the output weights by weighted least squares given
        the filter, then the filter by the batch Convotron given them (from the
        current filter), kept while the training loss falls by more than
        ``tol`` of its value."""
        data = state.data
        y = data.y[:, 0]
        layout, slope = model.problem.layout, model.problem.slope
        for _ in range(self.refine_iter):
            w = model.result.x
            output = _patch_least_squares(data, layout, w, slope, self.fit_intercept)
            if not np.linalg.norm(output) > 0:
                break
            problem, spectrum = self._drift_problem(state, layout, output, slope, None)
            result, intercept = solve_batch(
                data.X, y, data.sample_weight, None, w, problem, **options
            )
            loss = result.loss_curve[-1] if result.loss_curve else result.start_loss
            if not loss < model.training_loss * (1 - self.tol):
                break
            model.update(
                # (sign_ stays stage 3's choice: the fitted weights are sign * a.)
                problem=problem._replace(output=model.sign * output),
                spectrum=spectrum,
                result=result,
                intercept=intercept,
                training_loss=float(loss),
                refine_rounds=model.refine_rounds + 1,
            )
        return model

    def _fitted_attributes(self, state, model):
        scaling = state.data.scaling
        output = model.problem.output
        scale = np.linalg.norm(output)
        layout = model.problem.layout
        attributes = self._filter_attributes(
            # f = sum_l a_l phi(w^T x_l): the scale of a moves into w (phi homogeneous)
            model.result.x * scale,
            model.intercept,
            scaling,
            layout,
            model.sign * output / scale,
            model.problem.slope,
            (layout.shape[1],),
        )
        stage1 = model.stage1
        unit = scaling.y_scale**2
        return {
            **attributes,
            **self._spectrum_attributes(model.spectrum, scaling),
            "sign_": int(model.sign),
            "candidate_losses_": model.losses * unit,
            "stage1_filter_": stage1.filter * (scaling.y_scale / scaling.x_scale),
            "stage1_output_weights_": stage1.output_weights,
            "stage1_singular_values_": stage1.singular_values
            * (scaling.y_scale / scaling.x_scale),
            "stage1_signal_to_noise_": stage1.signal_to_noise,
            "refine_rounds_": model.refine_rounds,
            "n_iter_": stage1.updates + model.result.n_iter,
            "loss_curve_": [loss * unit for loss in model.result.loss_curve],
        }


def _patch_least_squares(data, layout, w, slope, fit_intercept):
    """The output weights ``a`` minimising the weighted squared loss of
    ``sum_l a_l phi(w^T x_l) + c`` for the filter ``w``, in one pass."""

    def features(rows):
        pre = np.take(rows, layout, axis=1).astype(np.float64, copy=False) @ w
        return np.where(pre > 0, pre, slope * pre)

    output, _, _ = least_squares_pass(
        features,
        data.X,
        data.y,
        data.sample_weight,
        fit_intercept=fit_intercept,
        width=2 * layout.size + 2 * (layout.shape[0] + 1),
    )
    return output[0]


def _exclusive_moment(X, y, sample_weight, exclusive_patches):
    """``E[y x_{l,non}]``, shape (exclusive length, n_patches), and the mean
    variance of one sample's entry ``y x_{l,j}`` (the noise of an entry is its
    square root over ``sqrt(n)``), in one pass."""

    def block(rows, targets, weights):
        patches = np.take(rows, exclusive_patches, axis=1).astype(
            np.float64, copy=False
        )
        products = targets[:, np.newaxis, np.newaxis] * patches
        return (
            np.einsum("n,nld->dl", weights, products),
            np.einsum("n,nld->dl", weights, products**2),
        )

    first, second = reduce_rows(
        block, X, y, sample_weight, width=4 * exclusive_patches.size
    )
    total = float(sample_weight.sum())
    moment = first / total
    return moment, float(np.mean(np.maximum(second / total - moment**2, 0.0)))


def _spectral_stage1(moment, slope):
    """Balanced top singular pair of ``E[y x_{l,non}] = c w_non a^T``.

    By the key identity, on symmetric inputs with identity covariance only patch
    ``l`` itself correlates with its exclusive part: the matrix has rank one.
    """
    left, values, right = np.linalg.svd(moment, full_matrices=False)
    size = np.sqrt(values[0] / ((1 + slope) / 2))
    return size * left[:, 0], size * right[0]


def _stage1_updates(w, a, patches, targets, noises, eta, slope, length):
    """The stochastic updates of one block of stage 1, one sample at a time, and
    the squared size of the result (inf once the iterates overflow)."""
    gain = 2.0 / (1.0 + slope)
    with np.errstate(over="ignore", invalid="ignore"):
        for P, target, xi in zip(patches, targets, noises, strict=True):
            pre = P @ w
            error = gain * (np.where(pre > 0, pre, slope * pre) @ a - target)
            balance = 0.5 * (w @ w - a @ a)
            g = error * (a @ P) + balance * w
            h = error * pre - balance * a
            w = w - eta * (g + xi[:length])
            a = a - eta * (h + xi[length:])
            size = w @ w + a @ a
            if not np.isfinite(size):
                return w, a, np.inf
    return w, a, size
