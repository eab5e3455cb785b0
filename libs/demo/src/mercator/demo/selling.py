"""The demo's sales: a deal through the pipeline to a win or a loss, its contract, invoices and payments."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from mercator.demo.client import Api
from mercator.demo.company import GO_ON, LOST_REASONS, OPEN_PATH, STAGE_DAYS, Manager, Sale, iso, later


class Selling:
    """The part of `fill.Demo` that sells; `Demo` holds the state named here."""

    counter: dict
    now: datetime
    today: date
    sales: list[Sale]
    payers: Iterator[str]
    products: list[tuple[str, int]]
    reasons: dict

    async def _deal(self, api: Api, rnd: random.Random, m: Manager, card: dict, opened: datetime) -> bool:
        """One deal from its first contact, each step dated; True when it became a sale waiting for its invoice."""
        product, price = rnd.choice(self.products)
        quantity = rnd.randint(1, 4)
        amount = price * quantity
        expected = (opened + timedelta(days=rnd.randint(30, 150))).date()
        if expected <= self.today:  # an open deal's expected close lies ahead, as a manager would keep it
            expected = self.today + timedelta(days=rnd.randint(7, 120))
        deal = await api.post(
            "/deals",
            {
                "title": f"Поставка для {card['name']}"[:200],
                "company_id": card["id"],
                "amount": f"{amount}.00",
                "expected_close_date": expected.isoformat(),
                "opened_at": iso(opened),
                "lines": [{"product_id": product, "quantity": str(quantity), "unit_price": f"{price}.00"}],
            },
        )
        self.counter["deals"] = self.counter.get("deals", 0) + 1
        url, at = f"/deals/{deal['id']}", opened
        for stage, nxt in zip(OPEN_PATH, [*OPEN_PATH[1:], "contract"], strict=True):
            goes_on = rnd.random() < min(0.95, GO_ON[stage] * m.skill**0.3)
            # When it moves on, or when it is lost (some days after the last step, with no skill to hurry it).
            then = later(rnd, at, *STAGE_DAYS[stage], skill=m.skill) if goes_on else later(rnd, at, 3, 30)
            if stage == "demo":  # the client's interest is rated at the demo, before it goes on or is lost
                rated = at + (then - at) * rnd.uniform(0.2, 0.8)
                if rated < self.now:
                    await api.post(
                        f"{url}/interest",
                        {"rating": rnd.randint(4, 5) if goes_on else rnd.randint(1, 4), "at": iso(rated)},
                    )
            if not goes_on:
                await self._stop(api, rnd, url, stage, then)
                return False
            if then >= self.now:
                return False  # still being worked
            if nxt == "contract":
                return await self._contract(api, rnd, m, deal, card, at, amount, product, quantity)
            await api.post(f"{url}/moves", {"stage": nxt, "at": iso(then)})
            at = then
        return False

    async def _stop(self, api: Api, rnd: random.Random, url: str, stage: str, lost_at: datetime) -> None:
        """The deal goes no further: lost with a reason that fits the stage, or, for a few, left open and
        forgotten (the board shows them stalled)."""
        if lost_at >= self.now or rnd.random() < 0.06:
            return
        names = [name for name, _ in LOST_REASONS[stage]]
        weights = [weight for _, weight in LOST_REASONS[stage]]
        reason = self.reasons[rnd.choices(names, weights)[0]]
        await api.post(f"{url}/lose", {"reason_id": reason["id"], "at": iso(lost_at)})
        self.counter["lost"] = self.counter.get("lost", 0) + 1

    async def _contract(
        self,
        api: Api,
        rnd: random.Random,
        m: Manager,
        deal: dict,
        card: dict,
        since: datetime,
        amount: int,
        product: str,
        quantity: int,
    ) -> bool:
        """Price agreed (sometimes after the client's counter-offer), contract signed, invoice drafted; it is
        issued with the others in the order of the dates."""
        url = f"/deals/{deal['id']}"
        offered = later(rnd, since, 1, 6, m.skill)
        offer = await api.post(f"{url}/offers", {"side": "ours", "amount": f"{amount}.00", "at": iso(offered)})
        if rnd.random() < 0.4:
            offered = later(rnd, offered, 1, 5)
            discount = rnd.choice((3, 5, 7, 10))
            offer = await api.post(
                f"{url}/offers",
                {"side": "client", "amount": f"{amount}.00", "discount_percent": str(discount), "at": iso(offered)},
            )
        accepted = later(rnd, offered, 1, 7, m.skill)
        signed = later(rnd, accepted, 0, 3)
        if signed >= self.now - timedelta(days=1):
            return False  # still negotiating
        deal = await api.post(f"{url}/offers/{offer['id']}/accept", {"at": iso(accepted)})
        await api.post(f"{url}/moves", {"stage": "contract", "at": iso(signed)})
        due_in_days = rnd.choice((10, 14, 14, 30))
        contract = await api.post(
            "/contracts",
            {
                "number": f"Д-{secrets.token_hex(4)}",
                "deal_id": deal["id"],
                "signed_on": signed.date().isoformat(),
                "amount": deal["amount"],
                "due_in_days": due_in_days,
            },
        )
        invoice = await api.post(
            "/invoices",
            {
                "deal_id": deal["id"],
                "contract_id": contract["id"],
                "lines": [
                    {
                        "description": deal["title"][:200],
                        "quantity": "1",
                        "unit_price": deal["amount"],
                        "vat_rate": "none",
                    }
                ],
            },
        )
        issue_on = min(self.today, signed.date() + timedelta(days=rnd.randint(0, 3)))
        self.sales.append(Sale(api, rnd, deal, card, invoice["id"], issue_on, due_in_days, product, quantity))
        return True

    async def _invoices(self) -> None:
        """A year's invoice numbers follow the dates: the sales' invoices are issued oldest first."""
        self.sales.sort(key=lambda s: (s.issue_on, s.invoice_id))
        for sale in self.sales:
            body = {"issue_date": sale.issue_on.isoformat()} if sale.issue_on < self.today else {}
            invoice = await sale.api.post(f"/invoices/{sale.invoice_id}/issue", body)
            sale.deal["invoice"] = invoice
            sale.payer = next(self.payers)
            self.counter["invoices"] = self.counter.get("invoices", 0) + 1

    async def _paid(self, sale: Sale) -> None:
        """The client pays (on time, late, half, or never), the goods ship once it is paid, the deal is won."""
        rnd, invoice, deal = sale.rnd, sale.deal["invoice"], sale.deal
        issued, due = date.fromisoformat(invoice["issue_date"]), date.fromisoformat(invoice["due_date"])
        if sale.payer == "never":
            return
        if sale.payer == "late":
            paid_on = due + timedelta(days=rnd.randint(5, 75))
        else:
            paid_on = issued + timedelta(days=rnd.randint(1, max(1, (due - issued).days)))
        if paid_on > self.today:
            return  # not yet: the debt stands, current or overdue
        share = "0.5" if sale.payer == "part" else "1"
        paid = f"{float(invoice['total']) * float(share):.2f}"
        await sale.api.post(
            "/payments",
            {
                "company_id": sale.card["id"],
                "amount": paid,
                "received_on": paid_on.isoformat(),
                "bank_reference": f"ПП-{secrets.token_hex(5)}",
                "allocations": [{"invoice_id": invoice["id"], "amount": paid}],
            },
        )
        self.counter["payments"] = self.counter.get("payments", 0) + 1
        if sale.payer == "part":
            return
        shipped_on = paid_on + timedelta(days=rnd.randint(1, 10))
        if shipped_on > self.today:
            return
        await sale.api.post(
            "/deliveries",
            {
                "deal_id": deal["id"],
                "waybill_number": f"ТН-{secrets.token_hex(4)}",
                "shipped_on": shipped_on.isoformat(),
                "carrier": rnd.choice(("ПЭК", "Деловые линии", "свой транспорт")),
                "items": [{"product_id": sale.product, "quantity": str(sale.quantity)}],
            },
        )
        won = datetime(shipped_on.year, shipped_on.month, shipped_on.day, tzinfo=UTC) + timedelta(
            days=rnd.randint(1, 6), hours=rnd.randint(6, 14), minutes=rnd.randint(0, 59)
        )
        if won >= self.now:
            return
        await sale.api.post(f"/deals/{deal['id']}/win", {"at": iso(won)})
        self.counter["won"] = self.counter.get("won", 0) + 1

    # -- marketing ----------------------------------------------------------------------------------
