"""
==================================================================
Convotron against SGD across strides, and DoubleConvotron's stages
==================================================================

Goel, Klivans and Meka (ICML 2018) learn one filter shared by overlapping patches
with Convotron: from ``w = 0``, with no step size to tune, the error falls
geometrically at a rate set by the overlap (the condition number of the patch
covariance). SGD on the squared loss from 0 never moves (ReLU's gradient vanishes
there); from a random start, with the same step size, it is fast at stride 16,
oscillates about an error of 1 at stride 9 and diverges (drawn at the top) at
stride 4: it needs its step tuned. The left
panel shows the filter error against passes over the data for patches of 16 in 160
inputs. Du and Goel (2018) also learn the output weights (right panel):
DoubleConvotron's first stage estimates their direction, two Convotrons with
``+a`` and ``-a`` follow, the sign with the lower loss wins, and a fourth stage
refits ``a`` by least squares and the filter by Convotron while the loss falls.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skrecover import Convotron, DoubleConvotron
from skrecover.datasets import make_teacher_convolution

warnings.simplefilter("ignore")


def sgd_pass(w, X, y, patches, a, step, rng, batch=32):
    """One pass of minibatch SGD on the squared loss of sum_l a_l relu(w^T x_l)."""
    order = rng.permutation(len(y))
    for start in range(0, len(y) - batch + 1, batch):
        rows = order[start : start + batch]
        x = X[rows][:, patches]  # (batch, n_patches, patch_size)
        pre = x @ w
        residual = (np.maximum(pre, 0) @ a) - y[rows]
        gradient = np.einsum("b,bl,blp->p", residual, (pre > 0) * a, x) / batch
        w = w - step * gradient
    return w


fig, (left, right) = plt.subplots(2, 1, figsize=(7.5, 11), layout="constrained")
rng = np.random.default_rng(0)
for stride, color in zip((16, 9, 4), ("C0", "C1", "C2"), strict=True):
    X, y, teacher = make_teacher_convolution(
        n_samples=5000, n_features=160, patch_size=16, stride=stride, random_state=0
    )
    model = Convotron(patch_size=16, stride=stride, solver="minibatch", random_state=0)
    patches, a = teacher.patch_indices, teacher.output_weights
    w_sgd = rng.standard_normal(16)
    w_sgd /= np.linalg.norm(w_sgd)
    convotron_errors, sgd_errors = [], []
    for _ in range(30):
        model.partial_fit(X, y)
        w_sgd = sgd_pass(w_sgd, X, y, patches, a, model.learning_rate_, rng)
        convotron_errors.append(
            np.linalg.norm(model.hidden_weights_ - teacher.hidden_weights)
        )
        sgd_errors.append(np.linalg.norm(w_sgd - teacher.hidden_weights[0]))
    passes = range(1, 31)
    left.semilogy(
        passes,
        np.maximum(convotron_errors, 1e-16),
        color=color,
        label=f"Convotron from 0, stride {stride}",
    )
    left.semilogy(
        passes,
        np.clip(np.nan_to_num(sgd_errors, nan=1e3), 1e-16, 1e3),
        color=color,
        linestyle="--",
        label=f"SGD from random start, stride {stride}",
    )
    # From w = 0 the squared loss has gradient exactly 0 (relu'(0) = 0): SGD stays.
    zero_step = sgd_pass(np.zeros(16), X, y, patches, a, model.learning_rate_, rng)
    print(
        f"stride {stride}: after 30 passes Convotron {convotron_errors[-1]:.2g}, "
        f"SGD {sgd_errors[-1]:.2g}; SGD from 0 moved {np.linalg.norm(zero_step):.1g}"
    )
left.axhline(1.0, color="grey", linestyle=":", label="SGD from 0 (never moves)")
left.set_xlabel("passes over the data (same step size)")
left.set_ylabel("||w - w*||")
left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
left.set_title("one filter, automatic step")

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
stage1 = model.stage1_output_weights_ / np.linalg.norm(model.stage1_output_weights_)
positions = np.arange(len(a_true))
right.bar(positions - 0.27, a_true, 0.27, label="true a")
right.bar(positions, stage1, 0.27, label="stage 1 (spectral)")
right.bar(positions + 0.27, a_hat, 0.27, label="after stages 2-4")
right.set_xlabel("patch")
right.set_ylabel("output weight (unit norm)")
right.set_title(
    f"DoubleConvotron output weights: angle {angle:.3f} rad\n"
    f"sign {model.sign_:+d}, candidate losses {model.candidate_losses_[0]:.2g} / "
    f"{model.candidate_losses_[1]:.2g}",
    fontsize=10,
)
right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize=8)
plt.show()
