"""
=======================================================================
Cross-entropy against squared loss, and the error against n (FCL18)
=======================================================================

Fu, Chi and Liang (2018) learn ``P(y = 1 | x) = (1/K) sum_k sigmoid(w_k^T x)`` from
binary labels: tensor initialisation adapted to labels, then gradient descent on the
cross-entropy, with the distance to the true weights shrinking like ``1 / sqrt(n)``.
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

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in errors.items():
    ax.loglog(sizes, values, "o-", label=name)
reference = errors["cross-entropy"][0] * np.sqrt(sizes[0] / np.array(sizes))
ax.loglog(sizes, reference, ":", color="grey", label="1 / sqrt(n)")
ax.set_xlabel("samples n")
ax.set_ylabel("max relative unit error (median of 3)")
ax.set_title("sigmoid teacher, d = 5, K = 2")
ax.legend()
fig.tight_layout()
plt.show()
