r"""
============================================================================
A convolutional network with several kernels (Zhong, Song and Dhillon, 2017)
============================================================================

Zhong, Song and Dhillon (2017) extend the tensor initialisation to networks whose
kernels are shared by non-overlapping patches,
:math:`y = \sum_j v_j \sum_l \phi(w_j^\top x_l)`. Here two kernels of length 5
read 4 patches of a 20-dimensional input; :class:`~skrecover.TensorInitGD` with
``patch_size=5`` recovers both kernels, and
:class:`~skrecover.inspection.RecoveryDisplay` plots recovered against true weights,
for the initialisation and after gradient descent.
"""

import warnings

import matplotlib.pyplot as plt

from skrecover import TensorInitGD
from skrecover.datasets import make_teacher_regression
from skrecover.inspection import LossCurveDisplay, RecoveryDisplay

warnings.simplefilter("ignore")
X, y, teacher = make_teacher_regression(
    n_samples=5000,
    n_features=20,
    n_hidden=2,
    patch_size=5,
    activation="relu",
    random_state=0,
)
start = TensorInitGD(n_hidden=2, patch_size=5, max_iter=0, random_state=0).fit(X, y)
model = TensorInitGD(n_hidden=2, patch_size=5, random_state=0).fit(X, y)

fig, axes = plt.subplot_mosaic(
    [["start", "fitted"], ["loss", "loss"]], figsize=(7.5, 7.5), layout="constrained"
)
RecoveryDisplay.from_estimator(start, teacher, name="initialisation", ax=axes["start"])
RecoveryDisplay.from_estimator(model, teacher, name="after GD", ax=axes["fitted"])
LossCurveDisplay.from_estimator(model, ax=axes["loss"])
plt.show()
