"""
=====================================================================
Recovery rate over (d, n) against an MLP, with and without restarts
=====================================================================

The recovery papers compare their initialisation with what a practitioner would
do: train the same small network from random starts. Here the phase diagram of
Zhong et al.'s Fig. 1(a) -- the rate of exact recovery over the input dimension
``d`` and the number of samples ``n`` -- is drawn for three estimators on the
same ReLU teachers with ``k = 3`` units:
:class:`~skrecover.TensorInitGD` (tensor initialisation, then gradient descent),
scikit-learn's :class:`~sklearn.neural_network.MLPRegressor` with ``k`` ReLU
units (one random start), and the best of 5 random starts of that MLP. The MLP
has no squared ReLU, so the teachers are ReLU networks here; all three run
through the same :func:`~skrecover.experiments.recovery_sweep`, which reads an
MLP's weights as a network (:func:`~skrecover.metrics.as_network`).
"""

# %%
# Restarts as a meta-estimator
# ----------------------------
# :func:`~skrecover.experiments.recovery_sweep` fits any estimator whose class
# has a ``network_`` attribute. :class:`~skrecover.experiments.BestOfRestarts`
# fits ``n_restarts`` clones of an estimator with different seeds, keeps the one
# with the lowest training loss (mean squared error), and exposes its network as
# ``network_``. The sweep gives it a seed of its own in every trial through
# ``random_state``.
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from skrecover import TensorInitGD
from skrecover.experiments import BestOfRestarts, recovery_sweep
from skrecover.inspection import PhaseDiagramDisplay

# %%
# The sweeps
# ----------
# The MLP is trained with L-BFGS, the full-batch solver that scikit-learn's
# documentation suggests for small data sets, where it converges faster and
# better than the default Adam. All three sweeps use ``random_state=0`` and the
# same grid: they fit the same teachers on the same data.

# Expected: the MLP's random starts that stall stop at its max_iter, with a
# ConvergenceWarning.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

k = 3
mlp = MLPRegressor(hidden_layer_sizes=(k,), activation="relu", solver="lbfgs")
estimators = {
    "TensorInitGD": TensorInitGD(activation="relu", n_hidden=k),
    "MLPRegressor": mlp,
    "MLPRegressor, best of 5": BestOfRestarts(mlp, n_restarts=5),
}
# The fits are small: one BLAS thread per fit is as fast as two on a quiet
# machine and far faster on a busy one, and the results do not depend on the
# number of cores.
with threadpool_limits(limits=1, user_api="blas"):
    results = {
        name: recovery_sweep(
            estimator,
            grid={"n_features": [5, 10, 20], "n_samples": [500, 2000, 8000]},
            n_trials=5,
            n_hidden=k,
            activation="relu",
            random_state=0,
        )
        for name, estimator in estimators.items()
    }
for name, result in results.items():
    rates = result.pivot_table(
        index="n_features", columns="n_samples", values="success"
    )
    print(f"{name}: success rate, median fit time {result.fit_time.median():.2f} s")
    print(rates.round(2))

# %%
# Success rates side by side
# --------------------------
# Each cell is the fraction of the 5 teachers whose every unit was recovered to
# 1 % (with the right output signs).
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for ax, (name, result) in zip(axes, results.items(), strict=True):
    PhaseDiagramDisplay.from_sweep(result, x="n_samples", y="n_features", ax=ax)
    ax.set_title(name)
plt.show()

# %%
# In this run :class:`~skrecover.TensorInitGD` recovers all 45 teachers (every
# unit within 4e-11 of the truth). One random start of the MLP recovers 20 of 45,
# and its rate does not rise with ``n``: its failures are local minima (training
# :math:`R^2` from 0.86 to 0.98), not a lack of samples. The best of 5 starts
# recovers 38 of 45; its 7 misses are teachers on which all five starts were
# stuck (the kept fit's training :math:`R^2` is 0.90 to 0.98). Restarts make the
# MLP a much stronger baseline, at five fits per model: by the printed median
# fit times, one fit of TensorInitGD costs about two starts of this small MLP,
# and five starts about three fits of TensorInitGD.
