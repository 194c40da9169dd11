"""Tensor-initialised gradient descent on the cross-entropy (Fu, Chi, Liang, 2018)."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.parallel import Parallel, delayed

from ._base import N_JOBS_CONSTRAINT, class_labels
from ._network import NetworkParams, log_probabilities
from ._tensor_init import units_centred_on_inputs
from ._tensor_init_gd import _BaseTensorInitGD
from .activations import Activation, get_activation

_PROBABILITY_EPS = 1e-15


class TensorInitGDClassifier(ClassifierMixin, _BaseTensorInitGD):
    r"""Tensor-initialised gradient descent on the cross-entropy, for classification.

    Fits ``P(y = 1 | x) = (1 / K) sum_k phi(w_k^T x + c_k)`` (Fu, Chi and Liang,
    2018): an average of ``K`` sigmoid units with known output weights ``1 / K``,
    or, with ``patch_size``, of kernels shared by disjoint patches, ``(1 / (K r))
    sum_k sum_l phi(w_k^T x_l + c_k)``. The hidden biases ``c_k`` let it represent
    class priors (without them ``P = 1/2`` at ``x = 0``). The moment initialisation
    of :class:`TensorInitGD` on the centred labels lands close to the true weights
    when ``x ~ N(0, I)``, and gradient descent on the cross-entropy then converges
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
    fit_hidden_bias : bool, default=True
        Fit a bias ``c_k`` for every unit; ``False`` is the model of the paper.
    n_init : "auto" or int, default="auto"
        Draws of the initialisation, the fit of lowest final loss kept; see
        :class:`TensorInitGD`.
    solver : {"auto", "lbfgs", "gd"}, default="auto"
        See :class:`TensorInitGD`.
    learning_rate : "auto" or float, default="auto"
        Step size of ``solver="gd"``.
    max_iter : int, default=200
        Maximum number of gradient iterations.
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
    moments : {"control_variates", "paper"}, default="control_variates"
        The estimator of the moments of the initialisation: Hermite control
        variates, or (``"paper"``, for faithful reproductions of Zhong et al.,
        2017) the plain empirical moments of the 0/1 labels, which are noisier;
        see :class:`TensorInitGD`.
    warm_start : bool, default=False
        Start gradient descent from the previous solution (on the same classes).
    certify : bool, default=False
        Compute ``certificate_`` and the covariance behind
        :meth:`confidence_intervals` after the fit (the Hessian by differences of
        the gradient: two passes over the training rows per trained parameter).
    n_jobs : int, default=None
        Binary problems initialised in parallel (one per class beyond two
        classes); ``None`` means 1 unless in a :class:`joblib.parallel_config`
        context.
    verbose : int, default=0
        Print the loss at every iteration.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of the validation split.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    hidden_weights_ : ndarray of shape (n_units, `n_features_in_` or patch length)
        The units ``w_k`` of every binary problem as rows (one problem for two
        classes, one per class against the rest beyond).
    output_weights_ : ndarray of shape (n_problems, n_units)
        The known output weights: ``1 / (K r)`` from each problem's units to its
        output, 0 elsewhere. The same layout for any number of classes.
    n_hidden_ : ndarray of shape (n_problems,)
        Number of units of each binary problem.
    hidden_biases_ : ndarray of shape (n_units,)
        Hidden biases ``c_k`` (``fit_hidden_bias=True`` only).
    init_hidden_weights_ : ndarray of shape like ``hidden_weights_``
        Weights of the initialisation (with ``warm_start``, of the first fit).
    init_hidden_biases_ : ndarray of shape (n_units,)
        Hidden biases of the initialisation (``fit_hidden_bias=True`` only).
    certificate_ : Bunch
        Only with ``certify=True``: the gradient and Hessian of the cross-entropy
        at the fitted network over the trained hidden weights (and biases), and
        the covariance behind :meth:`confidence_intervals`; the fields of
        ``TensorInitGD.certificate_``.
    n_init_ : int
        Number of draws of the initialisation that ran for the kept fit.
    init_output_weights_ : ndarray of shape like ``output_weights_``
        Output weights of the initialisation.
    activation_ : Activation
        The activation used.
    network_ : Network
        The fitted network, whose output ``o`` is ``P(class o)`` of problem ``o``.
    patch_indices_ : ndarray of shape (n_patches, patch length)
        Feature indices of each patch (only with ``patch_size``).
    solver_ : str
        The solver that ran.
    n_iter_ : int
        Gradient iterations run (the problems are trained together).
    loss_curve_ : list of float
        The sum over the binary problems of their mean cross-entropy, after each
        iteration.
    validation_loss_curve_ : list of float
        Held-out loss after each iteration (``early_stopping`` only).
    diagnostics_ : Bunch
        ``problems``: the diagnostics of each problem's initialisation, as for
        :class:`TensorInitGD`, with ``recentred_units`` (units recentred on the
        inputs, see Notes); ``input_statistics``: per-feature moments of ``X``.
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
    **Model.** :math:`P(y = 1 \mid x) = \frac{1}{K} \sum_{k=1}^K \sigma(w_k^\top x +
    c_k)`, with hidden biases :math:`c_k` (:math:`c_k = 0` with
    ``fit_hidden_bias=False``, the paper's model). The labels only reveal
    :math:`\mathbb{E}[y \mid x]`, so the moments :math:`\mathbb{E}[y\, He_p(x)]` are
    those of the regression network with output weights :math:`1 / K`; without
    biases the sigmoid's second and fourth Hermite constants vanish, so both the
    subspace and the tensor come from the third moment, and each norm
    :math:`\|w_k\|` inverts :math:`m_1` (capped at 3, where :math:`m_1` saturates).
    With biases the moments are read as in :class:`TensorInitGD`.

    **Guarantee.** With :math:`n \ge d\, \mathrm{poly}(K, \kappa) \log d` samples
    the empirical cross-entropy is strongly convex near the true weights and
    gradient descent from the tensor initialisation converges linearly to its
    unique critical point there, whose distance to the true weights shrinks like
    :math:`\sqrt{d \log n / n}` (Fu, Chi and Liang, 2018). Unlike the regression
    case, the true weights are not recovered exactly: Bernoulli labels leave a
    statistical error.

    **Loss.** The cross-entropy is computed in log space,

    .. math::

        \log P = \operatorname{logsumexp}_k \big(\log \sigma(w_k^\top x + c_k)\big)
        - \log K,

    so no probability is clipped: the loss the solver minimises is the log-loss of
    the model that :meth:`predict_proba` uses, and saturated units keep their
    gradient.

    **Inputs far from centred.** The moments place each unit for centred inputs,
    on which :math:`w_k^\top x` spreads as :math:`\mathcal{N}(0, \|w_k\|^2)`
    about :math:`c_k`. Where an offset dominates it instead (a mean beyond twice
    its spread on the training rows, as on raw pixel intensities), every row
    falls on the same side of the sigmoid and the descent stalls; such a unit is
    rescaled and its bias shifted so that it spreads as :math:`\mathcal{N}(c_k,
    \|w_k\|^2)` on the data (``diagnostics_.problems[o].recentred_units``
    counts them). Centred inputs are left as they are; standardising the
    features (:class:`~sklearn.preprocessing.StandardScaler`) remains the
    setting of the guarantee.

    **Beyond the model.** With more than two classes, the one-vs-rest networks are
    initialised separately (in parallel with ``n_jobs``), trained together as one
    network with an output per class, and their probabilities normalised.

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
    array([2])
    >>> recovery_error(teacher, model) < 0.1
    True
    """

    _parameter_constraints: dict = {
        **_BaseTensorInitGD._parameter_constraints,
        "activation": [StrOptions({"sigmoid"}), Activation],
        "n_jobs": N_JOBS_CONSTRAINT,
    }
    _loss = "cross_entropy"

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
        moments="control_variates",
        fit_hidden_bias=True,
        n_init="auto",
        warm_start=False,
        certify=False,
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
        self.moments = moments
        self.fit_hidden_bias = fit_hidden_bias
        self.n_init = n_init
        self.warm_start = warm_start
        self.certify = certify
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    def _class_targets(self, encoded, n_classes):
        """One binary problem for two classes, one per class (against the rest)
        beyond."""
        if n_classes == 2:
            return (encoded == 1).astype(np.float64)[:, np.newaxis]
        return super()._class_targets(encoded, n_classes)

    def _resolve_activation(self):
        activation = get_activation(self.activation)
        values = activation(np.linspace(-50, 50, 201))
        if values.min() < 0 or values.max() > 1:
            raise ValueError(
                f"The activation {activation.display_name!r} takes values outside "
                "[0, 1]: an average of its units is not a probability. Use 'sigmoid'."
            )
        return activation

    def _free_parameters(self, activation):
        return ["hidden_weights", *self._bias_parameters()]

    def _grows(self, state):
        # One binary problem: units are added to it one at a time (beyond two
        # classes each problem keeps the count of its moments).
        return len(state.data.classes) == 2

    def _initialize(self, state):
        classes = state.data.classes
        if self._warm() and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start: the classes {classes.tolist()} differ from the "
                f"classes {self.classes_.tolist()} of the previous fit; set "
                "warm_start=False."
            )
        return super()._initialize(state)

    def _initial_network(
        self, sample, Y, activation, random_state, n_hidden, min_signal_to_noise=None
    ):
        """One network per binary problem, initialised in parallel, then joined
        into one network with an output per problem (None if any problem's moments
        are too weak for ``min_signal_to_noise``). Every problem draws from a
        stream of the same seed: a problem's start depends on its class's rows,
        not on where the class falls in the sorted labels (with a stream per
        position, swapping two iris labels changed a class's units from 3 to
        2)."""
        seed = random_state.randint(np.iinfo(np.int32).max)
        problems = Parallel(n_jobs=self.n_jobs)(
            delayed(self._initialise_problem)(
                sample,
                Y[:, o],
                activation,
                np.random.RandomState(seed),
                True,
                n_hidden,
                min_signal_to_noise,
            )
            for o in range(Y.shape[1])
        )
        parts = [params for params, _ in problems]
        params = None if any(p is None for p in parts) else _join_problems(parts)
        diagnostics = Bunch(
            problems=[diagnostics for _, diagnostics in problems],
            messages=[m for _, diagnostics in problems for m in diagnostics.messages],
        )
        for problem in diagnostics.problems:
            del problem["messages"]
        return params, diagnostics

    def _initialise_problem(self, sample, *args, **kwargs):
        """The initialisation of one binary problem, its units recentred on the
        inputs where an offset dominates them (:func:`~skrecover._tensor_init.
        units_centred_on_inputs`): with known output weights, a unit saturated on
        every row has no output weight to compensate it."""
        params, diagnostics = super()._initialise_problem(sample, *args, **kwargs)
        if params is not None:
            params, diagnostics.recentred_units = units_centred_on_inputs(
                sample, params
            )
        return params, diagnostics

    def _output_attributes(self, state, fitted, initial):
        return {
            "classes_": state.data.classes,
            "output_weights_": fitted.output_weights,
            "init_output_weights_": initial.output_weights,
            "n_hidden_": (fitted.output_weights > 0).sum(axis=1),
        }

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            ``(1 - P, P)`` for two classes; beyond, the one-vs-rest probabilities
            normalised to sum to one. Inside ``[1e-15, 1 - 1e-15]``.
        """
        log_p, log_q = self._log_probabilities(X)
        if log_p.shape[1] == 1:
            proba = np.exp(np.stack([log_q[:, 0], log_p[:, 0]], axis=1))
        else:
            proba = np.exp(log_p - log_p.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
        return np.clip(proba, _PROBABILITY_EPS, 1 - _PROBABILITY_EPS)

    def decision_function(self, X):
        """Log-odds of the positive class (of each class against the rest).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``log(P / (1 - P))``, computed in log space (finite for any input).
        """
        log_p, log_q = self._log_probabilities(X)
        scores = log_p - log_q
        return scores[:, 0] if scores.shape[1] == 1 else scores

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
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return class_labels(self.classes_, (scores > 0).astype(int))
        return class_labels(self.classes_, np.argmax(scores, axis=1))

    def _log_probabilities(self, X):
        """``log P`` and ``log(1 - P)`` of every binary problem, (n, n_problems)."""
        X = self._validated(X)
        network = self.network_
        return log_probabilities(
            X, network.params, network.activation, patch_indices=network.patch_indices
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


def _join_problems(networks):
    """One network whose output ``o`` is the network of problem ``o``: the hidden
    units stacked, the output weights block-diagonal."""
    sizes = [len(network.hidden_weights) for network in networks]
    output = np.zeros((len(networks), sum(sizes)))
    starts = np.cumsum([0, *sizes])
    for o, network in enumerate(networks):
        output[o, starts[o] : starts[o + 1]] = network.output_weights[0]
    biases = [network.hidden_biases for network in networks]
    return NetworkParams(
        np.vstack([network.hidden_weights for network in networks]),
        output,
        np.zeros(len(networks)),
        None if biases[0] is None else np.concatenate(biases),
    )
