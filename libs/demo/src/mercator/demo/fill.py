"""`mercator demo`: fills an empty Mercator through its public API (the gateway) with a believable company.

Three sales departments with a head and four managers each, a marketing manager; about 600 client cards with
their contact persons and two years of history; about 2,000 deals opened over the past 24 months that go through
the pipeline the way sales go (about one in ten is won, most are lost along the way with a reason that fits the
stage, the rest are still open), with contracts, invoices, payments (some late, some part-paid, a few never),
deliveries with waybills; and marketing events with their participants, so every report has something to show.

Everything is dated when it happened, through the API's history fields: a deal's opening and each move, the
interest rating, offers, win or loss; an invoice's issue date (so its due date), payments, deliveries. The
managers bring their own two years in, so they hold the importer role while the demo runs and lose it at the
end. Deals open with the seasons (quiet in January and the summer, busy before the year closes) and a slowly
growing trend; managers differ in skill (how many deals go on at each stage, how fast). Invoices are issued in
the order of their dates, because a year's invoice numbers follow the dates.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
from datetime import UTC, datetime, timedelta

from mercator.demo.client import Api, sign_in
from mercator.demo.company import (
    COMPANY_KINDS,
    COMPANY_WORDS,
    DEPARTMENTS,
    HISTORY_KINDS,
    LOST_REASONS,
    MONTHS,
    PAYERS,
    PRODUCTS,
    SEASON,
    Company,
    Manager,
    Sale,
    person_name,
)
from mercator.demo.selling import Selling


class Demo(Selling):
    def __init__(self, base: str, admin_email: str, admin_password: str, scale: float, seed: int, say=print):
        self.base, self.admin_email, self.admin_password = base, admin_email, admin_password
        self.scale, self.rnd, self.say = scale, random.Random(seed), say
        self.counter: dict = {}
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)  # clocks of services may lag
        self.today = self.now.date()
        self.start = self.now - timedelta(days=round(MONTHS * 30.44))
        self.sales: list[Sale] = []
        self.payers = itertools.cycle(PAYERS)

    async def run(self, force: bool = False) -> dict:
        admin = Api(self.base, await sign_in(self.base, self.admin_email, self.admin_password), self.counter)
        try:
            if not force and (await admin.get("/companies", limit=1))["items"]:
                self.say("demo: Mercator already has client cards; the demo fills an empty install only")
                return {"skipped": True}
            await self._setup(admin)
            managers = [m for d in self.departments for m in d]
            cards_each = max(1, round(600 * self.scale / len(managers)))
            deals_each = max(1, round(2000 * self.scale / len(managers)))
            self.say(
                f"demo: {len(managers)} managers, {cards_each * len(managers)} client cards, "
                f"{deals_each * len(managers)} deals over {MONTHS} months"
            )
            results = await asyncio.gather(*(self._manager(m, cards_each, deals_each) for m in managers))
            cards = [c for r in results for c in r.cards]
            await self._invoices()
            gate = asyncio.Semaphore(len(managers))  # about as many at once as the managers' own work

            async def paid(sale: Sale) -> None:
                async with gate:
                    await self._paid(sale)

            await asyncio.gather(*(paid(sale) for sale in self.sales))
            await self._marketing(cards)
            await self._history_role_back(admin, managers)
            won = self.counter.get("won", 0)
            self.say(
                f"demo: done: {len(cards)} client cards, {self.counter.get('deals', 0)} deals ({won} won, "
                f"{self.counter.get('lost', 0)} lost), {self.counter.get('invoices', 0)} invoices, "
                f"{self.counter.get('payments', 0)} payments, {self.counter.get('requests', 0)} requests"
            )
            return dict(self.counter, cards=len(cards))
        finally:
            for api in {id(sale.api): sale.api for sale in self.sales}.values():
                await api.close()
            await admin.close()

    # -- the company --------------------------------------------------------------------------------

    async def _setup(self, admin: Api) -> None:
        # One suffix on every email and product code of this fill.
        suffix = secrets.token_hex(3)
        await self._people(admin, suffix)
        await self._catalogues(admin, suffix)

    async def _people(self, admin: Api, suffix: str) -> None:
        """The departments with their heads and managers, and the marketing manager."""
        rnd = self.rnd
        root = await admin.post("/departments", {"name": "Отдел продаж"})
        self.departments: list[list[Manager]] = []
        # Skills from a weak beginner to a star, dealt out at random across the departments.
        skills = [0.6 + 0.9 * k / 11 for k in range(12)]
        rnd.shuffle(skills)
        for i, name in enumerate(DEPARTMENTS):
            dept = await admin.post("/departments", {"name": name, "parent_id": root["id"]})
            head = Manager(
                person_name(rnd), f"head{i + 1}.{suffix}@demo.mercator.example", secrets.token_urlsafe(18), dept["id"]
            )
            await admin.post(
                "/users",
                {
                    "name": head.name,
                    "email": head.email,
                    "password": head.password,
                    "roles": ["head"],
                    "department_id": dept["id"],
                },
            )
            team = []
            for j in range(4):
                m = Manager(
                    person_name(rnd),
                    f"manager{i * 4 + j + 1}.{suffix}@demo.mercator.example",
                    secrets.token_urlsafe(18),
                    dept["id"],
                    skill=skills[i * 4 + j],
                )
                # The importer role: each manager brings their own two years in, dated as they happened.
                m.user_id = (
                    await admin.post(
                        "/users",
                        {
                            "name": m.name,
                            "email": m.email,
                            "password": m.password,
                            "roles": ["manager", "importer"],
                            "department_id": dept["id"],
                        },
                    )
                )["id"]
                team.append(m)
            self.departments.append(team)
        self.marketer = Manager(
            person_name(rnd), f"marketing.{suffix}@demo.mercator.example", secrets.token_urlsafe(18), root["id"]
        )
        await admin.post(
            "/users",
            {
                "name": self.marketer.name,
                "email": self.marketer.email,
                "password": self.marketer.password,
                "roles": ["marketing"],
                "department_id": root["id"],
            },
        )

    async def _catalogues(self, admin: Api, suffix: str) -> None:
        """What cards and deals pick from: regions, industries, sources, loss reasons, the product catalogue."""
        self.regions = await admin.get("/regions")
        self.industries = await admin.get("/industries")
        self.sources = await admin.get("/contact-sources")
        reasons = await admin.get("/lost-reasons")
        have = {r["name"]: r for r in reasons}
        for name in sorted({n for options in LOST_REASONS.values() for n, _ in options} - set(have)):
            have[name] = await admin.post("/lost-reasons", {"name": name})
        self.reasons = have
        self.products = []
        for group, items in PRODUCTS.items():
            g = await admin.post("/product-groups", {"name": group})
            for code, name, price in items:
                p = await admin.post(
                    "/products",
                    {
                        "code": f"{code}-{suffix}",
                        "name": name,
                        "group_id": g["id"],
                        "unit": "шт",
                        "list_price": f"{price}.00",
                    },
                )
                self.products.append((p["id"], price))

    async def _history_role_back(self, admin: Api, managers: list[Manager]) -> None:
        """History is in: from now on the managers' work happens when they do it."""
        for m in managers:
            r = await admin.call("GET", f"/users/{m.user_id}", etag=True)
            await admin.call(
                "PATCH", f"/users/{m.user_id}", json={"roles": ["manager"]}, headers={"If-Match": r.headers["etag"]}
            )

    # -- one manager's two years --------------------------------------------------------------------

    async def _manager(self, m: Manager, n_cards: int, n_deals: int) -> Company:
        rnd = random.Random(self.rnd.random())
        api = Api(self.base, await sign_in(self.base, m.email, m.password), self.counter)
        mine = Company(m)
        keep = False
        try:
            for _ in range(n_cards):
                card = await api.post("/companies", self._card(rnd))
                mine.cards.append(card)
                await self._history(api, rnd, card)
            for opened in sorted(self._opening(rnd) for _ in range(n_deals)):
                keep = await self._deal(api, rnd, m, rnd.choice(mine.cards), opened) or keep
        finally:
            if not keep:  # the sales' payments and deliveries still need it
                await api.close()
        return mine

    def _opening(self, rnd: random.Random) -> datetime:
        """When a deal opens: a month by the season and a growing trend, a day and an office hour in it."""
        months = [
            (self.start.year + (self.start.month - 1 + k) // 12, (self.start.month - 1 + k) % 12 + 1)
            for k in range(MONTHS + 1)
        ]
        weights = [SEASON[mo] * (0.8 + 0.4 * k / MONTHS) for k, (_, mo) in enumerate(months)]
        year, month = rnd.choices(months, weights)[0]
        first = datetime(year, month, 1, tzinfo=UTC)
        nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        moment = first + (nxt - first) * rnd.random()
        moment = moment.replace(hour=rnd.randint(6, 14), minute=rnd.randint(0, 59))
        return min(max(moment, self.start), self.now - timedelta(hours=1))

    def _card(self, rnd: random.Random) -> dict:
        name = f"ООО «{rnd.choice(COMPANY_WORDS)}{rnd.choice(COMPANY_KINDS)}-{rnd.randint(1, 999)}»"
        domain = f"{secrets.token_hex(4)}.example"
        persons = [
            {
                "name": person_name(rnd),
                "position": rnd.choice(("директор", "закупщик", "главный инженер")),
                "emails": [f"p{k}@{domain}"],
            }
            for k in range(rnd.randint(1, 3))
        ]
        return {
            "name": name,
            "region_id": rnd.choice(self.regions)["id"] if self.regions else None,
            "industry_id": rnd.choice(self.industries)["id"] if self.industries else None,
            "source_id": rnd.choice(self.sources)["id"] if self.sources else None,
            "persons": persons,
        }

    async def _history(self, api: Api, rnd: random.Random, card: dict) -> None:
        # Two years of calls and meetings; a quarter of the clients have gone quiet lately.
        quiet = rnd.random() < 0.25
        entries = []
        for _ in range(rnd.randint(2, 8)):
            days_ago = rnd.randint(30 if quiet else 0, 730)
            entries.append(
                {
                    "company_id": card["id"],
                    "kind": rnd.choice(HISTORY_KINDS),
                    "summary": rnd.choice(
                        (
                            "обсудили потребность",
                            "отправили каталог",
                            "уточнили сроки поставки",
                            "договорились о встрече",
                        )
                    ),
                    "happened_at": (self.now - timedelta(days=days_ago, minutes=rnd.randint(0, 600))).isoformat(),
                }
            )
        await api.post("/history/batch", {"entries": entries})

    async def _marketing(self, cards: list[dict]) -> None:
        api = Api(self.base, await sign_in(self.base, self.marketer.email, self.marketer.password), self.counter)
        rnd = self.rnd
        try:
            plans = [
                ("Выставка «Металлообработка»", "exhibition", 300, "850000"),
                ("Презентация новой линейки станков", "presentation", 200, "120000"),
                ("Вебинар: сервис и обслуживание", "webinar", 120, "30000"),
                ("Весенняя рассылка: скидка 10% на инструмент", "mailing", 90, "15000"),
                ("Выставка «Иннопром»", "exhibition", 60, "1200000"),
            ]
            for name, kind, days_ago, cost in plans:
                starts = self.today - timedelta(days=days_ago)
                event = await api.post(
                    "/marketing-events",
                    {
                        "name": name,
                        "kind": kind,
                        "starts_on": starts.isoformat(),
                        "ends_on": (starts + timedelta(days=3 if kind == "exhibition" else 0)).isoformat(),
                        "cost": f"{cost}.00",
                        "offer": "Скидка 10% до конца месяца" if kind == "mailing" else None,
                    },
                )
                url = f"/marketing-events/{event['id']}/participants"
                if kind == "mailing" and self.regions:
                    await api.post(url, {"filter": {"region_id": rnd.choice(self.regions)["id"]}})
                else:
                    chosen = rnd.sample(cards, min(len(cards), max(3, len(cards) // 15)))
                    await api.post(url, {"company_ids": [c["id"] for c in chosen]})
                    for c in chosen[: len(chosen) // 2]:
                        await api.call(
                            "PATCH", f"{url}/{c['id']}", json={"status": rnd.choice(("attended", "responded"))}
                        )
                if kind == "mailing":
                    try:
                        await api.post(f"/marketing-events/{event['id']}/mailings", {})
                    except RuntimeError as exc:  # no participant in that region: nothing to send
                        self.say(f"demo: mailing not sent: {exc}")
        finally:
            await api.close()
