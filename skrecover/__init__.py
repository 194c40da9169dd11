"""skrecover: provable recovery of shallow neural networks as scikit-learn estimators.

The estimators implement algorithms that provably recover the weights of a teacher
network, with the scikit-learn API: use them in Pipelines, GridSearchCV and
cross-validation next to MLPRegressor and other baselines.
"""

# SPDX-License-Identifier: BSD-3-Clause

from ._convotron import Convotron
from ._double_convotron import DoubleConvotron
from ._moment_recovery import MomentRecovery
from ._network import Network
from ._practical_size import PracticalSizeGD
from ._practical_size_classifier import PracticalSizeGDClassifier
from ._tensor_init_gd import TensorInitGD
from ._tensor_init_gd_classifier import TensorInitGDClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "Convotron",
    "DoubleConvotron",
    "MomentRecovery",
    "Network",
    "PracticalSizeGD",
    "PracticalSizeGDClassifier",
    "TensorInitGD",
    "TensorInitGDClassifier",
    "__version__",
]
