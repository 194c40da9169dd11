r"""
========================================================================
Error against n for symmetric inputs (Ge, Kuditipudi, Li and Wang, 2019)
========================================================================

Ge, Kuditipudi, Li and Wang (ICLR 2019) learn :math:`y = A\, \mathrm{relu}(W x)`
with several outputs from any input distribution symmetric about 0 -- no
Gaussianity. The error of :class:`~skrecover.MomentRecovery` (RMS distance of the
unit rows of :math:`W`) falls like :math:`1 / \sqrt{n}` for Gaussian, uniform,
random-sign and symmetric-mixture inputs; the mixture, whose distinguishing matrix
is worse conditioned, needs more samples. The dashed line shows ``refine=True``
on mixture inputs.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skrecover import MomentRecovery
from skrecover.datasets import make_teacher_two_layer
from skrecover.metrics import hidden_weights_error

warnings.simplefilter("ignore")


def unit_row_error(teacher, model):
    """Ge et al.'s eW: RMS distance between matched unit rows of W."""
    return hidden_weights_error(
        teacher.hidden_weights, model.hidden_weights_, allow_scaling=True, reduce="rms"
    )


sizes, seeds = [10_000, 30_000, 100_000, 300_000], range(2)
fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
for family in ("gaussian", "uniform", "rademacher", "mixture"):
    curve, refined = [], []
    for n in sizes:
        errors, refined_errors = [], []
        for seed in seeds:
            X, y, teacher = make_teacher_two_layer(
                n, 10, 5, 8, distribution=family, noise=0.1, random_state=seed
            )
            errors.append(
                unit_row_error(teacher, MomentRecovery(random_state=0).fit(X, y))
            )
            if family == "mixture":
                model = MomentRecovery(refine=True, random_state=0).fit(X, y)
                refined_errors.append(unit_row_error(teacher, model))
        curve.append(np.median(errors))
        refined.append(np.median(refined_errors) if refined_errors else np.nan)
    line = ax.loglog(sizes, curve, "o-", label=family)[0]
    if family == "mixture":
        ax.loglog(
            sizes, refined, "s--", color=line.get_color(), label="mixture, refine=True"
        )
    print(family, np.round(curve, 4))
ax.loglog(
    sizes,
    0.3 * np.sqrt(sizes[0] / np.array(sizes)),
    ":",
    color="grey",
    label="1 / sqrt(n)",
)
ax.set_xlabel("samples n")
ax.set_ylabel("unit-row error eW (median of 2)")
ax.set_title("d = 10, k = 5, l = 8, noise 0.1")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.show()
