"""
=======================================================================
Recovery rate and initialisation error over (d, n) (Zhong et al., 2017)
=======================================================================

Zhong, Song, Jain, Bartlett and Dhillon (ICML 2017) show that gradient descent on a
one-hidden-layer network recovers the teacher's weights once it starts from the
method-of-moments (tensor) initialisation, with a number of samples that grows
about linearly with the input dimension ``d``. Their Fig. 1 shows it on
squared-ReLU teachers with ``k = 5`` units and condition number ``kappa = 2``:
(a) the rate of exact recovery over ``d`` and the number of samples ``n``, and
(b) the error of the tensor initialisation alone over the same two axes.

Both panels are sweeps of :func:`~skrecover.experiments.recovery_sweep`: every
cell draws new teachers and data with
:func:`~skrecover.datasets.make_teacher_regression`, fits a clone of the estimator
on each, and records the recovery error of the fit and of its initialisation.
The grids are smaller than the paper's (10 teachers per cell, and in (b) ``n``
up to ``10^5`` for every ``d`` from 10 to 50), for a page that builds in under a
minute; ``benchmarks/bench_recovery_sweeps.py`` runs them at full size.
"""

# %%
# Fig. 1(a): exact recovery over (d, n)
# -------------------------------------
# A trial succeeds when every fitted unit is within 1 % of its teacher unit (after
# the best matching) and every output weight has the teacher's sign: the paper's
# criterion, ``threshold=0.01``. As in the paper, the network has no biases
# (``fit_hidden_bias=False``) and the tensor initialisation is drawn once
# (``n_init=1``; the default draws again when a draw fails its checks).
import warnings

import matplotlib.pyplot as plt
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skrecover import TensorInitGD
from skrecover.exceptions import InitializationWarning
from skrecover.experiments import recovery_sweep
from skrecover.inspection import PhaseDiagramDisplay

# Expected on the small samples of the sweep, where recovery is meant to fail:
# the initialisation warns that its moments are within sampling noise, and
# gradient descent from a poor start stops at max_iter short of its tolerance.
warnings.filterwarnings("ignore", category=InitializationWarning)
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# The paper's teachers: squared ReLU, k = 5 units, condition number 2.
teacher = dict(n_hidden=5, activation="squared_relu", condition_number=2.0)
model = TensorInitGD(
    activation="squared_relu", n_hidden=5, n_init=1, fit_hidden_bias=False
)
# The fits are small: one BLAS thread per fit is as fast as two on a quiet
# machine and far faster on a busy one, and the results do not depend on the
# number of cores.
with threadpool_limits(limits=1, user_api="blas"):
    recovery = recovery_sweep(
        model,
        grid={
            "n_features": [10, 20, 30, 40, 50],
            "n_samples": [500, 1000, 2000, 4000],
        },
        n_trials=8,
        random_state=0,
        **teacher,
    )
print(recovery.pivot_table(index="n_features", columns="n_samples", values="success"))

# %%
# Fig. 1(b): error of the tensor initialisation over (d, n)
# ---------------------------------------------------------
# ``max_iter=0`` stops after the initialisation, whose error the sweep reports in
# its ``init_error`` column (with ``max_iter=0`` it is also ``recovery_error``).
# Two estimators of the moments are compared on the same teachers and data (the
# sweep draws the same seeds for both values of the key): the paper's plain
# empirical moments (``moments="paper"``) and the control variates that
# :class:`~skrecover.TensorInitGD` uses by default.
with threadpool_limits(limits=1, user_api="blas"):
    initialisation = recovery_sweep(
        clone(model).set_params(max_iter=0),
        grid={
            "n_features": [10, 30, 50],
            "n_samples": [10_000, 30_000, 100_000],
            "estimator__moments": ["paper", "control_variates"],
        },
        n_trials=3,
        random_state=0,
        **teacher,
    )
init_errors = initialisation.pivot_table(
    index=["estimator__moments", "n_features"],
    columns="n_samples",
    values="init_error",
    aggfunc="median",
)
print(init_errors.round(3))

# %%
# The figure
# ----------
# Top: the fraction of the 8 teachers of each cell recovered to 1 %. Bottom: the
# median over 3 teachers of the initialisation's largest relative unit error,
# with the paper's moments (left) and with control variates (right), on one
# colour scale.
fig = plt.figure(figsize=(9, 8.5), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1])
PhaseDiagramDisplay.from_sweep(
    recovery, x="n_samples", y="n_features", ax=top.subplots()
)
top.axes[0].set_title("(a) exact recovery rate, tensor initialisation + GD")
# Both heat maps of (b) on one colour scale: built from the tables of medians
# rather than with from_sweep, whose scale spans each table's own range.
for ax, moments in zip(
    bottom.subplots(1, 2), ["paper", "control_variates"], strict=True
):
    table = init_errors.loc[moments]
    PhaseDiagramDisplay(
        table.to_numpy(),
        table.columns.to_numpy(),
        table.index.to_numpy(),
        x_label="n_samples",
        y_label="n_features",
        value_label="median of init_error",
    ).plot(ax=ax, cmap="viridis_r", vmin=0, vmax=init_errors.to_numpy().max())
    ax.set_title(f'(b) initialisation error, moments="{moments}"')
plt.show()

# %%
# In this run every one of the 8 teachers of a cell is recovered from
# ``n = 2000`` samples for ``d`` up to 40, and from ``n = 4000`` for ``d = 50``;
# at ``n = 500`` the rate is 0.5 to 0.625 for ``d`` up to 40 and 0.25 at
# ``d = 50``.
# The sample size needed grows with the dimension, as the paper's bound says,
# though this coarse grid cannot tell a linear growth from another. Below the
# boundary the rates are noisy (8 teachers, one initialisation each: at
# ``n = 500`` the rate is 0.625 at ``d = 20`` and 0.5 at ``d = 10``).
# Successes and failures are far apart: the recovered teachers are within
# 5e-9 of the truth, the others at least 0.8 away, so any threshold in between
# gives the same diagram.
#
# The initialisation alone is far from exact, and its error falls with ``n``.
# With control variates it falls about as :math:`1 / \sqrt{n}` (from 0.14 to
# 0.038 at ``d = 10`` and from 0.26 to 0.085 at ``d = 50`` over the decade) and
# rises with ``d`` at every ``n``. The paper's plain moments are noisier: their
# median error is 1.4 to 3.2 times larger in every cell (0.25 against 0.14 at
# ``d = 10, n = 10 000``; 0.50 against 0.26 at ``d = 50``). The recovery
# diagram of (a) uses the default, control variates.
