"""The contract: a deal's amount and payment terms (due in N days, or a schedule of instalments)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from mercator.billing.domain.checks import calendar_day, clean_text, positive_amount
from mercator.common.errors import InvalidValue, RuleViolation
from mercator.common.money import check_currency


@dataclass(frozen=True)
class Instalment:
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Contract:
    id: uuid.UUID
    number: str
    deal_id: uuid.UUID
    client_id: uuid.UUID
    signed_on: date
    amount: Decimal
    currency: str
    due_in_days: int | None = None
    instalments: tuple[Instalment, ...] = ()

    @classmethod
    def sign(
        cls,
        id: uuid.UUID,
        number: str,
        deal_id: uuid.UUID,
        client_id: uuid.UUID,
        signed_on: date,
        amount: str | Decimal | int,
        currency: str,
        *,
        due_in_days: int | None = None,
        instalments: Iterable[Instalment] = (),
    ) -> Contract:
        name = clean_text(number)
        if name is None:
            raise InvalidValue("number_required", "a contract needs a number", "number")
        signed_on = calendar_day(signed_on, "signed_on")
        currency = check_currency(currency)
        amount = positive_amount(amount, currency, "amount")
        instalments = tuple(instalments)
        if (due_in_days is None) == (not instalments):
            raise InvalidValue(
                "payment_terms_required", "give either due_in_days or a schedule of instalments", "payment_terms"
            )
        if due_in_days is not None and (
            isinstance(due_in_days, bool) or not isinstance(due_in_days, int) or not 0 <= due_in_days <= 365
        ):
            raise InvalidValue("bad_due_in_days", "payment is due in 0 to 365 days", "due_in_days")
        checked: list[Instalment] = []
        for i, part in enumerate(instalments):
            at = f"instalments[{i}]"
            due = calendar_day(part.due_date, f"{at}.due_date")
            if due < signed_on:
                raise InvalidValue(
                    "instalment_before_signing", "an instalment cannot fall due before signing", f"{at}.due_date"
                )
            if checked and due <= checked[-1].due_date:
                raise InvalidValue("instalments_not_ascending", "instalment dates must go up", f"{at}.due_date")
            checked.append(Instalment(due, positive_amount(part.amount, currency, f"{at}.amount")))
        # Exactly, to the kopeck: a schedule a rouble short leaves debt nobody invoices.
        if checked and (total := sum(p.amount for p in checked)) != amount:
            raise InvalidValue(
                "instalments_do_not_add_up",
                f"instalments add up to {total}, the contract is for {amount}",
                "instalments",
            )
        return cls(id, name, deal_id, client_id, signed_on, amount, currency, due_in_days, tuple(checked))

    def due_date(self, issue_date: date) -> date:
        """Due date of an invoice under 'due in N days' terms; a schedule names its own."""
        if self.due_in_days is None:
            raise RuleViolation("contract_has_schedule", "take the due date from the instalment invoiced", "due_date")
        return calendar_day(issue_date, "issue_date") + timedelta(days=self.due_in_days)
