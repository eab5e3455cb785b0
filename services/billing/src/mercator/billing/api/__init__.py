"""HTTP routes of the billing service, a router per feature: translate, call one use case, translate back."""

from __future__ import annotations

from fastapi import APIRouter

from mercator.billing.api import bank_statements, deliveries, invoices, payments, reports

router = APIRouter(prefix="/api/v1")
for feature in (invoices, payments, deliveries, reports, bank_statements):
    router.include_router(feature.router)
