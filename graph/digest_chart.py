"""The digest's small chart: one PNG with a panel per flagged series set (restarts per
namespace per hour, 5xx ratio per service), over the last 24 h.

Drawn with matplotlib's object API on the Agg canvas, so no GUI backend or global pyplot
state is involved (the digest may be built from a scheduler thread). Old charts in the
directory are removed, so the state dir does not fill up over months of digests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

__all__ = ["render_chart"]

_KEEP_S = 3 * 86400  # a chat platform uploads the file when posting; days are plenty
_MAX_SERIES = 6


def _prune(directory: Path, now: float) -> None:
    for old in directory.glob("digest-*.png"):
        try:
            if now - old.stat().st_mtime > _KEEP_S:
                old.unlink()
        except OSError:
            continue  # another replica removed it first


def render_chart(directory: Path, panels: list[dict[str, Any]], *, tz: tzinfo,
                 name: str) -> Path:
    """Draw `panels` ({"title", "unit", "kind": bar|line, "series": {label: [(t, v)]}})
    into ``directory/digest-<name>.png`` and return the path."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    _prune(directory, time.time())
    figure = Figure(figsize=(6.4, 2.2 * len(panels)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        ratio = panel.get("unit") == "ratio"
        # Flat-zero series (a namespace without restarts) only clutter the legend.
        series = sorted(((label, points) for label, points in panel["series"].items()
                         if any(v for _, v in points)),
                        key=lambda kv: -max(v for _, v in kv[1]))[:_MAX_SERIES]
        bottom: dict[float, float] = {}
        for label, points in series:
            xs = [datetime.fromtimestamp(t, UTC).astimezone(tz) for t, _ in points]
            ys = [v * 100 if ratio else v for _, v in points]
            if panel.get("kind") == "bar":
                base = [bottom.get(t, 0.0) for t, _ in points]
                ax.bar(xs, ys, width=1 / 24 * 0.8, bottom=base, label=label)
                for (t, _), y in zip(points, ys, strict=True):
                    bottom[t] = bottom.get(t, 0.0) + y
            else:
                ax.plot(xs, ys, label=label, linewidth=1.5)
        ax.set_title(panel["title"], fontsize=9, loc="left")
        ax.set_ylabel("%" if ratio else str(panel.get("unit", "")), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7, loc="upper left", frameon=False)
    path = directory / f"digest-{name}.png"
    figure.savefig(path)
    return path
