"""HTTP routes of the analytics service: read-only reports over the projections, one router per audience."""

from mercator.analytics.api import clients, reports

ROUTERS = [clients.router, reports.router]
