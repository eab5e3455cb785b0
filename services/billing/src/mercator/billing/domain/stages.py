"""What billing's events say about a deal's stage."""

from __future__ import annotations

from collections.abc import Mapping

# What each billing event says about the deal; the deals service moves forward only,
# so a second payment or a late ContractSigned naming an earlier stage is harmless.
STAGE_FOR_EVENT: Mapping[str, str] = {
    "ContractSigned": "contract",
    "InvoiceIssued": "contract",
    "PaymentReceived": "payment",
    "DeliveryShipped": "delivery",
}


def stage_for(event_type: str) -> str | None:
    return STAGE_FOR_EVENT.get(event_type)
