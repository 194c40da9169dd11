r"""
=====================================================================================
Cross-entropy against squared loss, and the error against n (Fu, Chi and Liang, 2018)
=====================================================================================

Fu, Chi and Liang (2018) learn
:math:`P(y = 1 \mid x) = \frac{1}{K} \sum_k \sigma(w_k^\top x)` from binary labels:
tensor initialisation adapted to labels, then gradient descent on the cross-entropy,
with the distance to the true weights shrinking like :math:`1 / \sqrt{n}`.
Here :class:`~skrecover.TensorInitGDClassifier` (cross-entropy) is compared with
:class:`~skrecover.TensorInitGD` fitting the same sigmoid network to the 0/1 labels
by least squares, over the number of samples.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skrecover import TensorInitGD, TensorInitGDClassifier
from skrecover.datasets import make_teacher_classification
from skrecover.metrics import recovery_error

warnings.simplefilter("ignore")
sizes, seeds = [3000, 10_000, 30_000, 100_000], range(3)
errors = {"cross-entropy": [], "squared loss": []}
for n in sizes:
    per_seed = {name: [] for name in errors}
    for seed in seeds:
        X, y, teacher = make_teacher_classification(
            n_samples=n, n_features=5, n_hidden=2, random_state=seed
        )
        models = {
            "cross-entropy": TensorInitGDClassifier(n_hidden=2, random_state=0),
            "squared loss": TensorInitGD(
                n_hidden=2, activation="sigmoid", random_state=0
            ),
        }
        for name, model in models.items():
            per_seed[name].append(recovery_error(teacher, model.fit(X, y)))
    for name in errors:
        errors[name].append(np.median(per_seed[name]))
print(errors)

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for name, values in errors.items():
    ax.loglog(sizes, values, "o-", label=name)
reference = errors["cross-entropy"][0] * np.sqrt(sizes[0] / np.array(sizes))
ax.loglog(sizes, reference, ":", color="grey", label="1 / sqrt(n)")
ax.set_xlabel("samples n")
ax.set_ylabel("max relative unit error (median of 3)")
ax.set_title("sigmoid teacher, d = 5, K = 2")
ax.legend()
plt.show()
