"""
=====================================================================
Zero training loss on natural and on random labels (digits)
=====================================================================

Kawaguchi and Huang (2019) prove that a network with narrow random lower layers, one
hidden layer as wide as the data, and a trained linear output reaches the *global*
minimum of its training loss -- zero -- by gradient descent, with a number of
trainable parameters linear in the number of samples. It does so whatever the
labels are: on scikit-learn's digits with their true labels and with the labels
shuffled, :class:`~skrecover.PracticalSizeGDClassifier` classifies every training
image correctly, and its certificate checks the rank of the feature matrix. Only the
held-out scores tell the two apart: trainability says nothing about generalisation.
:func:`~skrecover.model_selection.label_randomization_test` runs this comparison
with cross-validation; an :class:`~sklearn.neural_network.MLPClassifier` with about
as many trainable parameters is shown alongside.
"""

# %%
# Natural against shuffled labels
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier

from skrecover import PracticalSizeGDClassifier
from skrecover.model_selection import label_randomization_test

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]

models = {
    "PracticalSizeGD (random lower layers)": PracticalSizeGDClassifier(random_state=0),
    "PracticalSizeGD (pretrained 30 its)": PracticalSizeGDClassifier(
        pretrain_iter=30, random_state=0
    ),
}
results = {
    name: label_randomization_test(model, X, y, n_permutations=2, cv=3, random_state=0)
    for name, model in models.items()
}
for name, result in results.items():
    certificate = result.certificate
    print(
        f"{name}: train {result.train_score:.2f} / shuffled "
        f"{result.shuffled_train_scores.min():.2f}; cross-validated "
        f"{result.cv_scores.mean():.3f} / shuffled "
        f"{result.shuffled_cv_scores.mean():.3f}; rank {certificate['rank']} of "
        f"{len(y)}, condition number {certificate['condition_number']:.3g}, "
        f"p = {result.pvalue:.2f}"
    )

# An MLP with about as many trainable parameters (12 000: 75 h + 10 for h units).
mlp = MLPClassifier(hidden_layer_sizes=(160,), max_iter=200, random_state=0)
shuffled = np.random.default_rng(0).permutation(y)
mlp_scores = {
    "natural": cross_val_score(mlp, X, y, cv=3).mean(),
    "shuffled": cross_val_score(mlp, X, shuffled, cv=3).mean(),
}
print(f"MLPClassifier(160): cross-validated {mlp_scores}")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
names = [*results, "MLPClassifier(160)"]
natural = [r.cv_scores.mean() for r in results.values()] + [mlp_scores["natural"]]
random = [r.shuffled_cv_scores.mean() for r in results.values()] + [
    mlp_scores["shuffled"]
]
positions = np.arange(len(names))
ax.bar(positions - 0.2, natural, 0.4, label="natural labels")
ax.bar(positions + 0.2, random, 0.4, label="shuffled labels")
ax.axhline(0.1, color="grey", linestyle=":", label="chance")
ax.set_xticks(positions, [n.replace(" (", "\n(") for n in names])
ax.set_ylim(0, 1)
ax.set_ylabel("cross-validated accuracy")
ax.set_title("Training accuracy is 100% in every case")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.show()
