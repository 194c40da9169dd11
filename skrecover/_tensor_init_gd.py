"""Tensor-initialised gradient descent (Zhong, Song, Jain, Bartlett, Dhillon, 2017)."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import (
    ACTIVATION_CONSTRAINT,
    OPTIMIZER_CONSTRAINTS,
    BaseOneHiddenLayer,
    train_network,
    weighted_variance,
    whitening,
)
from ._moments import MomentSample
from ._network import (
    _PROBABILITY_EPS,
    NetworkParams,
    canonicalize,
    forward,
    hidden_features,
)
from ._tensor import fit_cp_weights, refine_symmetric_cp, symmetric_cp
from .activations import Activation, get_activation
from .exceptions import InitializationWarning
from .patches import is_tiling, make_patch_indices

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
# Initial unit norms below this fraction of the largest are raised to it: a unit with
# w = 0 has no gradient through ReLU.
_MIN_RELATIVE_NORM = 0.1
# No initial unit may output more than this many standard deviations of y: moment
# estimates from few samples can imply absurd magnitudes.
_MAX_UNIT_SCALE = 10.0
_SKETCH_NOISE_MARGIN = 1.2
# Moment eigenvalues below this fraction of the standard deviation of y are rounding.
_ROUNDING_LEVEL = 1e-8
# Gradient descent stops once the loss is this fraction of the variance of y: the
# weights are then exact to about 1e-10 relative, and the remaining iterations would
# only chase rounding errors.
_LOSS_FLOOR = 1e-20
# Grid of weight norms on which non-homogeneous Hermite-constant ratios are inverted.
# Beyond a norm of 3 the constants of sigmoid-like activations saturate, so moments
# cannot tell 3 from 30 (and a saturated unit would stall gradient descent).
_SIGMA_GRID = np.geomspace(0.02, 3.0, 300)


class _TensorInitGDBase(BaseOneHiddenLayer):
    """The fit pipeline shared by the regressor and the (binary) classifier."""

    def _fit_network(self, X, y, sample_weight, *, classification, fit_intercept):
        """Initialise (moments or random) and train on validated data.

        ``classification``: ``y`` holds 0/1 labels, the output weights are known
        (``1 / (n_hidden n_patches)``, no intercept) and the loss is the
        cross-entropy.
        """
        warm = self.warm_start and hasattr(self, "hidden_weights_")
        patch_indices = self._unit_layout(X.shape[1], warm)
        activation = get_activation(self.activation)
        random_state = check_random_state(self.random_state)
        train_weight, validation_weight = self._validation_split(
            sample_weight, random_state
        )
        transform = (
            whitening(X, train_weight, patch_indices=patch_indices)
            if self.whiten
            else None
        )
        if warm:
            params, diagnostics = self._network_params(), self.diagnostics_
        else:
            sample = MomentSample(
                X,
                train_weight,
                whitening=None if transform is None else transform.whiten,
                patch_indices=patch_indices,
            )
            params, diagnostics = self._initial_network(
                sample, y, activation, classification, fit_intercept, random_state
            )
        free = ["hidden_weights"]
        if not classification and (self.init == "random" or not activation.degree):
            free.append("output_weights")
        if fit_intercept:
            free.append("intercept")
        floor = (
            None if classification else _LOSS_FLOOR * weighted_variance(y, train_weight)
        )
        params, result = train_network(
            X,
            y[:, np.newaxis],
            train_weight,
            params,
            activation,
            free=free,
            transform=transform,
            validation_weight=validation_weight,
            loss="cross_entropy" if classification else "squared",
            patch_indices=patch_indices,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate,
            verbose=self.verbose,
            loss_floor=floor,
            random_state=random_state,
        )
        self._check_finite(params)
        params = canonicalize(params, activation, shift_intercept=fit_intercept)
        self.hidden_weights_ = params.hidden_weights
        self.output_weights_ = params.output_weights[0]
        self.intercept_ = float(params.intercept[0])
        self.n_hidden_ = len(params.hidden_weights)
        self.activation_ = activation
        self.diagnostics_ = diagnostics
        self.solver_ = result.solver
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve
        self._set_or_forget("patch_indices_", patch_indices)
        self._set_or_forget(
            "validation_loss_curve_",
            None if validation_weight is None else result.validation_loss_curve,
        )
        self._warn_not_converged(
            result,
            "If the loss was still falling steeply, the initialisation may be poor: "
            "see diagnostics_.",
        )
        return self

    def _unit_layout(self, n_features, warm):
        """The patch layout (None when fully connected), after checking that the
        requested units fit it and the previous fit when warm-starting."""
        patch_indices = self._tiling_patches(n_features)
        dim = n_features if patch_indices is None else patch_indices.shape[1]
        if self.n_hidden != "auto" and self.n_hidden > dim:
            what = "n_features=" if patch_indices is None else "the patch length "
            raise ValueError(
                f"n_hidden={self.n_hidden} is larger than {what}{dim}: the tensor "
                "method needs linearly independent hidden units (kernels), at most "
                "as many as the inputs of one unit."
            )
        if warm and self.hidden_weights_.shape[1] != dim:
            raise ValueError(
                f"warm_start: the units have {dim} inputs but those of the previous "
                f"fit had {self.hidden_weights_.shape[1]}."
            )
        if warm and self.n_hidden not in ("auto", self.n_hidden_):
            raise ValueError(
                f"warm_start: n_hidden={self.n_hidden} differs from the "
                f"{self.n_hidden_} units of the previous fit; set warm_start=False."
            )
        return patch_indices

    def _initial_network(
        self, sample, y, activation, classification, fit_intercept, random_state
    ):
        """The initialisation (``init``), recorded in ``init_*_`` attributes."""
        statistics = self._check_gaussian_inputs(
            sample.X, sample.sample_weight, random_state, whiten=self.whiten
        )
        initialise = (
            tensor_initialization if self.init == "tensor" else random_initialization
        )
        params, diagnostics = initialise(
            sample,
            y,
            activation,
            self.n_hidden,
            fit_intercept=fit_intercept,
            known_output=classification,
            n_cp_draws=self.n_cp_draws,
            random_state=random_state,
        )
        diagnostics.input_statistics = statistics
        init = canonicalize(params, activation, shift_intercept=fit_intercept)
        self.init_hidden_weights_ = init.hidden_weights
        self.init_output_weights_ = init.output_weights[0]
        return params, diagnostics

    def _tiling_patches(self, n_features):
        """The patch layout of ``patch_size`` and ``input_shape`` (None if no patches);
        it must tile the input: disjoint patches reading every feature once."""
        if self.patch_size is None:
            if self.input_shape is not None:
                raise ValueError("input_shape is only used together with patch_size.")
            return None
        indices = make_patch_indices(
            n_features, self.patch_size, input_shape=self.input_shape
        )
        if not is_tiling(indices, n_features):
            raise ValueError(
                f"Patches of size {self.patch_size} do not tile an input of shape "
                f"{self.input_shape or (n_features,)} exactly: the non-overlapping "
                "convolutional model needs every feature in exactly one patch."
            )
        return indices


class TensorInitGD(RegressorMixin, _TensorInitGDBase):
    """Tensor-initialised gradient descent for one-hidden-layer networks.

    Fits ``y = sum_j v_j phi(w_j^T x) + b`` in two phases (Zhong et al., 2017): a
    method-of-moments initialisation that provably lands close to the true weights
    when ``x ~ N(0, I)``, then full-batch gradient descent on the squared loss, which
    is locally strongly convex there and converges linearly to the true weights.

    Parameters
    ----------
    n_hidden : int or "auto", default="auto"
        Number of hidden units ``k`` (at most ``n_features``). ``"auto"`` counts
        the eigenvalues of the moment matrix ``P_2`` above its estimated
        sampling-noise level, with at most 20 units, at most ``n_features``, and no
        more than the samples allow (``k (d + 1)`` at most the number of samples);
        with no eigenvalue above the noise, 2 units.
    activation : {"relu", "leaky_relu", "squared_relu", "sigmoid", "tanh"} or \
            Activation, default="relu"
        Hidden activation ``phi``. ``LeakyReLU(slope=s)`` sets another slope; any
        :class:`~skrecover.activations.Activation` with a value function and a
        derivative works.
    patch_size : int or tuple of int, default=None
        Fit the non-overlapping convolutional network of Zhong, Song and Dhillon
        (2017), ``y = sum_j v_j sum_l phi(w_j^T x_l) + b``, whose ``n_hidden``
        kernels ``w_j`` are shared by the disjoint patches ``x_l`` of ``x``: an int
        ``r`` cuts a 1-D signal into consecutive blocks of ``r`` features; a pair
        ``(r1, r2)`` cuts an image (see ``input_shape``) into ``r1 x r2`` tiles,
        each reading all channels. The patches must tile the input exactly, and
        ``n_hidden`` is at most the patch length. ``None``: a fully connected
        network.
    input_shape : tuple of int, default=None
        Shape of one input, channels last, in the C order of the columns of ``X``:
        ``(L,)`` or ``(L, C)`` for signals, ``(H, W)`` or ``(H, W, C)`` for images
        (see :mod:`skrecover.patches`). ``None``: a 1-D signal of ``n_features``.
    init : {"tensor", "random"}, default="tensor"
        ``"tensor"``: the moment initialisation of the paper, then gradient descent on
        the hidden weights (and on the output weights when ``phi`` is not
        homogeneous). ``"random"``: Gaussian hidden weights, then gradient descent on
        all weights, for comparison.
    whiten : bool, default=False
        Whiten the inputs by their second moment ``E[x x^T]`` before the moment
        step, for Gaussian inputs with a non-identity covariance. The fitted weights
        are reported in the original coordinates.
    fit_intercept : bool, default=True
        Fit an output bias ``b`` (the teacher networks have ``b = 0``).
    solver : {"auto", "lbfgs", "gd"}, default="auto"
        ``"lbfgs"``: scipy's L-BFGS-B. ``"gd"``: the paper's plain gradient descent
        with step size ``learning_rate``. ``"auto"``: L-BFGS, unless the network has
        at least as many trained parameters as there are samples; the minimisers
        then form a manifold on which plain gradient descent, unlike L-BFGS, finds a
        solution that varies continuously with the data.
    learning_rate : "auto" or float, default="auto"
        Step size of ``solver="gd"``; ``"auto"`` is ``1 / L`` with ``L`` a curvature
        estimate at the initialisation, halved whenever a step raises the loss.
    max_iter : int, default=200
        Maximum number of gradient iterations; 0 keeps the initialisation.
    tol : float, default=1e-5
        Gradient descent stops when the loss has improved by less than a fraction
        ``tol`` of its best value for ``n_iter_no_change`` consecutive iterations,
        or once it is below ``1e-20`` times the variance of ``y`` (exact recovery).
    n_iter_no_change : int, default=5
        See ``tol``. (Full-batch steps are deterministic, so fewer stale iterations
        than MLPRegressor's 10 for stochastic ones suffice.)
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples (excluded from the moments
        and the loss), stop on their loss, and keep the weights with the lowest one.
    validation_fraction : float, default=0.1
        Fraction of samples held out with ``early_stopping``.
    n_cp_draws : int, default=50
        Random contraction pairs of Jennrich's algorithm in the tensor decomposition
        (shared among the 5 random contractions of the fourth-order tensor for the
        ReLU family).
    warm_start : bool, default=False
        Start gradient descent from the previous solution instead of a new
        initialisation.
    verbose : int, default=0
        Print the loss at every iteration.
    random_state : int, RandomState instance or None, default=None
        Seed of the random contractions (and of the random initialisation and the
        validation split).

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (`n_hidden_`, `n_features_in_` or patch length)
        Hidden units ``w_j`` as rows (kernels for ``patch_size``), in the canonical
        form described in Notes.
    output_weights_ : ndarray of shape (`n_hidden_`,)
        Output weights ``v_j``.
    intercept_ : float
        Output bias ``b``.
    init_hidden_weights_ : ndarray of shape like ``hidden_weights_``
        Hidden weights of the initialisation, before gradient descent.
    init_output_weights_ : ndarray of shape (`n_hidden_`,)
        Output weights of the initialisation.
    n_hidden_ : int
        Number of hidden units (kernels) used.
    patch_indices_ : ndarray of shape (n_patches, patch length)
        Feature indices of each patch (only with ``patch_size``).
    activation_ : Activation
        The activation used.
    solver_ : str
        The solver that ran (``"lbfgs"`` or ``"gd"``).
    n_iter_ : int
        Number of gradient iterations run.
    loss_curve_ : list of float
        Training loss ``sum_i s_i (f(x_i) - y_i)^2 / (2 sum_i s_i)`` after each
        iteration.
    validation_loss_curve_ : list of float
        Loss on the held-out samples after each iteration (``early_stopping`` only).
    diagnostics_ : Bunch
        What explains a failed initialisation: ``moment_orders``, ``spectrum``
        (leading moment eigenvalues or singular values, by magnitude),
        ``noise_level`` (their sampling-noise level), ``eigen_gap`` (ratio of the
        ``k``-th to the ``(k+1)``-th), ``cp_residual`` (relative residual of the tensor
        decomposition), ``cp_weights``, ``magnitude_estimates``, and
        ``input_statistics`` (per-feature moments of ``X``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Randomly initialised multi-layer network.
    skrecover.datasets.make_teacher_regression : Data from a known network.
    skrecover.metrics.recovery_error : Distance of the fitted to the true weights.

    Notes
    -----
    **Model.** ``y = sum_j v_j phi(w_j^T x) + b + noise``, ``k <= d`` units with
    linearly independent ``w_j``.

    **Assumptions.** The guarantee needs ``x ~ N(0, I)`` (or ``N(0, S)`` with
    ``whiten=True``): the moments ``E[y H_j(x)] = sum_j v_j m_j(||w_j||) w_j^(x)j``
    rest on Gaussian Hermite identities. A warning reports inputs that are visibly
    not Gaussian; gradient descent still fits them, as a local method.

    **Algorithm.** With ``y`` centred: (1) the span of the ``w_j`` from the top
    eigenvectors of ``P_2 = E[y (x x^T - I)]`` (for odd activations, where this
    vanishes, from a sketch of the third moment); (2) the reduced third-order tensor
    in that span (the third Hermite moment, or the fourth contracted once for the
    ReLU family, whose third vanishes); (3) its non-orthogonal CP decomposition
    (Jennrich's algorithm over random draws, refined by Gauss-Newton); (4) norms and
    signs from the first and second moments; (5) gradient descent on the squared
    loss.

    **Convolutional networks.** With ``patch_size``, every moment is averaged over
    the patches, ``E[y H_j(x_l)]`` being the same for every patch ``l`` of a Gaussian
    input (Zhong, Song and Dhillon, 2017), and the algorithm runs in the patch space.

    **Guarantee.** For homogeneous ``phi`` and ``n >= d poly(k, kappa) log(1/eps)``
    samples, the initialisation is within the basin of local strong convexity and
    gradient descent recovers ``W`` to precision ``eps`` (Zhong et al., Thm. 1.1).

    **Canonical form.** Homogeneous activations: ``v_j = +-1`` and the scale in
    ``w_j``; odd activations (tanh, sigmoid): ``v_j > 0`` and the sign in ``w_j``
    (for sigmoid this flip shifts the intercept, so with ``fit_intercept=False`` the
    signs of ``v_j`` stay as fitted). Units are sorted by decreasing
    ``|v_j| ||w_j||``.

    References
    ----------
    K. Zhong, Z. Song, P. Jain, P. L. Bartlett, I. S. Dhillon. Recovery Guarantees for
    One-hidden-layer Neural Networks. ICML 2017, arXiv:1706.03175.

    K. Zhong, Z. Song, I. S. Dhillon. Learning Non-overlapping Convolutional Neural
    Networks with Multiple Kernels. arXiv:1711.03440, 2017.

    Examples
    --------
    >>> from skrecover import TensorInitGD
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.metrics import recovery_error
    >>> X, y, teacher = make_teacher_regression(
    ...     n_samples=20_000, n_features=8, n_hidden=3, activation="squared_relu",
    ...     random_state=0)
    >>> model = TensorInitGD(activation="squared_relu", random_state=0).fit(X, y)
    >>> model.n_hidden_
    3
    >>> recovery_error(teacher, model) < 1e-8
    True
    """

    _parameter_constraints: dict = {
        "n_hidden": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "activation": ACTIVATION_CONSTRAINT,
        "patch_size": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "input_shape": [None, tuple],
        "init": [StrOptions({"tensor", "random"})],
        "whiten": ["boolean"],
        "fit_intercept": ["boolean"],
        "n_cp_draws": [Interval(Integral, 1, None, closed="left")],
        **OPTIMIZER_CONSTRAINTS,
    }

    def __init__(
        self,
        n_hidden="auto",
        *,
        activation="relu",
        patch_size=None,
        input_shape=None,
        init="tensor",
        whiten=False,
        fit_intercept=True,
        solver="auto",
        learning_rate="auto",
        max_iter=200,
        tol=1e-5,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        n_cp_draws=50,
        warm_start=False,
        verbose=0,
        random_state=None,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.patch_size = patch_size
        self.input_shape = input_shape
        self.init = init
        self.whiten = whiten
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_cp_draws = n_cp_draws
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network: tensor initialisation, then gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, ideally standard Gaussian.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as repeating the sample.

        Returns
        -------
        self : TensorInitGD
            The fitted estimator.
        """
        X, y, sample_weight = self._validate_training_data(X, y, sample_weight)
        return self._fit_network(
            X, y, sample_weight, classification=False, fit_intercept=self.fit_intercept
        )

    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Network outputs (float32 for float32 inputs).
        """
        return self._forward(X)[:, 0]


class TensorInitGDClassifier(ClassifierMixin, _TensorInitGDBase):
    """Tensor-initialised gradient descent on the cross-entropy, for classification.

    Fits ``P(y = 1 | x) = (1 / K) sum_k phi(w_k^T x)`` (Fu, Chi and Liang, 2018):
    an average of ``K`` sigmoid units with known output weights ``1 / K``, or, with
    ``patch_size``, of kernels shared by disjoint patches,
    ``(1 / (K r)) sum_k sum_l phi(w_k^T x_l)``. The moment initialisation of
    :class:`TensorInitGD` on the centred labels lands close to the true weights when
    ``x ~ N(0, I)``, and gradient descent on the cross-entropy then converges
    linearly to the maximum-likelihood weights, which approach the true ones as
    ``n`` grows. More than two classes are fitted one against the rest.

    Parameters
    ----------
    n_hidden : int or "auto", default="auto"
        Number ``K`` of units (kernels) per binary problem; see
        :class:`TensorInitGD`.
    activation : "sigmoid" or Activation, default="sigmoid"
        Unit activation; its values must lie in ``[0, 1]`` for the average to be a
        probability.
    patch_size : int or tuple of int, default=None
        Disjoint patches of a convolutional model; see :class:`TensorInitGD`.
    input_shape : tuple of int, default=None
        Shape of one input for ``patch_size``; see :class:`TensorInitGD`.
    init : {"tensor", "random"}, default="tensor"
        Moment initialisation or Gaussian hidden weights.
    whiten : bool, default=False
        Whiten the inputs by their second moment before the moment step.
    solver : {"auto", "lbfgs", "gd"}, default="auto"
        See :class:`TensorInitGD`.
    learning_rate : "auto" or float, default="auto"
        Step size of ``solver="gd"``.
    max_iter : int, default=200
        Maximum number of gradient iterations per binary problem.
    tol : float, default=1e-5
        Relative loss improvement below which an iteration counts as stale.
    n_iter_no_change : int, default=5
        Stale iterations before stopping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples and keep the weights with
        the lowest held-out cross-entropy.
    validation_fraction : float, default=0.1
        Fraction of samples held out with ``early_stopping``.
    n_cp_draws : int, default=50
        Random contraction pairs of the tensor decomposition.
    warm_start : bool, default=False
        Start gradient descent from the previous solution.
    n_jobs : int, default=None
        Binary problems fitted in parallel (one per class beyond two classes);
        ``None`` means 1 unless in a :func:`joblib.parallel_config` context.
    verbose : int, default=0
        Print the loss at every iteration.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of the validation split.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    hidden_weights_ : ndarray of shape (`n_hidden_`, `n_features_in_` or patch length)
        Unit weights ``w_k`` as rows (two classes only).
    output_weights_ : ndarray of shape (`n_hidden_`,)
        The known output weights ``1 / (K r)`` (two classes only).
    intercept_ : float
        Always 0: the model has none (two classes only).
    init_hidden_weights_ : ndarray of shape like ``hidden_weights_``
        Weights of the initialisation (two classes only).
    n_hidden_ : int
        Number of units (two classes only).
    estimators_ : list of TensorInitGDClassifier
        With more than two classes, the binary classifier of each class against
        the others; each has the attributes above.
    activation_ : Activation
        The activation used.
    patch_indices_ : ndarray of shape (n_patches, patch length)
        Feature indices of each patch (only with ``patch_size``).
    n_iter_ : int or ndarray of shape (n_classes,)
        Gradient iterations run (per binary problem beyond two classes).
    loss_curve_ : list of float
        Cross-entropy after each iteration (two classes only).
    validation_loss_curve_ : list of float
        Held-out cross-entropy after each iteration (``early_stopping``, two
        classes only).
    diagnostics_ : Bunch
        Diagnostics of the initialisation, as for :class:`TensorInitGD` (two
        classes only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    TensorInitGD : The regressor with the same initialisation.
    sklearn.neural_network.MLPClassifier : Randomly initialised network.
    sklearn.linear_model.LogisticRegression : One sigmoid unit with a bias.

    Notes
    -----
    **Model.** ``P(y = 1 | x) = (1 / K) sum_k sigmoid(w_k^T x)``; no biases.
    The labels only reveal ``E[y | x]``, so the moments ``E[y H_j(x)]`` are those
    of the regression network with output weights ``1 / K``; the sigmoid's second
    and fourth Hermite constants vanish, so both the subspace and the tensor come
    from the third moment, and each norm ``||w_k||`` inverts ``m_1`` (capped at 3,
    where ``m_1`` saturates).

    **Guarantee.** With ``n >= d poly(K, kappa) log d`` samples the empirical
    cross-entropy is strongly convex near the true weights and gradient descent
    from the tensor initialisation converges linearly to its unique critical point
    there, whose distance to the true weights shrinks like ``sqrt(d log n / n)``
    (Fu, Chi and Liang, 2018). Unlike the regression case, the true weights are not
    recovered exactly: Bernoulli labels leave a statistical error.

    **Beyond the model.** Without biases, ``P(y = 1 | 0) = 1/2``: centre or
    standardise ``X``. With more than two classes, each one-vs-rest network is
    fitted separately and the probabilities are normalised.

    References
    ----------
    H. Fu, Y. Chi, Y. Liang. Guaranteed Recovery of One-Hidden-Layer Neural Networks
    via Cross Entropy. IEEE Transactions on Signal Processing 68, 2020;
    arXiv:1802.06463.

    Examples
    --------
    >>> from skrecover import TensorInitGDClassifier
    >>> from skrecover.datasets import make_teacher_classification
    >>> from skrecover.metrics import recovery_error
    >>> X, y, teacher = make_teacher_classification(
    ...     n_samples=100_000, n_features=6, n_hidden=2, random_state=0)
    >>> model = TensorInitGDClassifier(random_state=0).fit(X, y)
    >>> model.n_hidden_
    2
    >>> recovery_error(teacher, model) < 0.1
    True
    """

    _parameter_constraints: dict = {
        "n_hidden": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "activation": [StrOptions({"sigmoid"}), Activation],
        "patch_size": [None, Interval(Integral, 1, None, closed="left"), tuple],
        "input_shape": [None, tuple],
        "init": [StrOptions({"tensor", "random"})],
        "whiten": ["boolean"],
        "n_cp_draws": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        **OPTIMIZER_CONSTRAINTS,
    }

    def __init__(
        self,
        n_hidden="auto",
        *,
        activation="sigmoid",
        patch_size=None,
        input_shape=None,
        init="tensor",
        whiten=False,
        solver="auto",
        learning_rate="auto",
        max_iter=200,
        tol=1e-5,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        n_cp_draws=50,
        warm_start=False,
        n_jobs=None,
        verbose=0,
        random_state=None,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.patch_size = patch_size
        self.input_shape = input_shape
        self.init = init
        self.whiten = whiten
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_cp_draws = n_cp_draws
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit one network per binary problem: tensor initialisation, then GD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, ideally standard Gaussian.
        y : array-like of shape (n_samples,)
            Class labels (any hashable values).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as repeating the sample.

        Returns
        -------
        self : TensorInitGDClassifier
            The fitted classifier.
        """
        X, y, sample_weight = self._validate_training_data(
            X, y, sample_weight, classification=True
        )
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; got 1 "
                f"class ({classes[0]!r})."
            )
        activation = get_activation(self.activation)
        values = activation(np.linspace(-50, 50, 201))
        if values.min() < 0 or values.max() > 1:
            raise ValueError(
                f"The activation {activation.display_name!r} takes values outside "
                "[0, 1]: an average of its units is not a probability. Use 'sigmoid'."
            )
        self._forget_fitted_attributes(keep_estimators=len(classes) > 2)
        self.classes_ = classes
        if len(classes) == 2:
            self._fit_network(
                X,
                encoded.astype(np.float64),
                sample_weight,
                classification=True,
                fit_intercept=False,
            )
            return self
        random_state = check_random_state(self.random_state)
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(classes))
        previous = getattr(self, "estimators_", None) if self.warm_start else None
        binary = [
            previous[c]
            if previous is not None and len(previous) == len(classes)
            else clone(self).set_params(n_jobs=None, random_state=seeds[c])
            for c in range(len(classes))
        ]
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_one_vs_rest)(estimator, X, encoded == c, sample_weight)
            for c, estimator in enumerate(binary)
        )
        self.activation_ = activation
        self.n_iter_ = np.array([e.n_iter_ for e in self.estimators_])
        for name in ("patch_indices_",):
            if hasattr(self.estimators_[0], name):
                setattr(self, name, getattr(self.estimators_[0], name))
        return self

    def _forget_fitted_attributes(self, *, keep_estimators):
        """Drop what a previous fit with a different number of classes left."""
        stale = _BINARY_ATTRIBUTES if keep_estimators else {"estimators_"}
        for name in stale & set(vars(self)):
            delattr(self, name)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, inside ``[1e-15, 1 - 1e-15]`` for two classes and
            normalised one-vs-rest probabilities beyond.
        """
        positive = self._positive_probabilities(X)
        if len(self.classes_) == 2:
            return np.column_stack([1 - positive[:, 0], positive[:, 0]])
        return positive / positive.sum(axis=1, keepdims=True)

    def decision_function(self, X):
        """Log-odds of the positive class (of each class against the rest).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``log(p / (1 - p))`` with ``p`` the network's probability.
        """
        positive = self._positive_probabilities(X)
        scores = np.log(positive) - np.log1p(-positive)
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def _positive_probabilities(self, X):
        """Each binary network's probability, clipped into (0, 1), shape (n, m)."""
        check_is_fitted(self)
        if len(self.classes_) == 2:
            output = self._forward(X)
        else:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
            output = np.column_stack([e._forward(X)[:, 0] for e in self.estimators_])
        output = np.nan_to_num(np.asarray(output, dtype=np.float64), nan=0.5)
        return np.clip(output, _PROBABILITY_EPS, 1 - _PROBABILITY_EPS)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


# Fitted attributes of a single (binary) network.
_BINARY_ATTRIBUTES = {
    "hidden_weights_",
    "output_weights_",
    "intercept_",
    "init_hidden_weights_",
    "init_output_weights_",
    "n_hidden_",
    "loss_curve_",
    "validation_loss_curve_",
    "diagnostics_",
    "solver_",
}


def _fit_one_vs_rest(estimator, X, positive, sample_weight):
    """Fit a binary classifier of one class (True) against the others."""
    estimator.classes_ = np.array([False, True])
    estimator.n_features_in_ = X.shape[1]
    return estimator._fit_network(
        X,
        positive.astype(np.float64),
        sample_weight,
        classification=True,
        fit_intercept=False,
    )


def tensor_initialization(
    sample,
    y,
    activation,
    n_hidden,
    *,
    fit_intercept=True,
    known_output=False,
    n_cp_draws=50,
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

    Returns the initial :class:`~skrecover._network.NetworkParams` and a diagnostics
    :class:`~sklearn.utils.Bunch`.
    """
    orders = activation.moment_orders
    y_scale = np.sqrt(weighted_variance(y, sample.sample_weight))
    first, residual = _linear_residual(sample, y)
    basis, spectrum, noise_level, eigenvalues = unit_subspace(
        sample, residual, orders, n_hidden, random_state, y_scale
    )
    k = basis.shape[1]
    if not spectrum[0] > noise_level:
        warnings.warn(
            "The moments of the data carry no information about hidden units above "
            f"their sampling noise (largest eigenvalue {spectrum[0]:.3g}, noise level "
            f"{noise_level:.3g}): y may be linear in X, or the sample too small. "
            "Falling back to units along the linear trend and random directions, "
            "with output weights fitted by least squares.",
            InitializationWarning,
            stacklevel=3,
        )
        params = fallback_initialization(
            sample, y, activation, k, first, fit_intercept, known_output, random_state
        )
        diagnostics = Bunch(
            fallback=True,
            moment_orders=orders,
            spectrum=spectrum,
            noise_level=noise_level,
        )
        return params, diagnostics
    # V^T P_2 V is diagonal: the eigenvalues of the chosen eigenvectors.
    second = np.diag(eigenvalues) if orders.j2 == 2 else None
    higher = sample.projected_hermite_moments(
        residual, basis, orders.j3, quadratic=second
    )
    moments = [basis.T @ first, second, *higher[2:]]
    decomposition = decompose_reduced_tensor(
        moments, orders, k, random_state, n_cp_draws
    )
    output_scale = 1.0 / (k * _n_patches(sample)) if known_output else None
    signed_norms, output_weights, estimates = magnitudes_and_signs(
        decomposition, moments, activation, orders, y_scale, output_scale
    )
    hidden = sample.to_original(
        signed_norms[:, np.newaxis] * (basis @ decomposition.factors).T
    )
    params = NetworkParams(hidden, output_weights[np.newaxis, :], np.zeros(1))
    if not known_output:
        params = _fit_intercept_and_flips(sample, y, params, activation, fit_intercept)
    eigen_gap = _eigen_gap(spectrum, k, noise_level)
    diagnostics = Bunch(
        fallback=False,
        moment_orders=orders,
        spectrum=spectrum,
        noise_level=noise_level,
        eigen_gap=eigen_gap,
        cp_residual=decomposition.residual,
        cp_weights=decomposition.weights,
        magnitude_estimates=estimates,
    )
    _warn_if_unhealthy(spectrum[k - 1], noise_level, decomposition.residual)
    return params, diagnostics


def _linear_residual(sample, y):
    """The first Hermite moment and ``y`` minus its constant and linear terms.

    Hermite control variates: the moments of order >= 2 of the residual are those of
    ``y`` (Hermite polynomials of different orders are orthogonal), and their
    estimates are far less noisy. (Moments of order >= 3 get the quadratic term
    removed too, in :func:`~skrecover._moments.projected_hermite_moments`.)
    """
    centred = y - np.average(y, weights=sample.sample_weight)
    first = sample.first_moment(centred)
    return first, sample.remove_linear_part(centred, first)


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
    if auto:
        by_samples = max(1, int(n_effective // (dim + 1)))
        cap = min(dim, _MAX_AUTO_UNITS, by_samples)
    else:
        cap = n_hidden
    if orders.j2 == 2:
        vectors, values, entry_variance, signed = _p2_eigenvectors(
            sample, y, cap, random_state
        )
        noise_level = 2 * np.sqrt(dim * entry_variance / n_effective)
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


def _eigen_gap(spectrum, k, noise_level):
    following = spectrum[k] if k < len(spectrum) else 0.0
    return float(spectrum[k - 1] / max(following, noise_level, np.finfo(float).tiny))


def decompose_reduced_tensor(moments, orders, k, random_state, n_cp_draws):
    """CP decomposition of the reduced moment tensor (Steps 3-4).

    ``j3 = 3``: the third Hermite moment in the unit subspace. ``j3 = 4`` (ReLU
    family): the fourth, contracted with a random unit vector ``beta`` of the subspace
    to a third-order tensor for Jennrich's algorithm, then refined on the whole
    fourth-order tensor (a single contraction weighs unit ``i`` by ``beta^T u_i``,
    which can be small). Several ``beta`` are tried; the smallest residual wins.
    """
    if orders.j3 == 3:
        return symmetric_cp(
            moments[2], k, n_draws=n_cp_draws, random_state=random_state
        )
    fourth = moments[3]
    draws = max(1, n_cp_draws // _N_CONTRACTIONS)
    best = None
    for _ in range(_N_CONTRACTIONS):
        beta = random_state.standard_normal(k)
        beta /= np.linalg.norm(beta)
        contracted = np.tensordot(fourth, beta, axes=(3, 0))
        start = symmetric_cp(
            contracted, k, n_draws=draws, refine=False, random_state=random_state
        )
        candidate = refine_symmetric_cp(fourth, fit_cp_weights(fourth, start.factors))
        if best is None or candidate.residual < best.residual:
            best = candidate
    return best


def magnitudes_and_signs(
    decomposition, moments, activation, orders, y_scale, output_scale=None
):
    """Signed norms of the hidden units and output weights (Step 5, RecMagSign).

    With unit directions ``u_i`` (in the subspace) from the decomposition, least
    squares on ``M_1 = sum_i z_i u_i`` and ``M_2 = sum_i r_i u_i u_i^T`` give
    ``z_i = v_i s_i m_1(||w_i||)`` and ``r_i = v_i m_2(||w_i||)``, where ``s_i`` is
    the sign relating ``u_i`` to ``w_i``. A homogeneous activation of degree ``q`` has
    ``m_j(sigma) = sigma^q m_j(1)``, which gives the norms directly; otherwise the norm
    solves ``m_3(sigma) / m_1(sigma) = lambda_i / z_i`` with ``lambda_i`` the CP weight.

    With known positive output weights ``v`` (``output_scale``, classification),
    ``s_i = sign(z_i)`` and the norm inverts ``m_1(sigma) = |z_i| / v``, capped at 3
    where ``m_1`` of a sigmoid saturates (Fu, Chi and Liang, 2018).

    A unit whose output would exceed ``10 y_scale`` in standard deviation is scaled
    down to it: from few samples the moments can imply absurd magnitudes.

    Returns
    -------
    signed_norms : ndarray of shape (k,)
        ``s_i ||w_i||``.
    output_weights : ndarray of shape (k,)
    estimates : Bunch
        The raw least-squares estimates ``z`` and ``r``.
    """
    factors = decomposition.factors
    k = factors.shape[1]
    z = np.linalg.lstsq(factors, moments[0], rcond=None)[0]
    at_one = activation.hermite_constants(1.0)
    r = None
    if orders.l2 == 2:
        design = np.einsum("pi,qi->pqi", factors, factors).reshape(k * k, k)
        r = np.linalg.lstsq(design, moments[1].ravel(), rcond=None)[0]
    estimates = Bunch(z=z, r=r)
    degree = activation.degree
    if output_scale is not None:
        first_constant = activation.hermite_constants(_SIGMA_GRID)[:, 1]
        norms = _invert_on_grid(first_constant, np.abs(z) / output_scale)
        directions = np.sign(z * at_one[1])
        output = np.full(k, output_scale)
    elif degree:
        m1, m2 = at_one[1], at_one[2]
        norms = (np.abs(z) / abs(m1)) ** (1.0 / degree) if m1 else None
        if r is not None:
            output = np.sign(r / m2)
            if norms is None:
                norms = (np.abs(r) / abs(m2)) ** (1.0 / degree)
        else:
            output = np.ones(k)
        directions = np.sign(z / (output * m1)) if m1 else np.ones(k)
    else:
        if orders.j3 != 3 or not at_one[1]:
            raise ValueError(
                f"The tensor initialisation of the non-homogeneous activation "
                f"{activation.display_name!r} needs non-vanishing m_1 and m_3. Use "
                "init='random'."
            )
        constants = activation.hermite_constants(_SIGMA_GRID)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = constants[:, 3] / constants[:, 1]
        norms = _invert_on_grid(ratio, decomposition.weights / z)
        constants = activation.hermite_constants(norms)
        if r is not None:
            output = r / constants[:, 2]
            directions = np.sign(z / (output * constants[:, 1]))
        else:
            output = np.abs(z) / np.abs(constants[:, 1])
            directions = np.sign(z * constants[:, 1])
    if output_scale is None:
        norms, output = _guard_magnitudes(norms, output, activation, y_scale)
    norms = np.maximum(norms, _MIN_RELATIVE_NORM * max(norms.max(), 1e-12))
    directions = np.where(directions == 0, 1.0, directions)
    output = np.where(output == 0, 1.0, output)
    return directions * norms, output, estimates


def _guard_magnitudes(norms, output, activation, y_scale):
    """Bound each unit's output scale by ``10 y_scale``; floor tiny norms."""
    unit_sd = _output_sd(activation, norms) * np.abs(output)
    ceiling = _MAX_UNIT_SCALE * max(y_scale, np.finfo(float).tiny)
    shrink = np.minimum(1.0, ceiling / np.where(unit_sd > 0, unit_sd, np.inf))
    if activation.degree:
        norms = norms * shrink ** (1.0 / activation.degree)
    else:
        output = output * shrink
    return norms, output


def _output_sd(activation, norms):
    """Standard deviation of ``phi(sigma z)``, ``z ~ N(0, 1)``, to fourth Hermite order.

    Parseval: ``Var phi(sigma z) = sum_{j >= 1} m_j(sigma)^2 / j!``.
    """
    constants = activation.hermite_constants(np.asarray(norms, dtype=float))
    return np.sqrt((constants[..., 1:] ** 2 / [1.0, 2.0, 6.0, 24.0]).sum(axis=-1))


def _invert_on_grid(curve, values):
    """Norms ``sigma`` at which a function of the Hermite constants takes ``values``.

    ``curve`` holds the function on the log-spaced grid of 300 norms from 0.02 to 3
    (one quadrature for all units); between grid points it is interpolated linearly
    where it crosses the value, which is far more accurate than the moments it
    inverts. A value outside the curve's range saturates at the nearest grid point
    (so a norm never exceeds 3, where sigmoid-like constants saturate), which
    gradient descent then corrects.
    """
    norms = np.empty(len(values))
    for i, value in enumerate(values):
        best = int(np.nanargmin(np.abs(curve - value)))
        norms[i] = _SIGMA_GRID[best]
        for lower in (best - 1, best):
            upper = lower + 1
            if lower < 0 or upper >= len(_SIGMA_GRID):
                continue
            left, right = curve[lower] - value, curve[upper] - value
            if left * right < 0:
                share = left / (left - right)
                norms[i] = _SIGMA_GRID[lower] + share * (
                    _SIGMA_GRID[upper] - _SIGMA_GRID[lower]
                )
    return norms


def _fit_intercept_and_flips(sample, y, params, activation, fit_intercept):
    """Intercept matching the mean of ``y`` (or, without one, unit flips that do).

    For an odd-type activation with ``phi(-t) = c - phi(t)``, moments fix only
    ``v_j s_j``; flipping unit ``j`` to ``(-v_j, -w_j)`` shifts the mean output by
    ``-v_j c``. Without an intercept, the flips whose mean best matches ``y`` are kept.
    """
    weights = sample.sample_weight
    mean_y = np.average(y, weights=weights)
    output = forward(sample.X, params, activation, patch_indices=sample.patch_indices)
    mean_output = np.average(output[:, 0], weights=weights)
    if fit_intercept:
        return params._replace(intercept=np.array([mean_y - mean_output]))
    offset = activation.flip_offset * _n_patches(sample)
    if activation.symmetry != "odd" or offset == 0:
        return params
    output = params.output_weights[0]
    k = len(output)
    if k > 16:
        return params
    patterns = (np.arange(2**k)[:, np.newaxis] >> np.arange(k)) & 1
    shifts = -offset * patterns @ output
    flip = patterns[np.argmin(np.abs(mean_output + shifts - mean_y))].astype(bool)
    signs = np.where(flip, -1.0, 1.0)
    return params._replace(
        hidden_weights=params.hidden_weights * signs[:, np.newaxis],
        output_weights=params.output_weights * signs,
    )


def _n_patches(sample):
    return 1 if sample.patch_indices is None else len(sample.patch_indices)


def _warn_if_unhealthy(weakest, noise_level, cp_residual):
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
    if problems:
        warnings.warn(
            "The tensor initialisation is unreliable: "
            + " and ".join(problems)
            + ". More samples, fewer hidden units (n_hidden) or standardised Gaussian "
            "inputs make it reliable; gradient descent still runs from it.",
            InitializationWarning,
            stacklevel=3,
        )


def fallback_initialization(
    sample, y, activation, n_hidden, first, fit_intercept, known_output, random_state
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
        output = np.full(n_hidden, 1.0 / (n_hidden * _n_patches(sample)))
        return NetworkParams(hidden, output[np.newaxis, :], np.zeros(1))
    features = hidden_features(
        sample.X, hidden, activation, patch_indices=sample.patch_indices
    )
    if fit_intercept:
        features = np.column_stack([features, np.ones(len(features))])
    root = np.sqrt(sample.sample_weight)[:, np.newaxis]
    coefficients = np.linalg.lstsq(features * root, y * root[:, 0], rcond=None)[0]
    output = coefficients[:n_hidden]
    intercept = coefficients[n_hidden:] if fit_intercept else np.zeros(1)
    output = np.where(output == 0, 1e-3, output)
    return NetworkParams(hidden, output[np.newaxis, :], np.asarray(intercept, float))


def random_initialization(
    sample,
    y,
    activation,
    n_hidden,
    *,
    fit_intercept=True,
    known_output=False,
    n_cp_draws=None,
    random_state,
):
    """Gaussian hidden units of unit norm (in whitened coordinates) and random signs.

    The output weights are scaled so that the network's output has about the
    standard deviation of ``y`` (or, with ``known_output``, are
    ``1 / (n_hidden n_patches)``). ``n_hidden="auto"`` uses the spectrum of ``P_2``
    (as the tensor initialisation does) to choose the number of units.
    """
    y_sd = np.sqrt(weighted_variance(y, sample.sample_weight))
    if n_hidden == "auto":
        n_hidden = unit_subspace(
            sample,
            _linear_residual(sample, y)[1],
            activation.moment_orders,
            "auto",
            random_state,
            y_sd,
        )[0].shape[1]
    directions = random_state.standard_normal((n_hidden, sample.dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    n_units = n_hidden * _n_patches(sample)
    if known_output:
        output = np.full(n_hidden, 1.0 / n_units)
    else:
        unit_sd = max(float(_output_sd(activation, 1.0)), 1e-12)
        output = random_state.choice([-1.0, 1.0], n_hidden) * (
            max(y_sd, 1e-12) / (unit_sd * np.sqrt(n_units))
        )
    params = NetworkParams(
        sample.to_original(directions), output[np.newaxis, :], np.zeros(1)
    )
    if not known_output:
        params = _fit_intercept_and_flips(sample, y, params, activation, fit_intercept)
    return params, Bunch(fallback=False)
