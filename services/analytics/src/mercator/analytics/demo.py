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

import argparse
import asyncio
import itertools
import os
import random
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

DEPARTMENTS = ("Продажи — Москва", "Продажи — Регионы", "Корпоративные клиенты")
FIRST = (
    "Анна",
    "Борис",
    "Вера",
    "Глеб",
    "Дарья",
    "Егор",
    "Жанна",
    "Илья",
    "Ксения",
    "Лев",
    "Мария",
    "Никита",
    "Ольга",
    "Павел",
    "Роман",
)
LAST = ("Петров", "Смирнов", "Кузнецов", "Попов", "Волков", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов")
COMPANY_WORDS = (
    "Альфа",
    "Вектор",
    "Гранит",
    "Дельта",
    "Заря",
    "Импульс",
    "Квант",
    "Лидер",
    "Меридиан",
    "Нева",
    "Омега",
    "Прогресс",
    "Ресурс",
    "Сигма",
    "Техно",
    "Урал",
    "Феникс",
    "Штиль",
    "Элемент",
    "Янтарь",
)
COMPANY_KINDS = ("Завод", "Трейд", "Строй", "Маш", "Сервис", "Пром", "Логистик", "Снаб")
PRODUCTS = {  # group: [(code, name, list price)]
    "Станки": [
        ("ST-100", "Токарный станок ТС-100", 1_850_000),
        ("ST-220", "Фрезерный станок ФС-220", 2_400_000),
        ("ST-310", "Ленточнопильный станок", 640_000),
    ],
    "Инструмент": [
        ("IN-01", "Набор резцов", 45_000),
        ("IN-02", "Измерительный комплект", 120_000),
        ("IN-03", "Патрон токарный", 68_000),
    ],
    "Сервис": [
        ("SV-01", "Пусконаладка", 150_000),
        ("SV-02", "Годовое обслуживание", 380_000),
        ("SV-03", "Обучение операторов", 90_000),
    ],
}
OPEN_PATH = ("interest", "needs", "demo", "tech_proposal", "commercial_proposal")
# The share of deals that go on from each stage, for a manager of average skill: 70% of first contacts get to
# needs, ... half of the commercial proposals are signed; about one in ten first contacts is won, as in the article.
GO_ON = {"interest": 0.70, "needs": 0.686, "demo": 0.667, "tech_proposal": 0.625, "commercial_proposal": 0.50}
# Days a deal stands at a stage before it moves on (at average skill), low and high.
STAGE_DAYS = {
    "interest": (2, 10),
    "needs": (4, 18),
    "demo": (3, 14),
    "tech_proposal": (5, 20),
    "commercial_proposal": (5, 25),
}
# Why deals are lost, by the stage they stop at (names of the default dictionary; weights).
LOST_REASONS = {
    "interest": (("Клиент пропал", 4), ("Нет бюджета", 3), ("Решение не принято", 3)),
    "needs": (("Нет бюджета", 4), ("Продукт не подходит", 4), ("Клиент пропал", 2)),
    "demo": (("Продукт не подходит", 4), ("Конкурент", 4), ("Решение не принято", 2)),
    "tech_proposal": (("Конкурент", 5), ("Сроки", 3), ("Продукт не подходит", 2)),
    "commercial_proposal": (("Цена", 6), ("Конкурент", 3), ("Сроки", 1)),
}
# Deals opened per calendar month, relative: the New Year holidays and the summer are quiet, the end of the year
# (budgets spent before they lapse) and March busy.
SEASON = {1: 0.5, 2: 0.9, 3: 1.15, 4: 1.0, 5: 0.8, 6: 0.9, 7: 0.7, 8: 0.7, 9: 1.1, 10: 1.2, 11: 1.3, 12: 1.25}
MONTHS = 24
# How clients pay, cycled over the sales in the order they are made so a small demo shows every kind too:
# on time, late (after the due date), part (half, the rest owed), never.
PAYERS = (
    "on_time",
    "never",
    "late",
    "on_time",
    "part",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "part",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "never",
    "on_time",
)
HISTORY_KINDS = ("call", "call", "email", "meeting", "letter", "demo", "fax")


@dataclass
class Manager:
    name: str
    email: str
    password: str
    department_id: str
    user_id: str = ""
    token: str = ""
    skill: float = 1.0  # above 1: more deals go on at each stage, and faster


@dataclass
class Company:
    """The demo's picture: a manager's share of the base."""

    manager: Manager
    cards: list[dict] = field(default_factory=list)


@dataclass
class Sale:
    """A deal that reached the contract: what is left once its invoice is issued (in date order, over all)."""

    api: Api
    rnd: random.Random
    deal: dict
    card: dict
    invoice_id: str
    issue_on: date
    due_in_days: int
    product: str
    quantity: int
    payer: str = "on_time"


class Api:
    """The public API as one signed-in user; rate limits and restarts are waited out, not reported."""

    def __init__(self, base: str, token: str, counter: dict):
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.counter = counter

    async def call(self, method: str, path: str, etag: bool = False, **kw) -> dict | list | httpx.Response:
        """The answer's JSON; with `etag`, the response itself (its ETag for an update).

        A POST carries an Idempotency-Key, so one that timed out on a busy machine is sent again safely: the
        service answers a retry with the first answer (or 409 while the first is still being recorded)."""
        if method == "POST":
            kw["headers"] = {**kw.get("headers", {}), "Idempotency-Key": secrets.token_urlsafe(16)}
        retried = False
        for attempt in range(30):
            try:
                r = await self.http.request(method, f"/api/v1{path}", **kw)
            except httpx.TransportError:
                self.counter["waited"] = self.counter.get("waited", 0) + 1
                retried = True
                await asyncio.sleep(1 + random.random())
                continue
            if r.status_code in (429, 502, 503, 504) or (
                retried and r.status_code == 409 and "already processed" in r.text
            ):
                self.counter["waited"] = self.counter.get("waited", 0) + 1
                await asyncio.sleep(float(r.headers.get("retry-after", 1)) + random.random())
                continue
            self.counter["requests"] = self.counter.get("requests", 0) + 1
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            if etag:
                return r
            return r.json() if r.content else {}
        raise RuntimeError(f"{method} {path}: still refused after 30 tries")

    async def post(self, path: str, body: dict | None = None) -> dict:
        return await self.call("POST", path, json=body or {})

    async def get(self, path: str, **params) -> dict | list:
        return await self.call("GET", path, params=params)

    async def close(self) -> None:
        await self.http.aclose()


async def sign_in(base: str, email: str, password: str) -> str:
    # A dozen Argon2 checks at once on a busy machine take their time; a sign-in that timed out is asked again.
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for attempt in range(10):
            try:
                r = await http.post("/api/v1/auth/token", data={"username": email, "password": password})
            except httpx.TransportError:
                await asyncio.sleep(1 + random.random())
                continue
            if r.status_code in (429, 502, 503, 504):
                await asyncio.sleep(float(r.headers.get("retry-after", 1)) + random.random())
                continue
            if r.status_code != 200:
                raise RuntimeError(f"cannot sign in as {email}: {r.status_code} {r.text[:200]}")
            return r.json()["access_token"]
        raise RuntimeError(f"cannot sign in as {email}: still refused after 10 tries")


def person_name(rnd: random.Random) -> str:
    return f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def later(rnd: random.Random, moment: datetime, low: float, high: float, skill: float = 1.0) -> datetime:
    """Some working days after `moment` (a quicker manager takes less), at an office hour in Moscow."""
    days = rnd.uniform(low, high) / skill**0.5
    then = moment + timedelta(days=days)
    hour = rnd.randint(6, 14)  # 09:00 to 17:59 in Moscow (UTC+3)
    then = then.replace(hour=hour, minute=rnd.randint(0, 59), second=rnd.randint(0, 59), microsecond=0)
    return then if then > moment else moment + timedelta(minutes=rnd.randint(5, 90))


class Demo:
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
        rnd = self.rnd
        suffix = secrets.token_hex(3)
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
            for i in range(n_cards):
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
        for stage, nxt in zip(OPEN_PATH, [*OPEN_PATH[1:], "contract"]):
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
        names, weights = zip(*LOST_REASONS[stage])
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mercator", description="Mercator from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fill an empty Mercator with a believable company, through the public API")
    demo.add_argument("--gateway", default=os.environ.get("MERCATOR_GATEWAY_URL", "http://127.0.0.1:8000"))
    demo.add_argument("--admin-email", default=os.environ.get("MERCATOR_GATEWAY_ADMIN_EMAIL"))
    demo.add_argument("--admin-password", default=os.environ.get("MERCATOR_GATEWAY_ADMIN_PASSWORD"))
    demo.add_argument("--scale", type=float, default=1.0, help="1.0: ~600 client cards and ~2,000 deals")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--force", action="store_true", help="fill even when there are client cards already")
    args = parser.parse_args(argv)
    if not args.admin_email or not args.admin_password:
        print(
            "demo: name an admin (--admin-email/--admin-password or MERCATOR_GATEWAY_ADMIN_EMAIL/_PASSWORD)",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.scale <= 10:
        print("demo: --scale must be above 0 and at most 10", file=sys.stderr)
        return 2
    asyncio.run(Demo(args.gateway, args.admin_email, args.admin_password, args.scale, args.seed).run(args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]) if sys.argv[1:2] != ["demo"] else main())
