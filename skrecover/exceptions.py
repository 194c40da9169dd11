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

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from skrecover import TensorInitGD
    >>> from skrecover.exceptions import AssumptionWarning
    >>> X = np.random.RandomState(0).uniform(size=(500, 3))  # not N(0, I)
    >>> y = np.maximum(X @ [1.0, -1.0, 0.5], 0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = TensorInitGD(max_iter=5, random_state=0).fit(X, y)
    >>> any(issubclass(w.category, AssumptionWarning) for w in caught)
    True
    """


class InitializationWarning(UserWarning):
    """A moment-based initialisation failed its own health checks.

    The message reports the diagnostic (an eigen-gap, a decomposition residual) that
    makes the initialisation unreliable, and what to change. A fit that ends exact
    (training loss at the rounding level, more samples than parameters) recovered
    the network whatever its start and reports none.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from skrecover import TensorInitGD
    >>> from skrecover.exceptions import InitializationWarning
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((1000, 4))
    >>> y = X @ [1.0, -2.0, 0.5, 0.0]  # linear: no hidden unit to find
    >>> y += 0.1 * rng.standard_normal(1000)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = TensorInitGD(random_state=0).fit(X, y)
    >>> any(issubclass(w.category, InitializationWarning) for w in caught)
    True
    >>> model.diagnostics_.fallback
    True
    """
