"""The reports, one module each, read from the projections (writes happen only in `projections`).

Every report takes the same scope (period, department with its sub-departments, manager, currency) and
counts only what the caller sees (mercator.common.visibility, Kind.REPORT): a manager their own deals and
clients, a head their department subtree, marketing, executives and admins everything.
Aggregation happens in SQL wherever the database can do it; Python only finishes (medians, trends, shares).

Where a report's figures are sums over cells of the aggregates (`aggregates`: month x manager x department x
stage, ...) and the period falls on whole months (UTC), it reads those few rows; otherwise it reads the facts.
`facts=True` makes it read the facts always: the two must agree, and the tests hold them to it.
What the reports share (the scope, the caller's sight as SQL conditions, labels) is in `slicing`.
"""

from mercator.analytics.reports.activity import activity
from mercator.analytics.reports.client_base import client_base
from mercator.analytics.reports.duration import duration
from mercator.analytics.reports.forecast import forecast
from mercator.analytics.reports.funnel import funnel
from mercator.analytics.reports.inactive_clients import inactive_clients
from mercator.analytics.reports.inactivity import inactivity
from mercator.analytics.reports.losses import losses
from mercator.analytics.reports.marketing import marketing
from mercator.analytics.reports.receivables import receivables
from mercator.analytics.reports.results import results
from mercator.analytics.reports.segments import segments
from mercator.analytics.reports.slicing import Scope
from mercator.analytics.reports.volume import Dimension, volume
from mercator.analytics.reports.workload import workload

__all__ = [
    "Dimension",
    "Scope",
    "activity",
    "client_base",
    "duration",
    "forecast",
    "funnel",
    "inactive_clients",
    "inactivity",
    "losses",
    "marketing",
    "receivables",
    "results",
    "segments",
    "volume",
    "workload",
]
