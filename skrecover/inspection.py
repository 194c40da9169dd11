"""Displays of recovered weights, training curves and recovery sweeps (matplotlib,
optional).

In the style of scikit-learn's displays: ``Display.from_estimator(...)`` computes what
is shown and plots it; ``display.plot(ax=...)`` draws it again elsewhere.
"""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .metrics import _canonical_pair, _units, as_network, match_hidden_units

__all__ = ["LossCurveDisplay", "PhaseDiagramDisplay", "RecoveryDisplay"]


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


class PhaseDiagramDisplay:
    """A value of a recovery sweep over two of its grid keys, as a heat map.

    The phase diagrams of the recovery papers: the success rate (or any other
    column of :func:`skrecover.experiments.recovery_sweep`'s results) for every
    pair of values of two grid keys, such as the number of samples and the input
    dimension.

    Parameters
    ----------
    table : ndarray of shape (n_y_values, n_x_values)
        The value in each cell (NaN where the sweep has no trial): rows follow
        ``y_values``, columns ``x_values``.
    x_values : array-like of shape (n_x_values,)
        The values of the key along the horizontal axis.
    y_values : array-like of shape (n_y_values,)
        The values of the key along the vertical axis.
    x_label : str
        Name of the horizontal key.
    y_label : str
        Name of the vertical key.
    value_label : str
        Name of the value shown (title and colour bar).

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage
        The heat map; ``image_.get_array()`` is ``table`` (masked where NaN).
    colorbar_ : matplotlib Colorbar
    text_ : ndarray of shape (n_y_values, n_x_values), dtype=object, or None
        The numbers written in the cells (None for empty cells), or None without
        ``annotate``.

    See Also
    --------
    skrecover.experiments.recovery_sweep : The sweep whose results are shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from skrecover.inspection import PhaseDiagramDisplay
    >>> results = pd.DataFrame({
    ...     "n_samples": [100, 100, 1000, 1000] * 2,
    ...     "n_hidden": [2, 2, 2, 2, 4, 4, 4, 4],
    ...     "success": [True, False, True, True, False, False, True, False]})
    >>> display = PhaseDiagramDisplay.from_sweep(results, x="n_samples", y="n_hidden")
    >>> display.table
    array([[0.5, 1. ],
           [0. , 0.5]])
    >>> [label.get_text() for label in display.ax_.get_xticklabels()]
    ['100', '1000']
    >>> display.ax_.get_title()
    'success'
    """

    def __init__(self, table, x_values, y_values, *, x_label, y_label, value_label):
        self.table = table
        self.x_values = x_values
        self.y_values = y_values
        self.x_label = x_label
        self.y_label = y_label
        self.value_label = value_label

    @classmethod
    def from_sweep(
        cls,
        results,
        *,
        x,
        y,
        value="success",
        aggregate="mean",
        ax=None,
        cmap="viridis",
        annotate=True,
    ):
        """Aggregate a sweep's results over two keys and plot them.

        Parameters
        ----------
        results : pandas.DataFrame
            Results of :func:`~skrecover.experiments.recovery_sweep`, or any frame
            with the columns ``x``, ``y`` and ``value``.
        x : str
            Column whose values run along the horizontal axis.
        y : str
            Column whose values run along the vertical axis (increasing upwards).
        value : str, default="success"
            Column shown; a boolean column (``success``) is averaged as a rate,
            on a colour scale from 0 to 1.
        aggregate : str or callable, default="mean"
            How the rows of a cell (the trials, and the values of any other
            grid key) are combined, as ``aggfunc`` of
            ``pandas.DataFrame.pivot_table``: ``"mean"``, ``"median"``,
            ``"max"``...
        ax : matplotlib Axes, default=None
            Where to plot; a new figure by default.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map of the cells.
        annotate : bool, default=True
            Write each cell's value in it.

        Returns
        -------
        display : PhaseDiagramDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_sweep")
        missing = [column for column in (x, y, value) if column not in results]
        if missing:
            raise ValueError(
                f"The results have no column {missing[0]!r}; they have "
                f"{list(results.columns)}."
            )
        values = results[value]
        is_rate = values.dtype == bool and aggregate == "mean"
        frame = results[[x, y]].assign(_value=values.astype(float))
        table = frame.pivot_table(
            index=y, columns=x, values="_value", aggfunc=aggregate
        )
        display = cls(
            table.to_numpy(dtype=float),
            table.columns.to_numpy(),
            table.index.to_numpy(),
            x_label=x,
            y_label=y,
            value_label=_aggregate_label(value, aggregate),
        )
        limits = {"vmin": 0.0, "vmax": 1.0} if is_rate else {}
        return display.plot(ax=ax, cmap=cmap, annotate=annotate, **limits)

    def plot(self, *, ax=None, cmap="viridis", annotate=True, vmin=None, vmax=None):
        """Draw the table as a heat map with a colour bar.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to plot; a new figure by default.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map of the cells.
        annotate : bool, default=True
            Write each cell's value in it (``{:.2g}``).
        vmin, vmax : float, default=None
            Limits of the colour scale; the table's range by default.

        Returns
        -------
        display : PhaseDiagramDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        ax = _axes(ax)
        table = np.ma.masked_invalid(np.asarray(self.table, dtype=float))
        self.image_ = ax.imshow(
            table,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_xticks(
            np.arange(len(self.x_values)),
            labels=[_tick_label(v) for v in self.x_values],
        )
        ax.set_yticks(
            np.arange(len(self.y_values)),
            labels=[_tick_label(v) for v in self.y_values],
        )
        ax.set_xlabel(self.x_label)
        ax.set_ylabel(self.y_label)
        ax.set_title(self.value_label)
        self.colorbar_ = ax.figure.colorbar(self.image_, ax=ax)
        self.colorbar_.set_label(self.value_label)
        self.text_ = self._annotate(ax, table) if annotate else None
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _annotate(self, ax, table):
        """Write every non-empty cell's value, in the colour that contrasts with
        the cell's (as scikit-learn's ConfusionMatrixDisplay does)."""
        low, high = self.image_.norm.vmin, self.image_.norm.vmax
        middle = (low + high) / 2
        dark, light = self.image_.cmap(0.0), self.image_.cmap(1.0)
        text = np.full(table.shape, None, dtype=object)
        for (row, column), cell in np.ndenumerate(table.filled(np.nan)):
            if np.isnan(cell):
                continue
            text[row, column] = ax.text(
                column,
                row,
                f"{cell:.2g}",
                ha="center",
                va="center",
                color=light if cell < middle else dark,
            )
        return text


def _tick_label(value):
    """A compact label of a grid value: ``{:g}`` for numbers."""
    if isinstance(value, Real) and not isinstance(value, bool | np.bool_):
        return f"{value:g}"
    return str(value)


def _aggregate_label(value, aggregate):
    """``value`` for a mean (a success rate), else ``"median of value"`` etc."""
    if aggregate == "mean":
        return value
    name = (
        aggregate
        if isinstance(aggregate, str)
        else getattr(aggregate, "__name__", repr(aggregate))
    )
    return f"{name} of {value}"
