"""HTTP routes of the deals service, a router per feature: translate, call one use case, translate back."""

from fastapi import APIRouter

from mercator.deals.api import board, deals, lost_reasons, pipelines, products

router = APIRouter(prefix="/api/v1")
for feature in (deals, board, pipelines, lost_reasons, products):
    router.include_router(feature.router)
