"""The delivery: goods shipped under a waybill, then delivered."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from mercator.billing.domain.checks import calendar_day, clean_text, normalise_reference
from mercator.common.errors import InvalidValue, RuleViolation
from mercator.common.money import parse_decimal


class DeliveryStatus(StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"


# Russian VAT rates an invoice line may carry: 22% is the standard rate from 1 January 2026,
# 20% stays for corrections of earlier supplies; "none" is 'без НДС' (the seller is exempt),
@dataclass(frozen=True)
class DeliveryItem:
    product_id: uuid.UUID
    quantity: Decimal


_DELIVERY_ORDER = (DeliveryStatus.SHIPPED, DeliveryStatus.DELIVERED)


@dataclass
class Delivery:
    id: uuid.UUID
    deal_id: uuid.UUID | None
    waybill_number: str
    shipped_on: date
    items: tuple[DeliveryItem, ...]
    carrier: str | None
    status: DeliveryStatus = DeliveryStatus.SHIPPED
    delivered_on: date | None = None

    @classmethod
    def ship(
        cls,
        id: uuid.UUID,
        deal_id: uuid.UUID | None,
        waybill_number: str,
        shipped_on: date,
        items: Iterable[DeliveryItem],
        carrier: str | None,
        today: date | None = None,
    ) -> Delivery:
        waybill = normalise_reference(waybill_number)
        if waybill is None:
            raise InvalidValue("waybill_required", "a delivery needs its waybill number", "waybill_number")
        checked = []
        for i, item in enumerate(items):
            quantity = parse_decimal(item.quantity, f"items[{i}].quantity")
            if quantity <= 0:
                raise InvalidValue("bad_quantity", "the quantity must be above zero", f"items[{i}].quantity")
            checked.append(DeliveryItem(item.product_id, quantity))
        if not checked:
            raise InvalidValue("items_required", "say what was shipped", "items")
        if today is not None and calendar_day(shipped_on, "shipped_on") > today:
            raise InvalidValue("shipped_in_future", "a waybill dated after today is not a shipment yet", "shipped_on")
        return cls(id, deal_id, waybill, calendar_day(shipped_on, "shipped_on"), tuple(checked), clean_text(carrier))

    def move_to(self, status: DeliveryStatus | str, on: date) -> None:
        if status not in DeliveryStatus.__members__.values():
            raise InvalidValue("bad_delivery_status", f"unknown status {status!r}", "status")
        if _DELIVERY_ORDER.index(DeliveryStatus(status)) <= _DELIVERY_ORDER.index(self.status):
            raise RuleViolation("delivery_status_not_forward", f"the delivery is already {self.status}", "status")
        if calendar_day(on, "delivered_on") < self.shipped_on:
            raise InvalidValue("delivered_before_shipped", "delivered before it was shipped", "delivered_on")
        self.status, self.delivered_on = DeliveryStatus(status), on
