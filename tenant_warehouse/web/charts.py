"""Plotly figures of the dashboard, as JSON-ready dicts the page script hands to plotly.js.

Figures are built with plotly's Python API (validated there) and rendered in the browser by the
plotly.js bundled in the installed plotly package (served by the app: no CDN, works offline).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")
AXIS = {"gridcolor": "#e5e8ee", "zerolinecolor": "#c9ced8", "automargin": True}


@cache
def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly package (the version plotly.py was built for)."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the installed plotly package has no bundled plotly.js")
    return path


def _layout(title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        # No plotly.py template: its full definition would be copied into every figure.
        "template": "none",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "height": 320,
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", **AXIS},
        "xaxis": {"type": "category", **AXIS},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _to_spec(figure: go.Figure) -> dict[str, Any]:
    # plotly's own encoder turns dates and numpy values into JSON; the result is plain data.
    return json.loads(figure.to_json())


def bar_chart(
    title: str, months: Sequence[str], series: dict[str, Sequence[float]], y_title: str,
    stacked: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One bar per month and series (grouped or stacked)."""
    figure = go.Figure(layout=_layout(title, y_title, barmode="stack" if stacked else "group"))
    for index, (name, values) in enumerate(series.items()):
        figure.add_trace(go.Bar(
            x=list(months), y=list(values), name=name,
            marker_color=PALETTE[index % len(PALETTE)],
        ))  # fmt: skip
    return _to_spec(figure)


def line_chart(
    title: str, x: Sequence[str], series: dict[str, Sequence[float | None]], y_title: str,
    percent: bool = False, category_axis: bool = True,
) -> dict[str, Any]:  # fmt: skip
    layout = _layout(title, y_title)
    if not category_axis:
        layout["xaxis"] = {"type": "date", **AXIS}
    if percent:
        layout["yaxis"] = {"title": {"text": y_title}, "tickformat": ".0%", "range": [0, 1.05], **AXIS}
    figure = go.Figure(layout=layout)
    for index, (name, values) in enumerate(series.items()):
        figure.add_trace(go.Scatter(
            x=list(x), y=list(values), name=name, mode="lines+markers",
            line={"color": PALETTE[index % len(PALETTE)]},
        ))  # fmt: skip
    return _to_spec(figure)


def month_range(months: set[str]) -> list[str]:
    """Every "YYYY-MM" from the first to the last of `months` (months without rows show as 0)."""
    if not months:
        return []
    first, last = min(months), max(months)
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def pivot(
    rows: Sequence[dict[str, Any]], x: str, group: str, value: str
) -> tuple[list[str], dict[str, list[float]]]:
    """Rows (month, group, value) -> every month of the range and one series per group (0 where
    missing)."""
    xs = month_range({str(row[x]) for row in rows})
    by_group: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_group[str(row[group])][str(row[x])] = float(row[value] or 0)
    return xs, {
        name: [values.get(key, 0.0) for key in xs] for name, values in sorted(by_group.items())
    }
