"""Displays of recovered weights and of training curves (matplotlib, optional).

In the style of scikit-learn's displays: ``Display.from_estimator(...)`` computes what
is shown and plots it; ``display.plot(ax=...)`` draws it again elsewhere.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .metrics import _canonical_pair, _units, as_network, match_hidden_units

__all__ = ["LossCurveDisplay", "RecoveryDisplay"]


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


class RecoveryDisplay:
    """Recovered hidden weights against the true ones, unit by unit.

    The networks are brought to the canonical form of the teacher's activation and
    their units matched, exactly as :func:`skrecover.metrics.recovery_error` does;
    every entry of every matched hidden unit is one point (hidden biases, when
    either network has them, are crosses), so a perfect recovery lies on the
    diagonal.

    Parameters
    ----------
    true_weights : ndarray of shape (n_hidden, n_inputs)
        Teacher's hidden units (canonical form).
    estimated_weights : ndarray of shape (n_hidden, n_inputs)
        The matched estimated units, in the teacher's order.
    errors : ndarray of shape (n_hidden,)
        Relative error of each unit (of ``(w, b)`` with biases).
    true_biases, estimated_biases : ndarray of shape (n_hidden,), default=None
        Hidden biases of the teacher and of the matched estimated units.
    name : str, default=None
        Label of the estimate.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrecover import TensorInitGD
    >>> from skrecover.datasets import make_teacher_regression
    >>> from skrecover.inspection import RecoveryDisplay
    >>> X, y, teacher = make_teacher_regression(
    ...     n_samples=10_000, activation="squared_relu", random_state=0)
    >>> model = TensorInitGD(activation="squared_relu", random_state=0).fit(X, y)
    >>> display = RecoveryDisplay.from_estimator(model, teacher)
    >>> bool(display.errors.max() < 1e-6)
    True
    """

    def __init__(
        self,
        true_weights,
        estimated_weights,
        errors,
        *,
        true_biases=None,
        estimated_biases=None,
        name=None,
    ):
        self.true_weights = true_weights
        self.estimated_weights = estimated_weights
        self.errors = errors
        self.true_biases = true_biases
        self.estimated_biases = estimated_biases
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, teacher, *, name=None, ax=None):
        """Match a fitted estimator's units to a teacher's and plot them.

        Parameters
        ----------
        estimator : fitted estimator or Network
            Anything :func:`skrecover.metrics.recovery_error` accepts.
        teacher : TeacherNetwork
            The network that made the data.
        name : str, default=None
            Label; the estimator's class name by default.
        ax : matplotlib Axes, default=None
            Where to plot; a new figure by default.

        Returns
        -------
        display : RecoveryDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        true, estimated = _units(*_canonical_pair(teacher, estimator))
        errors, matches, signs = match_hidden_units(
            true, estimated, allow_sign_flip=teacher.activation.symmetry == "even"
        )
        matched = np.where(
            (matches >= 0)[:, np.newaxis],
            signs[:, np.newaxis] * estimated[np.maximum(matches, 0)],
            0.0,
        )
        n_inputs = as_network(teacher).hidden_weights.shape[1]
        biases = {}
        if true.shape[1] > n_inputs:
            biases = {"true_biases": true[:, -1], "estimated_biases": matched[:, -1]}
        display = cls(
            true[:, :n_inputs],
            matched[:, :n_inputs],
            errors,
            **biases,
            name=name if name is not None else type(estimator).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None):
        """Plot the matched entries, one colour per unit, and the diagonal.

        Parameters
        ----------
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : RecoveryDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        ax = _axes(ax)
        units = np.repeat(np.arange(len(self.true_weights)), self.true_weights.shape[1])
        self.scatter_ = ax.scatter(
            self.true_weights.ravel(),
            self.estimated_weights.ravel(),
            c=units,
            cmap="tab10",
            s=12,
        )
        values = [self.true_weights, self.estimated_weights]
        label = "hidden weight"
        if self.true_biases is not None:
            ax.scatter(
                self.true_biases,
                self.estimated_biases,
                c=np.arange(len(self.true_biases)),
                cmap="tab10",
                marker="x",
                s=40,
            )
            values += [self.true_biases, self.estimated_biases]
            label = "hidden weight (x: bias)"
        low = min(np.min(value) for value in values)
        high = max(np.max(value) for value in values)
        ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(f"true {label}")
        ax.set_ylabel(f"recovered {label}")
        ax.set_title(f"{self.name}: max unit error {self.errors.max():.2g}")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LossCurveDisplay:
    """Training (and validation) loss of a fitted estimator, per iteration.

    Parameters
    ----------
    loss_curve : array-like of shape (n_iter,)
    validation_loss_curve : array-like of shape (n_iter,), default=None
    name : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : list of matplotlib Line2D

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrecover import Convotron
    >>> from skrecover.datasets import make_teacher_convolution
    >>> from skrecover.inspection import LossCurveDisplay
    >>> X, y, _ = make_teacher_convolution(n_samples=2000, random_state=0)
    >>> model = Convotron(patch_size=16, stride=9).fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(model)
    >>> len(display.lines_)
    1
    """

    def __init__(self, loss_curve, validation_loss_curve=None, *, name=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, *, name=None, ax=None):
        """Plot a fitted estimator's ``loss_curve_`` (and ``validation_loss_curve_``).

        Parameters
        ----------
        estimator : fitted estimator
            With a ``loss_curve_`` attribute.
        name : str, default=None
            Label; the estimator's class name by default.
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : LossCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        if not hasattr(estimator, "loss_curve_"):
            raise ValueError(
                f"{type(estimator).__name__} has no loss_curve_: fit it first (and "
                "use an estimator that trains iteratively)."
            )
        display = cls(
            estimator.loss_curve_,
            getattr(estimator, "validation_loss_curve_", None),
            name=name if name is not None else type(estimator).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None):
        """Plot the curves on a logarithmic loss axis.

        Parameters
        ----------
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : LossCurveDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        ax = _axes(ax)
        self.lines_ = ax.semilogy(
            np.arange(1, len(self.loss_curve) + 1), self.loss_curve, label=self.name
        )
        if self.validation_loss_curve is not None and len(self.validation_loss_curve):
            self.lines_ += ax.semilogy(
                np.arange(1, len(self.validation_loss_curve) + 1),
                self.validation_loss_curve,
                linestyle="--",
                label=f"{self.name} (validation)",
            )
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
