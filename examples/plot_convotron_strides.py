"""
==================================================================
Convotron against SGD across strides, and DoubleConvotron's stages
==================================================================

Goel, Klivans and Meka (ICML 2018) learn one filter shared by overlapping patches
with Convotron: from ``w = 0``, with no step size to tune, the error falls
geometrically at a rate set by the overlap (the condition number of the patch
covariance). SGD on the squared loss from 0 never moves (ReLU's gradient vanishes
there); from a random start it needs its step tuned. The left panel shows the filter
error against passes over the data for strides 16, 9 and 4 of patches of 16 in 160
inputs. Du and Goel (2018) also learn the output weights (right panel):
DoubleConvotron's first stage estimates their direction, two Convotrons with
``+a`` and ``-a`` follow, and the sign with the lower loss wins.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skrecover import Convotron, DoubleConvotron
from skrecover.datasets import make_teacher_convolution

warnings.simplefilter("ignore")
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for stride, color in zip((16, 9, 4), ("C0", "C1", "C2"), strict=True):
    X, y, teacher = make_teacher_convolution(
        n_samples=5000, n_features=160, patch_size=16, stride=stride, random_state=0
    )
    model = Convotron(patch_size=16, stride=stride, solver="minibatch", random_state=0)
    errors = []
    for _ in range(30):
        model.partial_fit(X, y)
        errors.append(np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights))
    left.semilogy(
        range(1, 31),
        np.maximum(errors, 1e-16),
        color=color,
        label=f"Convotron, stride {stride}",
    )
left.axhline(1.0, color="grey", linestyle=":", label="SGD from 0 (stays at 1)")
left.set_xlabel("passes over the data")
left.set_ylabel("||w - w*||")
left.legend(fontsize=8)
left.set_title("one filter, automatic step, from w = 0")

X, y, teacher = make_teacher_convolution(
    n_samples=30_000,
    n_features=160,
    patch_size=16,
    stride=16,
    output_weights="random",
    random_state=13,
)
model = DoubleConvotron(patch_size=16, stride=16, random_state=0).fit(X, y)
a_true = teacher.output_weights / np.linalg.norm(teacher.output_weights)
a_hat = model.output_weights_ / np.linalg.norm(model.output_weights_)
angle = np.arccos(np.clip(abs(a_true @ a_hat), -1, 1))
positions = np.arange(len(a_true))
right.bar(positions - 0.2, a_true, 0.4, label="true a")
right.bar(positions + 0.2, a_hat, 0.4, label="DoubleConvotron")
right.set_xlabel("patch")
right.set_title(
    f"output weights: angle {angle:.3f} rad, sign {model.sign_:+d}, "
    f"losses {model.candidate_losses_[0]:.2g} / {model.candidate_losses_[1]:.2g}",
    fontsize=9,
)
right.legend(fontsize=8)
fig.tight_layout()
plt.show()
