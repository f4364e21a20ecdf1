"""What `vsphere-dr drill` and `vsphere-dr drills` show: each drill run's report, as text, JSON or
an HTML page with a chart (inline SVG, no external assets) of each VM's time to answer and RPO.

Pure: built from the journal's rows (vsphere_dr/journal.py), so a report read later is the one
printed at the time.
"""

from __future__ import annotations

import html
from typing import Any

from vsphere_dr.journal import DrillRow, DrillRunRow
from vsphere_dr.table import render_table
from vsphere_dr.timefmt import iso_utc


def time_to_answer(row: DrillRow) -> float | None:
    """From the copy's power-on to its guest answering."""
    if row.powered_on_at is None or row.answered_at is None:
        return None
    return row.answered_at - row.powered_on_at


def rpo(row: DrillRow) -> float | None:
    """The age of the point in time the copy was made from, when the drill began: the data a
    failover from it would lose."""
    return None if row.source_taken is None else row.started_at - row.source_taken


def drill_as_dict(row: DrillRow) -> dict[str, Any]:
    return {"vm": row.vm, "vm_name": row.vm_name, "outcome": row.state, "error": row.error or None,
            "source": {"kind": row.source_kind or None, "vm": row.source_vm or None,
                       "snapshot": row.source_snapshot, "name": row.source_name or None,
                       "taken_at": iso_utc(row.source_taken)},
            "copy": {"name": row.copy_name or None, "moref": row.copy, "host": row.host or None,
                     "host_name": row.host_name or None, "datastore": row.datastore or None,
                     "removed": bool(row.cleaned)},
            "started_at": iso_utc(row.started_at), "powered_on_at": iso_utc(row.powered_on_at),
            "answered_at": iso_utc(row.answered_at), "finished_at": iso_utc(row.finished_at),
            "time_to_answer_seconds": _rounded(time_to_answer(row)), "rpo_seconds": _rounded(rpo(row))}


def report_as_dict(run: DrillRunRow, rows: list[DrillRow]) -> dict[str, Any]:
    return {"id": run.id, "command": run.command, "outcome": run.outcome, "started_at": iso_utc(run.started_at),
            "finished_at": iso_utc(run.finished_at), "passed": sum(r.state == "passed" for r in rows),
            "vms": [drill_as_dict(r) for r in rows]}


def report_text(run: DrillRunRow, rows: list[DrillRow]) -> str:
    head = (f"drill {run.id} ({run.outcome}) started {iso_utc(run.started_at)}: "
            f"{sum(r.state == 'passed' for r in rows)} of {len(rows)} VMs passed")
    table = [(r.vm_name, r.state, f"{r.source_kind} {r.source_name}".strip() or "-", r.host_name or "-",
              _seconds(time_to_answer(r)), _seconds(rpo(r)), (r.error or "")[:100]) for r in rows]
    return head + "\n" + render_table(("VM", "OUTCOME", "FROM", "ON", "ANSWERED IN", "RPO", "ERROR"), table)


def runs_text(runs: list[tuple[DrillRunRow, list[DrillRow]]]) -> str:
    if not runs:
        return "no drills yet"
    table = [(run.id, iso_utc(run.started_at), run.outcome, len(rows), sum(r.state == "passed" for r in rows),
              ", ".join(r.vm_name for r in rows if r.state != "passed") or "-") for run, rows in runs]
    return render_table(("ID", "STARTED", "OUTCOME", "VMS", "PASSED", "NOT PASSED"), table)


def report_html(run: DrillRunRow, rows: list[DrillRow]) -> str:
    """A page that stands alone: the summary, the chart and the table."""
    e = html.escape
    body = "".join(
        f"<tr><td>{e(r.vm_name)}</td><td class='{e(r.state)}'>{e(r.state)}</td>"
        f"<td>{e(f'{r.source_kind} {r.source_name}'.strip() or '-')}</td><td>{e(r.host_name or '-')}</td>"
        f"<td>{_seconds(time_to_answer(r))}</td><td>{_seconds(rpo(r))}</td><td>{e(r.error)}</td></tr>"
        for r in rows)
    passed = sum(r.state == "passed" for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vsphere-dr drill {run.id}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.passed{{color:#1a7f37}}
.failed,.aborted,.refused{{color:#c62828}}</style></head><body>
<h1>Drill {run.id}: {e(run.outcome)}</h1>
<p>Started {e(iso_utc(run.started_at) or '-')}, finished {e(iso_utc(run.finished_at) or '-')}:
{passed} of {len(rows)} VMs passed.</p>
{chart_svg(rows)}
<table><tr><th>VM</th><th>Outcome</th><th>From</th><th>On</th><th>Answered in</th><th>RPO</th><th>Error</th></tr>
{body}</table></body></html>
"""


BAR_HEIGHT, GAP, LABEL_WIDTH, CHART_WIDTH = 14, 10, 180, 520
COLOURS = {"answer": "#1f77b4", "rpo": "#ff7f0e"}


def chart_svg(rows: list[DrillRow]) -> str:
    """Two bars per VM, each series on its own scale (seconds for answering, RPO often hours):
    time to answer and RPO, with their values written beside them."""
    series = [(r, time_to_answer(r), rpo(r)) for r in rows]
    top = {"answer": max([a for _, a, _ in series if a] or [1.0]), "rpo": max([p for _, _, p in series if p] or [1.0])}
    row_height = 2 * BAR_HEIGHT + GAP
    height = 30 + row_height * len(series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{LABEL_WIDTH + CHART_WIDTH + 120}" '
             f'height="{height}" font-family="sans-serif" font-size="12">',
             '<title>Time to answer and RPO per VM</title>',
             f'<rect x="{LABEL_WIDTH}" y="4" width="10" height="10" fill="{COLOURS["answer"]}"/>'
             f'<text x="{LABEL_WIDTH + 14}" y="13">time to answer</text>',
             f'<rect x="{LABEL_WIDTH + 130}" y="4" width="10" height="10" fill="{COLOURS["rpo"]}"/>'
             f'<text x="{LABEL_WIDTH + 144}" y="13">RPO</text>'
             f'<text x="{LABEL_WIDTH + 200}" y="13" fill="#666">(each on its own scale)</text>']
    for i, (row, answer, point) in enumerate(series):
        y = 24 + i * row_height
        parts.append(f'<text x="0" y="{y + BAR_HEIGHT + 3}">{html.escape(row.vm_name[:28])}</text>')
        for j, (key, value) in enumerate((("answer", answer), ("rpo", point))):
            width = 0 if value is None else max(1, round(CHART_WIDTH * value / top[key]))
            bar_y = y + j * BAR_HEIGHT
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{bar_y}" width="{width}" height="{BAR_HEIGHT - 2}" '
                         f'fill="{COLOURS[key]}"><title>{key}: {_seconds(value)}</title></rect>')
            parts.append(f'<text x="{LABEL_WIDTH + width + 4}" y="{bar_y + BAR_HEIGHT - 3}">{_seconds(value)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes = value / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
