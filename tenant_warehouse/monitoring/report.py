"""`warehouse report`: a static HTML data-quality report from the observability marts.

One self-contained file (inline CSS and SVG, no script, no network), viewable offline: pipeline
status per instance and table (failing lines red), failure percentage per day, row-count trend
plots per instance and table (anomalies marked), source freshness, dbt runs and failing nodes,
recent alerts. The plots are SVG written here: no plotting dependency.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenant_warehouse.monitoring.alert_config import load_alert_config
from tenant_warehouse.monitoring.status import ago, duration, table_states
from tenant_warehouse.monitoring.store import Warehouse, WarehouseBusy, open_warehouse
from tenant_warehouse.settings import Settings

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_TREND_POINTS = 200


@dataclass(frozen=True)
class Point:
    x: float  # epoch seconds
    y: float
    label: str
    is_anomaly: bool = False


def default_report_path(settings: Settings) -> Path:
    return settings.home / "report" / "index.html"


def write_report(
    settings: Settings, target: str, output: Path | None = None, days: int = 30
) -> Path:
    from tenant_warehouse.monitoring.journal import Journal
    from tenant_warehouse.monitoring.status import busy_wait

    output = output or default_report_path(settings)
    try:
        with open_warehouse(
            settings, target, read_only=True, lock_wait_seconds=busy_wait(settings, Journal(settings))
        ) as warehouse:
            document = render_report(warehouse, target, days, _journal_section(settings))
    except WarehouseBusy as exc:
        # A build holds the DuckDB file: report at once from the journal.
        document = render_busy_report(settings, target, str(exc))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    return output


def render_report(warehouse: Warehouse, target: str, days: int = 30, journal: str = "") -> str:
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=days)
    sections = [
        journal,
        _status_section(warehouse),
        _quarantine_section(warehouse),
        _failures_section(warehouse, since),
        _trend_section(warehouse, since),
        _freshness_section(warehouse),
        _dbt_section(warehouse),
        _alerts_section(warehouse),
    ]
    title = "tenant_warehouse data-quality report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{CSS}</style></head><body>"
        f"<h1>{title}</h1><p class=\"meta\">warehouse <b>{_e(target)}</b>, generated "
        f"{now.strftime('%Y-%m-%d %H:%M:%S UTC')}, plots cover the last {days} days.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )


# --- sections ---------------------------------------------------------------------------------


def _status_section(warehouse: Warehouse) -> str:
    # Failing lines first: the first thing a reader should see.
    states = sorted(table_states(warehouse, load_alert_config()), key=lambda s: not s.is_failing)
    failing = sum(1 for s in states if s.is_failing)
    summary = (
        f"<p class=\"summary {'bad' if failing else 'good'}\">"
        + (f"{failing} of {len(states)} tables failing" if failing
           else f"all {len(states)} tables running")
        + "</p>"
    )  # fmt: skip
    rows = []
    for state in states:
        row = state.row
        error = row.get("last_error_message") if state.is_failing else ""
        rows.append(
            f"<tr class=\"{state.state.replace(' ', '-')}\" data-instance=\"{_e(state.instance_id)}\""
            f" data-table=\"{_e(state.table_name)}\">"
            + _cells(
                state.instance_id, state.table_name, state.state, ago(row.get("last_success_at")),
                ago(row.get("failing_since")), duration(row.get("lag_seconds")),
                _count(row.get("row_count")), error or "",
            )
            + "</tr>"
        )
    return _section(
        "Pipeline status", "status",
        summary + _table(
            ("instance", "table", "state", "last success", "failing since", "lag", "rows", "error"),
            rows,
        ),
    )  # fmt: skip


def _journal_section(settings: Settings) -> str:
    """The last commands from the journal: one in progress, one killed or failed."""
    from tenant_warehouse.monitoring.journal import Journal

    journal = Journal(settings)
    entries = journal.latest(10)
    if not entries:
        return ""
    running = journal.in_progress(settings)
    note = (f"<p class=\"summary\">build in progress since {running.started:%Y-%m-%d %H:%M} UTC:"
            f" warehouse {_e(running.command)} (pid {running.pid})</p>" if running else "")
    rows = [
        f"<tr class=\"{'failing' if e.status in ('failed', 'interrupted') else 'ok'}\">"
        + _cells(e.command, e.status, e.started_at, e.ended_at or "-", e.step or "-",
                 e.message or "")
        + "</tr>"
        for e in entries
    ]
    return _section("Commands (journal)", "journal", note + _table(
        ("command", "status", "started", "ended", "step", "message"), rows))


def render_busy_report(settings: Settings, target: str, cause: str) -> str:
    """The report while a build holds the warehouse: the journal and the open alerts as of the
    last evaluation; the full report needs the warehouse (run it again after the build)."""
    from tenant_warehouse.monitoring.journal import Journal

    now = dt.datetime.now(dt.UTC)
    snapshot = Journal(settings).snapshot("open_alerts")
    alerts = ""
    if snapshot:
        rows = [f"<tr>{_cells(a['severity'], a['rule'], a.get('tenant_id') or '', a['title'])}</tr>"
                for a in snapshot[1]]
        alerts = _section(f"Open alerts as of {snapshot[0]}", "alerts",
                          _table(("severity", "rule", "tenant", "alert"), rows))
    title = "tenant_warehouse data-quality report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{CSS}</style></head><body>"
        f"<h1>{title}</h1><p class=\"meta\">warehouse <b>{_e(target)}</b>, generated "
        f"{now.strftime('%Y-%m-%d %H:%M:%S UTC')}. <b>The warehouse is busy</b> "
        f"({_e(cause.splitlines()[0])}): this page shows the journal; run "
        "<code>warehouse report</code> again after the build for every section.</p>"
        + _journal_section(settings) + alerts + "</body></html>\n"
    )


def _quarantine_section(warehouse: Warehouse) -> str:
    """Quarantined rows by reason and tenant (marts.dq_quarantined_rows)."""
    if not warehouse.relation_exists("marts", "dq_quarantined_rows"):
        return _section("Quarantined rows", "quarantine",
                        "<p class=\"missing\">marts.dq_quarantined_rows does not exist yet</p>")
    rows = warehouse.query(
        "select quarantine_reason, coalesce(tenant_id, instance_id || ':(no tenant)') as tenant,"
        " table_name, count(*) as row_count, max(quarantined_value) as quarantined_value,"
        " bool_or(is_kept_in_marts) as is_kept"
        " from marts.dq_quarantined_rows group by 1, 2, 3 order by 1, 4 desc, 2, 3"
    )
    total = sum(int(r["row_count"]) for r in rows)
    body = [
        "<tr>" + _cells(
            r["quarantine_reason"], r["tenant"], r["table_name"], _count(r["row_count"]),
            r["quarantined_value"] or "",
            "kept, counted on the instance's time zone" if r["is_kept"] else "kept out of the marts",
        ) + "</tr>"
        for r in rows
    ]
    return _section("Quarantined rows by reason and tenant", "quarantine",
                    f"<p class=\"summary\">{total:,} row(s) in marts.dq_quarantined_rows</p>"
                    + _table(("reason", "tenant", "table", "rows", "value", "handling"), body))


def _failures_section(warehouse: Warehouse, since: dt.datetime) -> str:
    if not warehouse.has_view("pipeline_failures_by_day"):
        return _section("Failure percentage per day", "failures", _missing("pipeline_failures_by_day"))
    rows = warehouse.query(
        "select run_date, step, scope, runs, failed_runs, failure_percent"
        " from observability.pipeline_failures_by_day where run_date >= %s"
        " order by step, scope, run_date",
        (since.date(),),
    )
    charts = []
    for step in ("ingestion", "dbt"):
        series: dict[str, list[Point]] = defaultdict(list)
        for row in rows:
            if row["step"] != step:
                continue
            day = dt.datetime.combine(row["run_date"], dt.time(), dt.UTC)
            series[row["scope"]].append(Point(
                day.timestamp(), float(row["failure_percent"]),
                f"{row['scope']} {row['run_date']}: {float(row['failure_percent']):.1f}% "
                f"({row['failed_runs']} of {row['runs']} failed)",
            ))  # fmt: skip
        label = "instance" if step == "ingestion" else "resource type"
        charts.append(
            f"<figure><figcaption>{step}: failed runs per {label}, % per day</figcaption>"
            + line_chart(series, chart=f"failures-{step}", y_max=100.0, y_unit="%")
            + "</figure>"
        )
    return _section("Failure percentage per day", "failures", "<div class=\"grid\">" + "".join(charts) + "</div>")


def _trend_section(warehouse: Warehouse, since: dt.datetime) -> str:
    if not warehouse.has_view("row_count_trend"):
        return _section("Row-count trend", "trend", _missing("row_count_trend"))
    rows = warehouse.query(
        "select instance_id, table_name, captured_at, row_count, row_count_change, z_score,"
        " is_anomaly, anomaly_direction from observability.row_count_trend"
        " where captured_at >= %s order by table_name, instance_id, captured_at",
        (since,),
    )
    by_table: dict[str, dict[str, list[Point]]] = defaultdict(lambda: defaultdict(list))
    anomalies = 0
    for row in rows:
        if row["row_count"] is None:  # a broken capture (its staging test fails): not plotted
            continue
        change = row["row_count_change"]
        label = (
            f"{row['instance_id']}.{row['table_name']} {row['captured_at']:%Y-%m-%d %H:%M}: "
            f"{row['row_count']:,} rows" + (f" ({change:+,})" if change is not None else "")
            + (f" - {row['anomaly_direction']}, z = {float(row['z_score']):.1f}"
               if row["is_anomaly"] else "")
        )  # fmt: skip
        anomalies += bool(row["is_anomaly"])
        by_table[row["table_name"]][row["instance_id"]].append(
            Point(row["captured_at"].timestamp(), float(row["row_count"]), label, bool(row["is_anomaly"]))
        )
    figures = []
    for table, series in by_table.items():
        trimmed = {k: v[-MAX_TREND_POINTS:] for k, v in series.items()}
        figures.append(
            f"<figure><figcaption>{_e(table)}: rows per instance</figcaption>"
            + line_chart(trimmed, chart=f"row-count-{table}", y_unit="rows")
            + "</figure>"
        )
    note = (
        f"<p class=\"summary {'bad' if anomalies else 'good'}\">{anomalies} anomalous capture(s)"
        " (red rings: a drop or spike beyond the z-score threshold)</p>"
    )
    body = note + ("<div class=\"grid\">" + "".join(figures) + "</div>" if figures
                   else "<p>No row counts captured yet.</p>")  # fmt: skip
    return _section("Row-count trend", "trend", body)


def _freshness_section(warehouse: Warehouse) -> str:
    if not warehouse.has_view("source_freshness"):
        return _section("Source freshness", "freshness", _missing("source_freshness"))
    rows = warehouse.query(
        "select source_name, table_name, status, max_loaded_at, age_seconds, checked_at"
        " from observability.source_freshness where is_latest order by source_name, table_name"
    )
    body = _table(
        ("source", "table", "status", "latest load", "age", "checked"),
        [
            f"<tr class=\"{_status_class(row['status'])}\">" + _cells(
                row["source_name"], row["table_name"], row["status"], ago(row["max_loaded_at"]),
                duration(row["age_seconds"]), ago(row["checked_at"]),
            ) + "</tr>"
            for row in rows
        ],
    ) if rows else "<p>No freshness check recorded yet (`dbt source freshness` runs every cycle).</p>"  # fmt: skip
    return _section("Source freshness", "freshness", body)


def _dbt_section(warehouse: Warehouse) -> str:
    if not warehouse.has_view("dbt_invocations"):
        return _section("dbt runs and tests", "dbt", _missing("dbt_invocations"))
    runs = warehouse.query(
        "select command, status, started_at, completed_at, nodes, failed_nodes, warned_nodes,"
        " skipped_nodes from observability.dbt_invocations order by started_at desc limit 10"
    )
    run_table = _table(
        ("command", "status", "started", "nodes", "failed", "warned", "skipped"),
        [
            f"<tr class=\"{_status_class(row['status'])}\">" + _cells(
                row["command"], row["status"], ago(row["started_at"]), row["nodes"],
                row["failed_nodes"], row["warned_nodes"], row["skipped_nodes"],
            ) + "</tr>"
            for row in runs
        ],
    )  # fmt: skip
    nodes = warehouse.query(
        "select resource_type, node_name, last_status, failing_since, last_failures, last_message"
        " from observability.dbt_node_status where failing_since is not null"
        " order by is_failing desc, resource_type, node_name"
    )
    node_table = _table(
        ("type", "node", "status", "since", "failing rows", "message"),
        [
            f"<tr class=\"{_status_class(row['last_status'])}\">" + _cells(
                row["resource_type"], row["node_name"], row["last_status"],
                ago(row["failing_since"]), _count(row["last_failures"]),
                (row["last_message"] or "")[:300],
            ) + "</tr>"
            for row in nodes
        ],
    ) if nodes else "<p class=\"summary good\">No failing or warning dbt node.</p>"  # fmt: skip
    return _section("dbt runs and tests", "dbt", "<h3>Latest invocations</h3>" + run_table
                    + "<h3>Failing or warning nodes</h3>" + node_table)  # fmt: skip


def _alerts_section(warehouse: Warehouse) -> str:
    if not warehouse.has_view("alert_history"):
        return _section("Alerts", "alerts", _missing("alert_history"))
    rows = warehouse.query(
        "select recorded_at, event_type, severity, title, is_delivered from observability.alert_history"
        " order by recorded_at desc limit 25"
    )
    body = _table(
        ("when", "event", "severity", "alert", "delivered"),
        [
            f"<tr class=\"{'ok' if row['event_type'] == 'resolved' else _status_class(row['severity'])}\">"
            + _cells(ago(row["recorded_at"]), row["event_type"], row["severity"], row["title"],
                     "yes" if row["is_delivered"] else "no")
            + "</tr>"
            for row in rows
        ],
    ) if rows else "<p>No alert sent yet.</p>"  # fmt: skip
    return _section("Alerts", "alerts", body)


# --- SVG --------------------------------------------------------------------------------------


def line_chart(
    series: dict[str, Sequence[Point]],
    chart: str,
    width: int = 560,
    height: int = 240,
    y_max: float | None = None,
    y_unit: str = "",
) -> str:
    """An SVG line chart: one polyline and one circle per point for each series, a legend, and
    min/max axis labels. Points carry a <title> (hover text); anomalies get a red ring."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f"<svg class=\"chart empty\" data-chart=\"{_e(chart)}\" data-points=\"0\" width=\"{width}\" height=\"40\"><text x=\"8\" y=\"24\">no data yet</text></svg>"
    left, right, top, bottom = 64, 12, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    x_min, x_max = min(p.x for p in points), max(p.x for p in points)
    y_low = 0.0 if min(p.y for p in points) >= 0 else min(p.y for p in points)
    y_high = y_max if y_max is not None else max(p.y for p in points)
    if y_high <= y_low:
        y_high = y_low + 1.0
    x_span = (x_max - x_min) or 1.0

    def sx(x: float) -> float:
        return left + (plot_w / 2 if x_max == x_min else (x - x_min) / x_span * plot_w)

    def sy(y: float) -> float:
        return top + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    parts = [
        f"<svg class=\"chart\" data-chart=\"{_e(chart)}\" data-points=\"{len(points)}\""
        f" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\""
        f" viewBox=\"0 0 {width} {height}\" role=\"img\">",
        f"<rect class=\"frame\" x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\"/>",
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = y_low + fraction * (y_high - y_low)
        y = sy(value)
        parts.append(f"<line class=\"grid\" x1=\"{left}\" x2=\"{left + plot_w}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\"/>")
        parts.append(f"<text class=\"axis\" x=\"{left - 6}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{_e(_short_number(value))}{_e(y_unit if y_unit == '%' else '')}</text>")
    for x, anchor in ((x_min, "start"), (x_max, "end")):
        stamp = dt.datetime.fromtimestamp(x, dt.UTC).strftime("%m-%d %H:%M")
        parts.append(f"<text class=\"axis\" x=\"{sx(x):.1f}\" y=\"{top + plot_h + 16}\" text-anchor=\"{anchor if x_max != x_min else 'middle'}\">{stamp}</text>")
    for index, (name, values) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        coords = [(sx(p.x), sy(p.y)) for p in sorted(values, key=lambda p: p.x)]
        parts.append(f"<g class=\"series\" data-series=\"{_e(name)}\" data-points=\"{len(values)}\">")
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f"<polyline points=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>")
        for point in values:
            x, y = sx(point.x), sy(point.y)
            ring = ' stroke="#d62728" stroke-width="3"' if point.is_anomaly else ""
            parts.append(
                f"<circle class=\"point{' anomaly' if point.is_anomaly else ''}\" cx=\"{x:.1f}\""
                f" cy=\"{y:.1f}\" r=\"{6 if point.is_anomaly else 3}\" fill=\"{colour}\"{ring}>"
                f"<title>{_e(point.label)}</title></circle>"
            )
        parts.append("</g>")
        legend_x = left + (index % 4) * 130
        legend_y = height - 10 - (index // 4) * 0
        parts.append(f"<rect x=\"{legend_x}\" y=\"{legend_y - 9}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>")
        parts.append(f"<text class=\"legend\" x=\"{legend_x + 14}\" y=\"{legend_y}\">{_e(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


# --- HTML helpers -----------------------------------------------------------------------------


def _section(title: str, anchor: str, body: str) -> str:
    return f"<section id=\"{anchor}\"><h2>{_e(title)}</h2>{body}</section>"


def _table(headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cells(*values: Any) -> str:
    return "".join(f"<td>{_e(value)}</td>" for value in values)


def _missing(view: str) -> str:
    return f"<p class=\"summary warn\">observability.{_e(view)} does not exist yet: run `warehouse build`.</p>"


def _status_class(status: Any) -> str:
    if status in ("error", "fail", "failed", "runtime error"):
        return "failing"
    if status in ("warn", "warned", "warning", "stale"):
        return "stale"
    return "ok"


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _short_number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,.0f}" if magnitude >= 10 or value == int(value) else f"{value:.1f}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1240px}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.meta{color:#666}table{border-collapse:collapse;font-size:.9em;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
tr.failing td{background:#fde0e0;color:#a00000;font-weight:600}
tr.stale td,tr.never-run td{background:#fff4d6}
.summary{font-weight:600;padding:6px 10px;border-radius:4px;display:inline-block}
.summary.good{background:#e3f5e1;color:#1b5e20}.summary.bad{background:#fde0e0;color:#a00000}
.summary.warn{background:#fff4d6;color:#7a5b00}
.grid{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #eee;padding:8px}
figcaption{font-size:.9em;color:#444;margin-bottom:4px}
svg .frame{fill:#fcfcfc;stroke:#ccc}svg .grid{stroke:#e6e6e6}
svg text{font-size:11px;fill:#555}svg .legend{font-size:11px;fill:#333}
"""
