"""The method of moments for two-layer ReLU networks with symmetric inputs.

Ge, Kuditipudi, Li and Wang (ICLR 2019): for ``y = A relu(W x) + noise`` with ``x``
and ``-x`` equally likely, ``relu(t) = (t + |t|) / 2`` splits ``y`` into an odd part,
linear in ``x``, and an even part. The odd part gives ``P = A W``; a quadratic form in
``y`` that only a single neuron switches off (the pure-neuron detector), linearised
into a matrix ``T`` over symmetric matrices, has the neurons' directions as its null
space; a simultaneous diagonalisation separates them, the even part fixes their signs
and least squares gives ``A``.
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from scipy import linalg, optimize
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    BaseNetworkRecovery,
    BaseRecovery,
    Report,
    information_prefers,
    least_squares_pass,
    validation_split,
)
from ._certificate import ConfidenceIntervalsMixin, local_analysis
from ._engine import reduce_rows
from ._moments import hvec, hvec_map, hvec_outer, unhvec, whitening_from_moment
from ._network import NetworkParams, canonicalize, forward
from ._optim import train_network
from ._tensor import simultaneous_diagonalization
from .activations import ReLU
from .exceptions import AssumptionWarning

# Singular values of the whitened odd part above this multiple of its noise level
# count as hidden units (n_hidden="auto").
_RANK_MARGIN = 1.5
# n_hidden="auto" keeps one more unit only if the least-squares loss falls by this
# factor: a missing unit leaves its whole part of y in the residual (7 -> 8 units
# of 8: 2.31 -> 0.0053), where one more unit absorbs little of the moment
# estimates' error (3 -> 4 units of 3 at n = 3000: 0.0031 -> 0.0029, which the
# information criterion alone accepted).
_GROWTH_LOSS_RATIO = 2.0
# ... and tries it only while the fit leaves more than this fraction of the
# variance of y: a unit below it moves R^2 by less than 0.001, and the try costs a
# pass of the detector (8 -> 15.6 passes at n = 1e6, d = 50, k = 10, l = 20, where
# 10 units leave 2e-5).
_GROWTH_MIN_RESIDUAL = 1e-3
# Fit health: the null space of T must stand out by this ratio, and each neuron's
# sign must be this many standard errors from zero. (Noise-free teachers, 4 input
# families, k = 3 and 5: every recovered fit measured 30 or more; failures
# measured 2.4-3.8, which a threshold of 2 let pass silently, or more.)
_MIN_GAP_RATIO = 5.0
# With an output offset, the row-span test functions of at most this many units
# take random directions too (at 5 units they helped as many teachers as they
# hurt, and the cost grows as k^4).
_FEW_UNITS = 4
_MIN_SIGN_MARGIN = 3.0
# Starts of the search for the output offset, and how many must agree on the
# lowest minimum before it stops.
_OFFSET_STARTS = 32
_AGREEING_STARTS = 3
# BFGS on the offset stops at this gradient norm: the detector is of whitened
# outputs (unit scale). Measured against 1e-14: 54 instead of 200 evaluations of
# its SVD over the three starts, test R^2 unchanged to 1e-15 (3 teachers).
_OFFSET_GTOL = 1e-10


class MomentSums(NamedTuple):
    """Weighted sums of the moments the method needs (sums, not means).

    ``x``, ``x x^T``, ``y x^T``, ``y`` and ``y y^T`` always; with ``cross`` also
    the fourth-order ``hvec(x x^T) hvec(u u^T)^T`` and the third-order
    ``hvec(x x^T) u^T`` of ``u = (x, y)``, from which ``T`` and the offset's terms
    follow exactly for any whitening and test functions, since ``y~`` and ``z`` are
    linear in ``u`` (what ``partial_fit`` keeps: ``O(d^2 (d + l)^2)`` floats and
    work per sample).
    """

    weight: float
    x: np.ndarray
    xx: np.ndarray
    yx: np.ndarray
    y: np.ndarray
    yy: np.ndarray
    hu: np.ndarray | None
    hx: np.ndarray | None

    @classmethod
    def of(cls, X, Y, sample_weight, *, cross):
        """The sums over the rows of ``X`` and ``Y``, in one pass."""

        def block(x, y, w):
            x = x.astype(np.float64, copy=False)
            u = np.hstack([x, y])
            d = x.shape[1]
            # One product for x x^T, y x^T and y y^T: faster than three.
            second = (w[:, np.newaxis] * u).T @ u
            tested = w[:, np.newaxis] * hvec_outer(x) if cross else None
            return cls(
                float(w.sum()),
                w @ x,
                second[:d, :d],
                second[d:, :d],
                w @ y,
                second[d:, d:],
                tested.T @ hvec_outer(u) if cross else None,
                tested.T @ u if cross else None,
            )

        d, n_outputs = X.shape[1], Y.shape[1]
        width = 2 * (d + n_outputs) + (
            _n_pairs(d) + _n_pairs(d + n_outputs) if cross else 0
        )
        return reduce_rows(block, X, Y, sample_weight, width=width, threads=True)

    def __add__(self, other):
        if not isinstance(other, MomentSums):
            return NotImplemented
        return MomentSums(
            *(None if a is None else a + b for a, b in zip(self, other, strict=True))
        )

    def means(self):
        return Bunch(
            x=self.x / self.weight,
            xx=self.xx / self.weight,
            yx=self.yx / self.weight,
            y=self.y / self.weight,
            yy=self.yy / self.weight,
        )


def _n_pairs(dim):
    return dim * (dim + 1) // 2


class MomentRecovery(ConfidenceIntervalsMixin, RegressorMixin, BaseNetworkRecovery):
    r"""Two-layer ReLU network with symmetric inputs, learnt by the method of moments.

    Fits ``y = A relu(W x) + c + noise`` (``k`` hidden units, ``l >= k`` outputs,
    an output intercept ``c``, no hidden biases) when ``x`` and ``-x`` are equally
    likely, by the spectral algorithm of
    Ge, Kuditipudi, Li and Wang (2019): no Gaussian, independence or isotropy
    assumption on ``x``, no random start, no local minima. Noise independent of
    ``x`` is removed exactly. Optionally, a gradient refinement follows.

    Two passes over the data: the second moments (whitening of ``x`` and, through
    the odd part ``P = 2 E[y x^T] S^{-1}``, of the outputs), then the pure-neuron
    detector ``T`` accumulated in chunks; a third for ``A`` by least squares.

    Parameters
    ----------
    n_hidden : int or "auto", default="auto"
        Number of hidden units ``k``. ``"auto"`` counts the singular values of the
        whitened ``P`` above its noise level. At most the number of outputs and of
        features: the method needs ``l >= k`` and ``d >= k``.
    test_functions : {"rowspan", "full", "sketch"}, default="rowspan"
        Even functions of ``x`` the detector is tested against: ``x x^T``
        projected on the row span of ``P`` (``k (k + 1) / 2`` of them, cost
        ``O(n k^4)``; with ``fit_intercept`` and at most 4 units, on that span and
        ``2 k`` random directions orthogonal to it, as the output offset needs
        more), the full
        ``x x^T`` (``d (d + 1) / 2``, cost ``O(n d^2 k^2)``),
        or ``sketch_size`` squares ``(g^T x)^2`` along random directions.
    sketch_size : int, default=None
        Number of random directions for ``test_functions="sketch"``; ``None`` means
        ``3 k^2`` (at least ``k (k + 1) / 2 + 1``).
    n_diag_trials : int, default=20
        Random combinations tried by the simultaneous diagonalisation.
    fit_intercept : bool, default=True
        Fit the output intercept ``c`` (see Notes); ``False`` is the paper's
        model ``y = A relu(W x) + noise``.
    output_solver : {"lstsq", "moments"}, default="lstsq"
        ``A`` by least squares of ``y`` on ``relu(W x)`` (one more pass, uses the
        even part too), or in closed form from the odd part, ``A = P W^+``.
        ``partial_fit`` always uses ``"moments"``: it cannot revisit earlier chunks.
    refine : bool, default=False
        Refine ``A`` and ``W`` by full-batch L-BFGS on the squared loss, from the
        moment estimate, on all but a ``validation_fraction`` of the rows; the
        refined network is kept only when its loss on those held-out rows is lower.
    refine_max_iter : int, default=200
        Iterations of the refinement.
    tol : float, default=1e-6
        Relative improvement of the held-out loss below which the refinement stops.
    n_iter_no_change : int, default=10
        Iterations without ``tol`` improvement before the refinement stops.
    validation_fraction : float, default=0.1
        Share of rows held out to judge the refinement.
    symmetry_check : {"warn", "raise", "off"}, default="warn"
        What to do when the inputs are visibly not symmetric about 0 (per-feature
        means and skewness, third moments along random directions) or when the
        fit's own health checks fail (the detector's null space does not stand out,
        a neuron's sign is within noise): warn with the measured values, raise a
        ``ValueError``, or say nothing.
    certify : bool, default=False
        Compute ``certificate_`` after the fit and the covariance behind
        :meth:`confidence_intervals` (meant for ``refine=True``, whose fit ends at
        a minimum of the training loss; the moment estimate is not one). Costs
        three passes over the training rows, ``O(n l p^2)`` work and ``O(p^2)``
        memory for ``p`` trained parameters.
    random_state : int, RandomState instance or None, default=None
        Seed of the random combinations, sketches, diagnostics subsample and
        validation split.
    verbose : int, default=0
        Print the refinement's progress.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (`n_hidden_`, `n_features_in_`)
        Hidden units ``w_i`` as unit rows (ReLU is positively homogeneous: the
        scale lives in ``A``), ordered by decreasing ``||a_i||``.
    output_weights_ : ndarray of shape (`n_outputs_`, `n_hidden_`)
        ``A``.
    intercept_ : ndarray of shape (`n_outputs_`,)
        The output intercept ``c`` (zeros with ``fit_intercept=False``).
    n_hidden_ : int
    n_outputs_ : int
    refined_ : bool
        Whether the gradient refinement was kept.
    n_iter_ : int
        Refinement iterations (0 without).
    loss_curve_ : list of float
        Training loss of the refinement.
    diagnostics_ : Bunch
        ``p_singular_values`` (whitened odd part), ``t_singular_values`` (the
        ``2 k + 1`` smallest of the projected ``T``), ``t_gap_ratio`` (the
        ``(k+1)``-th over the ``k``-th smallest; >= 5 went with success, < 2 with
        failure), ``diagonalization_gap`` and ``anchored``, ``sign_margins`` (mean
        of each neuron's output over its standard error), and the input symmetry
        statistics ``mean_t_statistics``, ``skewness`` and ``direction_skewness``.
    certificate_ : Bunch
        Only with ``certify=True``: the gradient and Hessian of the training loss
        at the fitted network (unit hidden rows), the ``k`` directions its ReLU
        rescaling leaves flat removed, and the covariance behind
        :meth:`confidence_intervals`; the fields of ``TensorInitGD.certificate_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    TensorInitGD : One output, Gaussian inputs, any of five activations.
    sklearn.neural_network.MLPRegressor : Gradient training from random starts.

    Notes
    -----
    The model is identifiable up to a permutation of the units and a positive
    scale per unit; there is no sign ambiguity. The method needs :math:`k \le l`
    (one output cannot separate two neurons) and :math:`k \le d`, and works best for
    :math:`k \le d / 2`; it rests on fourth moments, so a few percent error takes
    :math:`n` around :math:`10^5`. Inputs symmetric about a point other than 0 add
    hidden biases the model cannot express: do not centre ``X`` unless it is
    symmetric about its mean.

    **Output intercept.** On symmetric inputs the odd moment does not see a
    constant (:math:`\mathbb{E}[c\, x^\top] = 0`), so :math:`P` is taken from
    :math:`y - \mathbb{E}[y]`. The detector :math:`T`, an even moment, does see it:
    in whitened outputs it is affine in the offset :math:`q`, and only the true
    :math:`q` leaves the :math:`k` pure neurons in its null space, so :math:`q` is
    the minimiser of the :math:`k` smallest singular values of :math:`T(q)` (BFGS
    from several starts until three agree). The signs of the neurons then come from
    :math:`\operatorname{Cov}(z_i^\top y, (w_i^\top x)^2)`, where a constant
    cancels, and :math:`A` and :math:`c` from least squares (or the odd part). With
    :math:`k = 1` there is no null space to pin :math:`q` down, and :math:`c` comes
    from the least squares alone.

    References
    ----------
    R. Ge, R. Kuditipudi, Z. Li, X. Wang. Learning Two-layer Neural Networks with
    Symmetric Inputs. ICLR 2019. arXiv:1810.06793.

    Examples
    --------
    >>> from skrecover import MomentRecovery
    >>> from skrecover.datasets import make_teacher_two_layer
    >>> from skrecover.metrics import recovery_error
    >>> X, y, teacher = make_teacher_two_layer(
    ...     n_samples=20_000, n_features=6, n_hidden=3, n_outputs=4,
    ...     distribution="uniform", noise=0.1, random_state=0)
    >>> model = MomentRecovery(random_state=0).fit(X, y)
    >>> model.hidden_weights_.shape, model.output_weights_.shape
    ((3, 6), (4, 3))
    >>> round(recovery_error(teacher, model), 2), model.diagnostics_["t_gap_ratio"] > 5
    (0.02, True)
    >>> model = MomentRecovery(refine=True, random_state=0).fit(X, y)
    >>> recovery_error(teacher, model) < 0.005
    True
    """

    _input_assumption = "symmetric"
    _parameter_constraints: dict = {
        **BaseRecovery._parameter_constraints,
        "n_hidden": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "test_functions": [StrOptions({"rowspan", "full", "sketch"})],
        "sketch_size": [None, Interval(Integral, 1, None, closed="left")],
        "n_diag_trials": [Interval(Integral, 1, None, closed="left")],
        "output_solver": [StrOptions({"lstsq", "moments"})],
        "refine": ["boolean"],
        "refine_max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "symmetry_check": [StrOptions({"warn", "raise", "off"})],
        "fit_intercept": ["boolean"],
        "certify": ["boolean"],
    }

    def __init__(
        self,
        n_hidden="auto",
        *,
        test_functions="rowspan",
        sketch_size=None,
        n_diag_trials=20,
        output_solver="lstsq",
        fit_intercept=True,
        refine=False,
        refine_max_iter=200,
        tol=1e-6,
        n_iter_no_change=10,
        validation_fraction=0.1,
        symmetry_check="warn",
        certify=False,
        random_state=None,
        verbose=0,
    ):
        self.n_hidden = n_hidden
        self.test_functions = test_functions
        self.sketch_size = sketch_size
        self.n_diag_trials = n_diag_trials
        self.output_solver = output_solver
        self.fit_intercept = fit_intercept
        self.refine = refine
        self.refine_max_iter = refine_max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.symmetry_check = symmetry_check
        self.certify = certify
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # One output means one ReLU unit without biases (the method needs as many
        # outputs as units): on targets no such network made, R^2 can be low.
        tags.regressor_tags.poor_score = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Add a chunk of data to the moments and re-estimate the network.

        The moments are accumulated exactly (they are sums), so fitting chunk by
        chunk gives the network ``fit`` gives with ``output_solver="moments"``, up to
        rounding. The first call fixes the number of features and outputs. Cost per
        sample ``O(d^2 (d^2 + l^2))``, memory ``O(d^4)``: for ``d`` up to about 50.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, symmetric about 0 in distribution.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights, counted as frequencies.

        Returns
        -------
        self : MomentRecovery
            Updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    # -- hooks of the fit sequence
    def _assumption_action(self):
        return self.symmetry_check

    def _stream_started(self):
        return hasattr(self, "_moment_sums_")

    def _initialize(self, state):
        data = state.data
        sums = MomentSums.of(data.X, data.y, data.sample_weight, cross=False)
        if self.n_hidden != "auto" or self.output_solver != "lstsq":
            return self._moment_estimate(state, sums, data)
        return self._grown_estimate(state, sums)

    def _grown_estimate(self, state, sums):
        """``n_hidden="auto"`` with least-squares output weights: the units the
        odd part's spectrum counts, then one more at a time while the fit leaves
        ``_GROWTH_MIN_RESIDUAL`` of the variance of y, the least-squares loss
        falls by ``_GROWTH_LOSS_RATIO`` with it, the Bayesian information
        criterion prefers it and the detector isolates it.
        A unit whose singular value of the odd part lies within its noise is
        found by the detector all the same: an output layer as wide as
        the hidden one is nearly singular (8 outputs of 8 units, d = 60: the 8th
        singular value 0.02-0.15; 7 units scored test R^2 0.62-0.76, 8 units
        0.9995-0.9999). Only the kept estimate's warnings are given."""
        data = state.data
        n = float(data.sample_weight.sum())
        n_outputs, n_features = data.y.shape[1], data.X.shape[1]
        best, n_hidden = None, None
        while n_hidden is None or n_hidden <= min(n_outputs, n_features):
            queued, state.report = state.report, Report()
            try:
                estimate = self._moment_estimate(state, sums, data, n_hidden)
            except ValueError:  # the odd part has rank below n_hidden
                if best is None:
                    raise
                break
            finally:
                estimate_report, state.report = state.report, queued
            estimate.fit = _least_squares_output(
                data.X, data.y, data.sample_weight, estimate.hidden, self.fit_intercept
            )
            estimate.report = estimate_report
            if best is not None and (
                # A unit the detector does not isolate is no unit; nor is one that
                # only absorbs part of the other units' estimation error.
                estimate_report.messages
                or estimate.fit[2] * _GROWTH_LOSS_RATIO > best.fit[2]
                or not information_prefers(
                    best.fit[2], estimate.fit[2], n, n_features + n_outputs
                )
            ):
                break
            best, n_hidden = estimate, estimate.odd.n_hidden + 1
            # (The variance of y from the sums: the trace of its covariance.)
            variance = np.trace(best.odd.means.covariance)
            if 2 * best.fit[2] <= _GROWTH_MIN_RESIDUAL * variance:
                break
        for category, messages in best.pop("report").messages.items():
            for message in messages:
                state.report.warn(category, message)
        return best

    def _optimize(self, state, start):
        """``A`` by least squares, then the optional held-out-checked refinement."""
        data = state.data
        hidden = start.hidden
        training_loss = None
        if self.output_solver == "lstsq":
            output, intercept, training_loss = start.get("fit") or (
                _least_squares_output(
                    data.X, data.y, data.sample_weight, hidden, self.fit_intercept
                )
            )
        else:
            output, intercept = _odd_part_output(start.odd, hidden, start.offset)
        params = NetworkParams(hidden, output, intercept)
        refined, result, fitted_rows = False, None, data.sample_weight
        if self.refine and self.refine_max_iter > 0:
            params, refined, result, fitted_rows = self._refine(
                state, params, start.odd.whitening
            )
        if refined or training_loss is None:
            training_loss = _held_out_loss(data.X, data.y, data.sample_weight, params)
        start.update(
            params=params,
            refined=refined,
            result=result,
            training_loss=training_loss,
            fitted_rows=fitted_rows,
        )
        return start

    def _partial_update(self, state):
        data = state.data
        sums = MomentSums.of(data.X, data.y, data.sample_weight, cross=True)
        if not state.first:
            sums = self._moment_sums_ + sums
        start = self._moment_estimate(state, sums)
        output, intercept = _odd_part_output(start.odd, start.hidden, start.offset)
        params = NetworkParams(start.hidden, output, intercept)
        start.update(params=params, refined=False, result=None)
        return start

    def _fitted_attributes(self, state, model):
        canonical = partial(canonicalize, activation=ReLU(), scale_to="hidden")
        params = canonical(state.data.scaling.to_original(model.params))
        result = model.result
        attributes = {
            "hidden_weights_": params.hidden_weights,
            "output_weights_": params.output_weights,
            "intercept_": params.intercept,
            "n_hidden_": len(params.hidden_weights),
            "n_outputs_": len(params.output_weights),
            "activation_": ReLU(),
            "refined_": model.refined,
            "n_iter_": 0 if result is None else result.n_iter,
            "loss_curve_": []
            if result is None
            else [loss * state.data.scaling.y_scale**2 for loss in result.loss_curve],
            "diagnostics_": model.diagnostics,
        }
        if model.sums.hu is not None:
            attributes["_moment_sums_"] = model.sums
        if self.certify:
            attributes["certificate_"] = local_analysis(
                state.data.X,
                state.data.y,
                model.get("fitted_rows", state.data.sample_weight),
                model.params,
                ReLU(),
                free=self._free_parameters(),
                loss="squared",
                scaling=state.data.scaling,
                canonical=canonical,
            )
        return attributes

    def _centres_targets(self):
        # The sums then hold y minus its mean: their centred moments (E[y y^T] -
        # E[y] E[y]^T, say) lose nothing to an offset of y far above its spread.
        return self.fit_intercept

    def _free_parameters(self):
        return ("hidden_weights", "output_weights") + (
            ("intercept",) if self.fit_intercept else ()
        )

    # -- the method of moments
    def _moment_estimate(self, state, sums, data=None, n_hidden=None):
        """Hidden units and diagnostics from the sums (and, in ``fit``, a pass over
        the data for the detector); ``n_hidden`` units instead of the estimator's
        (or, for "auto", of the odd part's spectrum)."""
        odd = self._odd_part(sums, n_hidden)
        transform = self._test_function_map(odd, state.random_state)
        sketch = self.test_functions == "sketch"
        if data is None:
            detector = _detector_from_sums(sums, odd, transform, sketch)
        else:
            detector = _detector_from_data(
                data.X, data.y, data.sample_weight, odd, transform, sketch
            )
        k = odd.n_hidden
        detector, feature_mean, tested_r, squares_y, squares = detector
        projected = _project_off(detector, feature_mean)
        offset = np.zeros(k)
        # One unit leaves the detector no null space to pin the offset down.
        if self.fit_intercept and k > 1:
            mean_r = odd.Q @ odd.means.y - odd.rows @ odd.means.x / 2
            offset = _whitened_offset(
                projected,
                _project_off(tested_r, feature_mean),
                k,
                mean_r,
                state.random_state,
            )
            projected = projected - _project_off(
                _offset_term(tested_r, offset), feature_mean
            )
        null_basis, t_values = _pure_neuron_span(projected, k)
        diagonalization = simultaneous_diagonalization(
            null_basis, n_trials=self.n_diag_trials, random_state=state.random_state
        )
        if self.fit_intercept:
            hidden, sign_margins = _signed_neurons_by_covariance(
                diagonalization.factors, odd, sums, squares_y, squares
            )
        else:
            hidden, sign_margins = _signed_neurons(
                diagonalization.factors, odd, sums, offset
            )
        gap_ratio = t_values[-k - 1] / max(t_values[-k], 1e-300) if k > 1 else np.inf
        diagnostics = Bunch(
            p_singular_values=odd.singular_values,
            t_singular_values=t_values[-(2 * k + 1) :],
            t_gap_ratio=float(gap_ratio),
            diagonalization_gap=diagonalization.eigen_gap,
            anchored=diagonalization.anchored,
            sign_margins=sign_margins,
            **self._input_diagnostics(state.statistics),
        )
        problems = _health_problems(gap_ratio, sign_margins)
        if problems and self.symmetry_check != "off":
            message = (
                "MomentRecovery's own checks failed: "
                + "; ".join(problems)
                + ". The estimate may be far from the network; check it against a "
                "baseline, or use refine=True."
            )
            if self.symmetry_check == "raise":
                raise ValueError(message)
            state.report.warn(AssumptionWarning, message)
        return Bunch(
            sums=sums, odd=odd, hidden=hidden, offset=offset, diagnostics=diagnostics
        )

    def _input_diagnostics(self, statistics):
        """The input statistics of ``diagnostics_``: of these rows, or for a chunk
        of a stream too small to have them (one row), of the last chunk that had."""
        if statistics is None:
            names = ("mean_t_statistics", "skewness", "direction_skewness")
            return {name: self.diagnostics_[name] for name in names}
        sd = np.sqrt(np.maximum(statistics.variance, 1e-300))
        return {
            "mean_t_statistics": statistics.mean / sd * np.sqrt(statistics.n_rows),
            "skewness": statistics.skewness,
            "direction_skewness": statistics.direction_skewness,
        }

    def _odd_part(self, sums, n_hidden=None):
        """Whitening ``R``, the whitened odd part, its rank ``k`` (or
        ``n_hidden``) and the maps."""
        means = sums.means()
        whitening = whitening_from_moment(means.xx)
        whiten = whitening.whiten
        # 2 E[(y - E y) x^T]: an output offset adds nothing but noise to E[y x^T].
        means.yx = means.yx - np.outer(means.y, means.x)
        means.covariance = means.yy - np.outer(means.y, means.y)
        P = 2 * means.yx @ whiten
        U, singular_values, Vt = np.linalg.svd(P, full_matrices=False)
        if n_hidden is None:
            n_hidden = self._n_hidden(singular_values, means, sums.weight, P.shape)
        top = singular_values[:n_hidden]
        if not np.all(top > 0):
            raise ValueError(
                "The odd part 2 E[y x^T] of the data has rank below n_hidden="
                f"{n_hidden}: y does not depend linearly on X in enough directions "
                "(constant or even targets?)."
            )
        return Bunch(
            whitening=whitening,
            whiten=whiten,
            P=P,
            singular_values=singular_values,
            n_hidden=n_hidden,
            U=U[:, :n_hidden],
            top=top,
            Q=U[:, :n_hidden].T / top[:, np.newaxis],
            rows=Vt[:n_hidden] @ whiten,
            means=means,
        )

    def _n_hidden(self, singular_values, means, n_effective, shape):
        n_outputs, n_features = shape
        if self.n_hidden != "auto":
            for limit, name, why in (
                (n_outputs, "outputs", "as many outputs as hidden units (l >= k)"),
                (n_features, "features", "as many features as hidden units"),
            ):
                if self.n_hidden > limit:
                    raise ValueError(
                        f"n_hidden={self.n_hidden} exceeds the number of {name} "
                        f"({limit}): the method of moments needs {why}, since only "
                        "distinct linear combinations of the outputs can isolate "
                        "single neurons. Lower n_hidden, or use TensorInitGD or "
                        "MLPRegressor for fewer outputs."
                    )
            return self.n_hidden
        # P has i.i.d.-like estimation noise of size 2 sqrt(E y_a^2 / n) per entry
        # (x whitened), so a spectral norm of about that times sqrt(l) + sqrt(d).
        entry = 2 * np.sqrt(np.max(np.diag(means.covariance)) / n_effective)
        level = _RANK_MARGIN * entry * (np.sqrt(n_outputs) + np.sqrt(n_features))
        return max(1, int(np.sum(singular_values > level)))

    def _test_function_map(self, odd, random_state):
        """``L`` with test functions ``hvec((L x)(L x)^T)``, or ``(L x)^2`` rows."""
        k = odd.n_hidden
        if self.test_functions == "rowspan":
            if not self.fit_intercept or k > _FEW_UNITS:
                return odd.rows
            # The output offset takes k more unknowns, which the k (k + 1) / 2
            # pairs of few units pin down poorly: the pairs of the row span and of
            # 2 k random directions orthogonal to it (noise-free teachers with
            # k = 2, 3, 4, 4 input families, 3 conditionings, 3 seeds: 12, 5 and 3
            # of 36 fits below R^2 0.999 with the row span alone, down to 0.68;
            # 3, all above 0.997, 0 and 0 with the directions).
            whitening = odd.whitening
            # Random directions of the whitened inputs (color @ whiten projects on
            # the directions with variance), off the span, orthonormal: as many as
            # there are, up to 2 k.
            extra = random_state.standard_normal((2 * k, odd.whiten.shape[0]))
            extra = extra @ whitening.color @ whitening.whiten
            span = odd.rows @ whitening.color  # orthonormal rows: the span
            extra -= (extra @ span.T) @ span
            basis, triangle = np.linalg.qr(extra.T)
            sizes = np.abs(np.diag(triangle))
            keep = sizes > 1e-8 * max(sizes.max(initial=0.0), np.finfo(float).tiny)
            return np.vstack([odd.rows, basis[:, keep].T @ whitening.whiten])
        if self.test_functions == "full":
            return odd.whiten
        size = self.sketch_size if self.sketch_size is not None else 3 * k * k
        if size <= _n_pairs(k):
            raise ValueError(
                f"sketch_size={size} must exceed k (k + 1) / 2 = {_n_pairs(k)} for "
                f"{k} hidden units, or the detector's null space is not determined."
            )
        directions = random_state.standard_normal((size, odd.whiten.shape[0]))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return directions @ odd.whiten

    def _refine(self, state, params, whitening):
        """L-BFGS from the moment estimate, kept only when held-out loss improves."""
        data = state.data
        training_weight, validation_weight = validation_split(
            data.X,
            data.sample_weight,
            self.validation_fraction,
            "refine=True",
            state.random_state,
        )
        refined, result = train_network(
            data.X,
            data.y,
            training_weight,
            params,
            ReLU(),
            free=self._free_parameters(),
            transform=whitening,
            validation_weight=validation_weight,
            max_iter=self.refine_max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            verbose=self.verbose,
        )
        before = _held_out_loss(data.X, data.y, validation_weight, params)
        after = _held_out_loss(data.X, data.y, validation_weight, refined)
        if after < before and all(np.all(np.isfinite(p)) for p in refined[:2]):
            return refined, True, result, training_weight
        return params, False, result, data.sample_weight


def _odd_part_output(odd, hidden, offset):
    """``A`` and the output offset ``c`` in closed form: ``A W = P`` in raw
    coordinates (``P = 2 E[(y - E y) x^T] S^{-1}``), and ``c`` from its whitened
    part ``q = Sigma^{-1} U^T c`` (the outputs' span ``U`` of the odd part) and, off
    that span, from the mean of ``y`` (where ``A relu(W x)`` has no component)."""
    odd_part = 2 * odd.means.yx @ odd.whiten @ odd.whiten
    mean = odd.means.y
    intercept = mean + odd.U @ (odd.top * offset - odd.U.T @ mean)
    return odd_part @ linalg.pinv(hidden), intercept


def _detector_from_data(X, Y, sample_weight, odd, transform, sketch):
    """``T = E[h(x) g(x, y)^T]``, ``E[h]``, ``E[h r^T]``, and ``E[hvec(z z^T)
    y~^T]`` and ``E[hvec(z z^T)]`` (for the signs), in one pass over the data.

    With ``y~ = Q y`` (whitened outputs) and ``z = P~ x`` (so that ``y~ = z / 2 + e +
    noise``, ``e`` the even part), the detector of a symmetric ``U`` is
    ``E[<U, y~ y~^T - z z^T / 2> h]`` (Ge, Kuditipudi, Li and Wang). Writing
    ``r = y~ - z / 2``, the summand is ``<U, r r^T - z z^T / 4>`` plus a cross term
    ``(r z^T + z r^T) / 2``, odd times even, whose mean is zero: dropping it leaves
    ``T`` unchanged in expectation and halves the bias from the estimated ``P~``,
    and cut the recovery error 1.7-2.6 times in our measurements. ``h`` are the
    even test functions.
    """
    Q, rows = odd.Q, odd.rows
    n_tests = transform.shape[0] if sketch else _n_pairs(transform.shape[0])
    # Tests on the pairs of z itself: h is hvec(z z^T), formed and weighted once.
    tests_are_squares = transform is rows and not sketch

    def block(x, y, weights):
        x = x.astype(np.float64, copy=False)
        z = x @ rows.T
        tested = z if transform is rows else x @ transform.T
        h = tested**2 if sketch else hvec_outer(tested)
        whitened = y @ Q.T
        r = whitened - z / 2
        z_squares = h if tests_are_squares else hvec_outer(z)
        g = hvec_outer(r) - z_squares / 4
        weighted = weights[:, np.newaxis] * h
        squares = weighted if tests_are_squares else weights[:, np.newaxis] * z_squares
        return (
            weighted.T @ g,
            weights @ h,
            weighted.T @ r,
            squares.T @ whitened,
            weights @ z_squares,
        )

    width = 2 * n_tests + X.shape[1] + 2 * _n_pairs(len(Q))
    sums = reduce_rows(block, X, Y, sample_weight, width=width, threads=True)
    total = float(sample_weight.sum())
    return tuple(part / total for part in sums)


def _detector_from_sums(sums, odd, transform, sketch):
    """The same five moments from the sums of ``partial_fit``."""
    test_map = hvec_outer(transform) if sketch else hvec_map(transform)
    Q, rows = odd.Q, odd.rows
    even_map = hvec_map(np.hstack([-rows / 2, Q]))  # u -> r = Q y - z / 2
    odd_map = hvec_map(np.hstack([rows, np.zeros_like(Q)]))  # u -> z
    detector = test_map @ sums.hu @ (even_map - odd_map / 4).T
    tested_r = test_map @ sums.hx @ np.hstack([-rows / 2, Q]).T
    squares = hvec_map(rows)
    whitened = squares @ sums.hx @ np.hstack([np.zeros_like(rows), Q]).T
    return tuple(
        part / sums.weight
        for part in (
            detector,
            test_map @ hvec(sums.xx),
            tested_r,
            whitened,
            squares @ hvec(sums.xx),
        )
    )


def _project_off(rows, feature_mean):
    """``rows`` projected off ``E[h]``: noise independent of ``x`` adds
    ``tr(U S_noise) E[h]`` to ``T(U)``, a constant output offset ``q q^T E[h]``."""
    direction = feature_mean / np.linalg.norm(feature_mean)
    return rows - np.outer(direction, direction @ rows)


def _offset_term(tested_r, offset):
    """The part of ``T`` linear in a whitened output offset ``q``:
    ``E[h hvec(r q^T + q r^T)^T]`` from ``E[h r^T]``."""
    k = len(offset)
    rows, columns = np.triu_indices(k)
    weight = np.where(rows == columns, 1.0, np.sqrt(2.0))
    return weight * (
        tested_r[:, rows] * offset[columns] + offset[rows] * tested_r[:, columns]
    )


def _whitened_offset(projected, tested_r, k, mean_r, random_state):
    """The whitened output offset ``q`` that gives the detector its null space.

    With ``r = y~ - z / 2 = e + q``, the detector is affine in ``q``:
    ``T(delta) = T - sum_a delta_a B_a`` (after projection off ``E[h]``), and only
    the true offset leaves the ``k`` pure neurons in its null space. BFGS on the sum
    of the ``k`` smallest squared singular values of ``T(delta)``, whose gradient
    is ``-2 sum_j s_j u_j^T B_a v_j`` (singular triplets ``(s_j, u_j, v_j)``).

    The objective has local minima. ``q = E[r] - E[e]``, and the even part ``e``
    of whitened outputs has ``E||e||^2`` about ``E||z||^2 / 4 = k / 4``: starts are
    ``E[r]`` (which moves with the offset, so that any offset is fitted alike),
    ``0``, and random points of the ball of radius ``sqrt(k) / 2`` about ``E[r]``,
    until three starts agree on the lowest minimum (at most 32).
    """
    terms = np.stack([_offset_term(tested_r, e) for e in np.eye(k)])
    flat_terms = terms.reshape(k, -1)

    def objective(delta):
        current = projected - np.tensordot(delta, terms, axes=1)
        U, values, Vt = np.linalg.svd(current, full_matrices=False)
        u, smallest, v = U[:, -k:], values[-k:], Vt[-k:]
        # sum_j s_j u_j^T B_a v_j = <B_a, sum_j s_j u_j v_j^T>_F
        gradient = -2 * flat_terms @ ((u * smallest) @ v).ravel()
        return smallest @ smallest, gradient

    mean_r = np.asarray(mean_r, dtype=float)
    minima = []
    for index in range(_OFFSET_STARTS):
        if index == 0:
            start = mean_r
        elif index == 1:
            start = np.zeros(k)
        else:
            direction = random_state.standard_normal(k)
            radius = np.sqrt(k) / 2 * random_state.uniform() ** (1 / k)
            start = mean_r + radius * direction / np.linalg.norm(direction)
        result = optimize.minimize(
            objective,
            start,
            jac=True,
            method="BFGS",
            options={"gtol": _OFFSET_GTOL, "maxiter": 500},
        )
        minima.append((result.fun, result.x))
        lowest = min(value for value, _ in minima)
        if sum(value <= 1.01 * lowest for value, _ in minima) >= _AGREEING_STARTS:
            break
    return min(minima, key=lambda minimum: minimum[0])[1]


def _pure_neuron_span(detector, n_hidden):
    """Orthonormal basis (as matrices) of the (projected) detector's ``k``-dim null
    space, and the singular values of the detector (decreasing)."""
    _, singular_values, Vt = np.linalg.svd(detector)
    if len(singular_values) < Vt.shape[0]:
        singular_values = np.concatenate(
            [singular_values, np.zeros(Vt.shape[0] - len(singular_values))]
        )
    basis = np.array([unhvec(v, n_hidden) for v in Vt[-n_hidden:]])
    return basis, singular_values


def _signed_neurons(Z, odd, sums, offset):
    """Unit hidden weights from the pure directions ``z_i``, and the sign margins.

    ``z_i^T (y~ - q) = c_i relu(w_i^T x)`` with ``q`` the whitened output offset:
    the odd part gives ``c_i w_i = P~^T z_i`` and the even part ``E[relu] > 0`` the
    sign of ``c_i``, with ``|mean| / s.e.`` as the margin.
    """
    means, Q = odd.means, odd.Q
    mean_output = Z.T @ (Q @ means.y - offset)
    variance = np.einsum("ai,ab,bi->i", Z, Q @ means.covariance @ Q.T, Z)
    standard_error = np.sqrt(np.maximum(variance, 0) / sums.weight)
    sign_margins = np.abs(mean_output) / np.maximum(standard_error, 1e-300)
    hidden = np.where(mean_output < 0, -1.0, 1.0)[:, np.newaxis] * (Z.T @ odd.rows)
    return hidden / np.linalg.norm(hidden, axis=1, keepdims=True), sign_margins


def _signed_neurons_by_covariance(Z, odd, sums, squares_y, squares):
    """Unit hidden weights and sign margins with an output offset: the sign of
    ``c_i`` from ``Cov(z_i^T y~, t_i^2) = c_i Cov(relu(t_i), t_i^2) / ...``, positive
    for any symmetric ``t_i = w_i^T x`` (``relu(t) = (t + |t|) / 2`` and ``|t|`` grows
    with ``t^2``), where an offset cancels. Margins use a Gaussian ``Var t^2 =
    2 (E t^2)^2``."""
    means, Q = odd.means, odd.Q
    k = Z.shape[0]
    mean_whitened = Q @ means.y
    covariance = np.array(
        [unhvec(squares_y[:, a] - squares * mean_whitened[a], k) for a in range(k)]
    )  # Cov(y~_a, z z^T) as (k, k, k)
    statistic = np.einsum("ai,abc,bi,ci->i", Z, covariance, Z, Z)
    second = np.einsum("bi,bc,ci->i", Z, unhvec(squares, k), Z)
    variance = np.einsum("ai,ab,bi->i", Z, Q @ means.covariance @ Q.T, Z)
    standard_error = np.sqrt(np.maximum(variance * 2 * second**2, 0) / sums.weight)
    with np.errstate(over="ignore"):  # a margin beyond float64 is infinite
        sign_margins = np.abs(statistic) / np.maximum(standard_error, 1e-300)
    hidden = np.where(statistic < 0, -1.0, 1.0)[:, np.newaxis] * (Z.T @ odd.rows)
    return hidden / np.linalg.norm(hidden, axis=1, keepdims=True), sign_margins


def _least_squares_output(X, Y, sample_weight, hidden, fit_intercept):
    """``A`` (and ``c``) minimising the weighted ``||y - A relu(W x) - c||^2``, and
    that minimum (half the weighted mean), in one pass."""
    return least_squares_pass(
        lambda x: np.maximum(x @ hidden.T.astype(x.dtype, copy=False), 0),
        X,
        Y,
        sample_weight,
        fit_intercept=fit_intercept,
        width=2 * len(hidden) + X.shape[1] + 2 * Y.shape[1] + 1,
    )


def _held_out_loss(X, Y, validation_weight, params):
    def block(rows, targets, weights):
        residual = forward(rows, params, ReLU()) - targets
        return weights @ (0.5 * np.einsum("ij,ij->i", residual, residual))

    width = X.shape[1] + 2 * len(params.hidden_weights) + 2 * Y.shape[1]
    total = reduce_rows(block, X, Y, validation_weight, width=width)
    return float(total / validation_weight.sum())


def _health_problems(gap_ratio, sign_margins):
    problems = []
    if gap_ratio < _MIN_GAP_RATIO:
        problems.append(
            f"the detector's null space does not stand out (gap ratio {gap_ratio:.3g}, "
            f"below {_MIN_GAP_RATIO:g}): more samples, fewer hidden units, or inputs "
            "that are not symmetric"
        )
    weak = np.flatnonzero(sign_margins < _MIN_SIGN_MARGIN)
    if len(weak):
        problems.append(
            f"the sign of {len(weak)} neuron(s) is within noise (margin "
            f"{sign_margins[weak].min():.3g} standard errors)"
        )
    return problems
