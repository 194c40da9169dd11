"""Gradient descent to a certified global minimum, for classification (Kawaguchi
and Huang, 2019): softmax cross-entropy on the wide layer's features."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import special
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions

from ._base import class_labels
from ._practical_size import _BasePracticalSize


class PracticalSizeGDClassifier(ClassifierMixin, _BasePracticalSize):
    """Deep classifier trained by gradient descent to a certified global infimum.

    The network of :class:`PracticalSizeGD` with a softmax output (multiclass
    natively) and the cross-entropy, convex in the output weights. With the feature
    matrix of rank ``n``, the training data are separable, every training point is
    eventually classified correctly, and the cross-entropy tends to its infimum 0
    (not attained: the weights grow). The certificate checks the rank and reports
    the loss against 0.

    Practical range: as :class:`PracticalSizeGD` (``n x 2n`` floats).

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(32,)
        Widths of the narrow hidden layers.
    activation : {"tanh", "sigmoid", "softplus"} or Activation, default="tanh"
        Analytic, strictly increasing activation; ReLU is refused.
    width : int or "auto", default="auto"
        Width of the wide layer; ``"auto"`` means ``2 n``.
    alpha : "auto" or float, default="auto"
        Ridge penalty on the trained layer; ``0`` is the paper's fit (every
        training point classified, the cross-entropy tending to 0); ``"auto"``
        chooses it by leave-one-out cross-validation of the ridge fit of the
        class indicators.
    solver : {"lbfgs", "gd", "agd"}, default="lbfgs"
        Full-batch solver of the output layer (through the shared driver, from 0).
    max_iter : int, default=500
        Iterations of the solver.
    tol : float, default=1e-10
        Relative improvement below which the solver stops.
    global_tol : float, default=1e-4
        The certificate accepts a mean training cross-entropy up to this value as
        the infimum 0 (with every training point classified correctly).
    pretrain_iter : int, default=0
        Iterations of L-BFGS on all layers before the lower ones are frozen.
    perturbation : float, default=1e-6
        Relative random jitter added to pretrained lower layers.
    max_memory : float, default=2**32
        Bytes the feature matrix and its solver may use.
    random_state : int, RandomState instance or None, default=None
        Seed of the lower layers.
    verbose : int, default=0
        Print the solvers' progress.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : ndarray of shape (`width_`, n_classes)
    intercepts_ : ndarray of shape (n_classes,)
    layers_ : object
    width_ : int
    alpha_ : float
        The ridge penalty used: ``alpha``, or the one leave-one-out
        cross-validation chose.
    certificate_ : Bunch
        As for :class:`PracticalSizeGD`, with ``train_loss`` the mean
        cross-entropy and ``train_accuracy``; ``predicted_gd_iterations`` is that
        of the squared loss (the cross-entropy converges sublinearly).
    is_global_minimum_ : bool
        ``alpha = 0``: full rank, every training point classified correctly and
        mean cross-entropy within ``global_tol`` of 0; ``alpha > 0``: objective
        within ``global_tol`` of its lower bound.
    n_iter_ : int
    loss_curve_ : list of float
    x_mean_, x_scale_ : ndarray of shape (`n_features_in_`,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    PracticalSizeGD : The regressor.
    skrecover.model_selection.label_randomization_test : Natural against shuffled
        labels.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from skrecover import PracticalSizeGDClassifier
    >>> X, y = load_wine(return_X_y=True)
    >>> model = PracticalSizeGDClassifier(alpha=0, random_state=0).fit(X, y)
    >>> model.score(X, y), model.certificate_["full_rank"], model.is_global_minimum_
    (1.0, True, True)
    """

    _parameter_constraints: dict = {
        **_BasePracticalSize._parameter_constraints,
        "solver": [StrOptions({"gd", "agd", "lbfgs"})],
    }
    # A ridge penalty alpha bounds the cross-entropy's curvature below by alpha.
    _uncertified_advice = (
        "Increase max_iter, or set a larger alpha (the objective is then better "
        "conditioned)."
    )

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        activation="tanh",
        *,
        width="auto",
        alpha="auto",
        solver="lbfgs",
        max_iter=500,
        tol=1e-10,
        global_tol=1e-4,
        pretrain_iter=0,
        perturbation=1e-6,
        max_memory=2**32,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            width=width,
            alpha=alpha,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            global_tol=global_tol,
            pretrain_iter=pretrain_iter,
            perturbation=perturbation,
            max_memory=max_memory,
            random_state=random_state,
            verbose=verbose,
        )

    def decision_function(self, X):
        """Logits of the classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes), or (n_samples,) for two
            Logits; for two classes, the second class's minus the first's.
        """
        logits = self._output(X)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X):
        """Softmax probabilities of the classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1.
        """
        return special.softmax(self._output(X), axis=1)

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        logits = self._output(X)
        return class_labels(self.classes_, np.argmax(logits, axis=1))

    def _initial_solver(self):
        return self.solver

    def _fitted_attributes(self, state, model):
        return {
            **super()._fitted_attributes(state, model),
            "classes_": state.data.classes,
        }

    def _check_certificate(self, state, certificate, output):
        accuracy = float(np.mean(output.argmax(axis=1) == state.data.y.argmax(axis=1)))
        certificate.train_accuracy = accuracy
        if certificate.alpha == 0:  # the infimum 0 needs every point classified
            certificate.is_global_minimum = (
                certificate.is_global_minimum and accuracy == 1
            )
        super()._check_certificate(state, certificate, output)

    @staticmethod
    def _losses(logits, Y):
        """Summed softmax cross-entropy and its derivative in the logits."""
        log_proba = special.log_softmax(logits, axis=1)
        return -float(np.sum(Y * log_proba)), np.exp(log_proba) - Y

    @staticmethod
    def _loss_unit(scaling):
        return 1.0

    def _loss_floor(self, Y):
        return self.global_tol / 10

    def _global_threshold(self, start_loss):
        return self.global_tol
