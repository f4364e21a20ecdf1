"""A VM that answers but whose counters the health model calls anomalous, with
``[health] response = incident``: an incident and a log line. Changes nothing in vCenter."""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery


class ReportIll(Recovery):
    kind = "report_ill"
    changes_vcenter = False
