"""Warnings raised by skrecover estimators.

Filter them with :func:`warnings.filterwarnings` like any warning category, e.g.
``warnings.simplefilter("ignore", AssumptionWarning)``.
"""

# SPDX-License-Identifier: BSD-3-Clause

__all__ = ["AssumptionWarning", "InitializationWarning"]


class AssumptionWarning(UserWarning):
    """The data visibly violate an assumption of the method.

    Raised, for example, when a Gaussian-moment method sees inputs whose means,
    variances or skewness are far from those of a standard Gaussian. The message
    reports the measured statistic and what to do about it.
    """


class InitializationWarning(UserWarning):
    """A moment-based initialisation failed its own health checks.

    The message reports the diagnostic (an eigen-gap, a decomposition residual) that
    makes the initialisation unreliable, and what to change.
    """
