"""Model-selection diagnostics: natural against randomised labels."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import cross_val_score
from sklearn.utils import Bunch, check_random_state

__all__ = ["label_randomization_test"]


def label_randomization_test(
    estimator,
    X,
    y,
    *,
    n_permutations=5,
    cv=5,
    scoring=None,
    n_jobs=None,
    random_state=None,
):
    """Fit on the natural labels and on shuffled ones; compare train and test.

    The diagnostic of Zhang et al. (2017) that Kawaguchi and Huang (2019) use: a
    network that provably reaches zero training loss does so on natural *and* on
    randomly permuted labels, so the training loss says nothing about
    generalisation; held-out scores tell the two apart. For each of the natural
    labels and ``n_permutations`` shuffles of them, the estimator is fitted on all
    of ``(X, y)`` (training score, and its certificate when it has one) and
    cross-validated. The p-value is that of a permutation test of the natural
    cross-validated score, ``(1 + #{shuffled >= natural}) / (1 + n_permutations)``,
    as in :func:`sklearn.model_selection.permutation_test_score`.

    The test is about the unregularised training loss: an estimator with an
    ``alpha`` parameter (:class:`~skrecover.PracticalSizeGD`) is fitted with
    ``alpha=0``, the interpolating fit of the paper.

    Parameters
    ----------
    estimator : estimator object
        Any scikit-learn estimator; certificates are reported for those with a
        ``certificate_`` (:class:`~skrecover.PracticalSizeGD`).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_permutations : int, default=5
        Number of label shuffles.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`sklearn.model_selection.cross_val_score`.
    scoring : str or callable, default=None
        Scorer for the training and the cross-validated scores (the estimator's
        ``score`` by default).
    n_jobs : int, default=None
        Fits run in parallel over the label sets.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffles.

    Returns
    -------
    result : Bunch
        ``train_score`` and ``cv_scores`` (shape (cv,)) for the natural labels;
        ``shuffled_train_scores`` (n_permutations,) and ``shuffled_cv_scores``
        (n_permutations, cv); ``certificate`` and ``shuffled_certificates`` (None
        without ``certificate_``); ``pvalue``.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from skrecover import PracticalSizeGDClassifier
    >>> from skrecover.model_selection import label_randomization_test
    >>> X, y = load_wine(return_X_y=True)
    >>> result = label_randomization_test(
    ...     PracticalSizeGDClassifier(random_state=0), X, y, n_permutations=3,
    ...     random_state=0)
    >>> result.train_score, float(result.shuffled_train_scores.min())
    (1.0, 1.0)
    >>> bool(result.cv_scores.mean() > 0.9 > 0.4 > result.shuffled_cv_scores.mean())
    True
    >>> result.pvalue
    0.25
    """
    y = np.asarray(y)
    if "alpha" in estimator.get_params():
        estimator = clone(estimator).set_params(alpha=0)
    rng = check_random_state(random_state)
    label_sets = [y] + [rng.permutation(y) for _ in range(n_permutations)]
    outcomes = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_cross_validate)(estimator, X, labels, cv, scoring)
        for labels in label_sets
    )
    (train, cv_scores, certificate), shuffled = outcomes[0], outcomes[1:]
    shuffled_cv = np.array([scores for _, scores, _ in shuffled])
    beaten = np.sum(shuffled_cv.mean(axis=1) >= cv_scores.mean())
    return Bunch(
        train_score=train,
        cv_scores=cv_scores,
        certificate=certificate,
        shuffled_train_scores=np.array([score for score, _, _ in shuffled]),
        shuffled_cv_scores=shuffled_cv,
        shuffled_certificates=[cert for _, _, cert in shuffled],
        pvalue=float((1 + beaten) / (1 + n_permutations)),
    )


def _fit_and_cross_validate(estimator, X, y, cv, scoring):
    fitted = clone(estimator).fit(X, y)
    train = float(check_scoring(fitted, scoring=scoring)(fitted, X, y))
    scores = cross_val_score(clone(estimator), X, y, cv=cv, scoring=scoring)
    return train, scores, getattr(fitted, "certificate_", None)
