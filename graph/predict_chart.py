"""The forecast chart: history, forecast, interval band and the capacity line (PNG)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from graph.analysis import forecast

__all__ = ["draw_forecast"]

log = logging.getLogger(__name__)
_HISTORY_SHOWN_S = 3 * 86400


def draw_forecast(result: forecast.ForecastResult, path: Path, *, title: str, unit: str,
                  capacity_line: float | None = None) -> Path | None:
    """Write the chart; None (logged) when it cannot be drawn, the card stands without it."""
    try:
        # Object API on the Agg canvas: no GUI backend, no global pyplot state.
        from matplotlib import dates as mdates
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.warning("matplotlib is not installed; forecast chart skipped")
        return None
    history = result.history
    start = float(result.timestamps[0]) - _HISTORY_SHOWN_S
    keep = history.timestamps >= start

    def when(values: np.ndarray) -> np.ndarray:
        return (np.asarray(values) * 1000).astype("datetime64[ms]")

    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(when(history.timestamps[keep]), history.values[keep], color="#555555",
              linewidth=1, label="history")
    axes.plot(when(result.timestamps), result.values, color="#1f77b4", linewidth=1.5,
              label=f"forecast ({result.model[:40]})")
    axes.fill_between(when(result.timestamps), result.lower, result.upper, color="#1f77b4",
                      alpha=0.2, label=f"{result.interval:.0%} interval")
    if capacity_line:
        axes.axhline(capacity_line, color="#d62728", linestyle="--", linewidth=1,
                     label="capacity of current replicas (70 %)")
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(unit)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    axes.legend(loc="upper left", fontsize=7)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
