"""
===================================================================
Recovery rate over (d, n), and tensor against random initialisation
===================================================================

Zhong, Song, Jain, Bartlett and Dhillon (ICML 2017) show that gradient descent on a
one-hidden-layer network recovers the teacher's weights once it starts from the
method-of-moments (tensor) initialisation, with a number of samples that grows
about linearly with the dimension. The left panel shows the rate of exact recovery
(every unit within 1 % of the truth, the paper's criterion) over the input dimension
``d`` and the number of samples ``n`` for ReLU teachers with ``k = 3`` units; the
right panel compares the error of the initialisation with that of a random one, and
what gradient descent makes of each.
"""

# %%
# Recovery rate over (d, n)
# -------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np

from skrecover import TensorInitGD
from skrecover.datasets import make_teacher_regression
from skrecover.metrics import recovery_error, recovery_success

warnings.simplefilter("ignore")
dimensions, sizes, seeds = [4, 8, 16, 32], [100, 300, 1000, 3000], range(4)
rate = np.zeros((len(dimensions), len(sizes)))
for i, d in enumerate(dimensions):
    for j, n in enumerate(sizes):
        successes = []
        for seed in seeds:
            X, y, teacher = make_teacher_regression(
                n_samples=n,
                n_features=d,
                n_hidden=3,
                activation="relu",
                random_state=seed,
            )
            model = TensorInitGD(n_hidden=3, random_state=0).fit(X, y)
            successes.append(recovery_success(teacher, model))
        rate[i, j] = np.mean(successes)
print(rate)

# %%
# Tensor against random initialisation
# ------------------------------------
X, y, teacher = make_teacher_regression(
    n_samples=10_000, n_features=10, n_hidden=5, activation="relu", random_state=0
)
errors = {}
for init in ("tensor", "random"):
    model = TensorInitGD(n_hidden=5, init=init, random_state=0).fit(X, y)
    start = TensorInitGD(n_hidden=5, init=init, max_iter=0, random_state=0).fit(X, y)
    errors[init] = (recovery_error(teacher, start), recovery_error(teacher, model))
print(errors)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
image = left.imshow(rate, origin="lower", vmin=0, vmax=1, cmap="viridis")
left.set_xticks(range(len(sizes)), sizes)
left.set_yticks(range(len(dimensions)), dimensions)
left.set_xlabel("samples n")
left.set_ylabel("dimension d")
left.set_title("exact recovery rate (ReLU, k = 3)")
fig.colorbar(image, ax=left)
positions = np.arange(2)
right.bar(positions - 0.2, [e[0] for e in errors.values()], 0.4, label="start")
right.bar(positions + 0.2, [e[1] for e in errors.values()], 0.4, label="after GD")
right.set_yscale("log")
right.set_xticks(positions, list(errors))
right.set_ylabel("max relative unit error")
right.set_title("d = 10, k = 5, n = 10 000")
right.legend()
fig.tight_layout()
plt.show()
