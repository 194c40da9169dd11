"""
====================================================
Compare with baselines on diabetes and digits
====================================================

skrecover's estimators are scikit-learn estimators: they go into a
:class:`~sklearn.pipeline.Pipeline`, are tuned by
:class:`~sklearn.model_selection.GridSearchCV` and cross-validated in parallel with
``cross_val_score(n_jobs=-1)``, next to Ridge, MLPs and gradient boosting. On real
data no teacher network exists and the recovery guarantees do not apply; this
example shows where the provable methods stand as ordinary models.
"""

# %%
# Regression: diabetes
# --------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrecover import PracticalSizeGD, PracticalSizeGDClassifier, TensorInitGD

warnings.simplefilter("ignore")
X, y = load_diabetes(return_X_y=True)
tuned = GridSearchCV(
    make_pipeline(StandardScaler(), TensorInitGD(activation="tanh", random_state=0)),
    {"tensorinitgd__n_hidden": [1, 2, 3]},
    cv=3,
)
regressors = {
    "TensorInitGD (tuned)": tuned,
    "PracticalSizeGD": make_pipeline(StandardScaler(), PracticalSizeGD(random_state=0)),
    "RidgeCV": make_pipeline(StandardScaler(), RidgeCV()),
    "MLPRegressor": make_pipeline(
        StandardScaler(), MLPRegressor(max_iter=2000, random_state=0)
    ),
    "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0),
}
results = {
    name: cross_validate(model, X, y, cv=5, n_jobs=-1, return_estimator=True)
    for name, model in regressors.items()
}
regression = {name: result["test_score"] for name, result in results.items()}
for name, scores in regression.items():
    print(f"diabetes  {name:22s} R^2 {scores.mean():.3f} +- {scores.std():.3f}")
for search in results["TensorInitGD (tuned)"]["estimator"]:
    print("chosen in a fold:", search.best_params_)

# %%
# Classification: digits
# ----------------------
# The first 1200 digits (of 1797), for a page that builds in under a minute.
X, y = load_digits(return_X_y=True)
X, y = X[:1200], y[:1200]
classifiers = {
    "PracticalSizeGD (pretrained)": make_pipeline(
        StandardScaler(), PracticalSizeGDClassifier(pretrain_iter=30, random_state=0)
    ),
    "LogisticRegression": make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000)
    ),
    "MLPClassifier": make_pipeline(StandardScaler(), MLPClassifier(random_state=0)),
    "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0),
}
classification = {
    name: cross_val_score(model, X, y, cv=5, n_jobs=-1)
    for name, model in classifiers.items()
}
for name, scores in classification.items():
    print(f"digits    {name:28s} accuracy {scores.mean():.3f} +- {scores.std():.3f}")

# %%
# The scores side by side
# -----------------------
# Each axis spans the scores it shows, so that close scores stay apart; the bars
# carry their means and the whiskers one standard deviation over the folds.
fig, (left, right) = plt.subplots(2, 1, figsize=(7.5, 7), layout="constrained")
for ax, results, label in (
    (left, regression, "diabetes: R^2"),
    (right, classification, "digits: accuracy"),
):
    names = list(results)
    means = np.array([s.mean() for s in results.values()])
    spreads = np.array([s.std() for s in results.values()])
    positions = np.arange(len(names))
    ax.barh(positions, means, xerr=spreads, color="tab:blue", alpha=0.8)
    low = (means - spreads).min()
    high = min((means + spreads).max(), 1.0)
    margin = 0.1 * (high - low)
    ax.set_xlim(low - margin, high + 4 * margin)
    for position, mean, spread in zip(positions, means, spreads, strict=True):
        ax.text(mean + spread + margin / 4, position, f"{mean:.3f}", va="center")
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.set_xlabel(f"5-fold cross-validated {label}")
plt.show()

# %%
# On diabetes, a noisy regression of ten features, every model is within about
# 0.1 of Ridge, which is as good as any: the data are far from a shallow
# network, and the provable methods act as ordinary regressors (PracticalSizeGD
# with ``alpha="auto"`` is a ridge regression on random features; its
# interpolating fit, ``alpha=0``, scores about -0.6). On digits the certified
# classifier is close to logistic regression and the MLP. Neither data set has a
# teacher to recover: see :doc:`/choosing` for when the recovery methods pay off.
