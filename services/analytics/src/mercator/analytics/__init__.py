"""Mercator analytics service: projections of the business events and the reports read from them."""
