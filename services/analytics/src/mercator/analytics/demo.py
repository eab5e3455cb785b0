"""`mercator demo`: fills an empty Mercator through its public API (the gateway) with a believable company.

Three sales departments with a head and four managers each, a marketing manager; about 600 client cards with
their contact persons and two years of history; about 2,000 deals that go through the pipeline the way sales go
(about one in ten is won, most are lost along the way with a reason, the rest are still open), with contracts,
invoices, payments (some late, some part-paid, a few never), deliveries with waybills; and marketing events
with their participants, so every report has something to show.

What the API lets it date in the past, it does: history entries over 24 months, contract, payment and delivery
dates. Deals, their stage moves and invoices are dated by their services when they happen and cannot be
back-dated through the API: deal durations and monthly results all fall on the day the demo runs, and the late
payers' invoices (unpaid or part-paid, due within a week) turn overdue as the days pass.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

DEPARTMENTS = ("Продажи — Москва", "Продажи — Регионы", "Корпоративные клиенты")
FIRST = ("Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Илья", "Ксения", "Лев", "Мария", "Никита",
         "Ольга", "Павел", "Роман")
LAST = ("Петров", "Смирнов", "Кузнецов", "Попов", "Волков", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов")
COMPANY_WORDS = ("Альфа", "Вектор", "Гранит", "Дельта", "Заря", "Импульс", "Квант", "Лидер", "Меридиан", "Нева",
                 "Омега", "Прогресс", "Ресурс", "Сигма", "Техно", "Урал", "Феникс", "Штиль", "Элемент", "Янтарь")
COMPANY_KINDS = ("Завод", "Трейд", "Строй", "Маш", "Сервис", "Пром", "Логистик", "Снаб")
PRODUCTS = {  # group: [(code, name, list price)]
    "Станки": [("ST-100", "Токарный станок ТС-100", 1_850_000), ("ST-220", "Фрезерный станок ФС-220", 2_400_000),
               ("ST-310", "Ленточнопильный станок", 640_000)],
    "Инструмент": [("IN-01", "Набор резцов", 45_000), ("IN-02", "Измерительный комплект", 120_000),
                   ("IN-03", "Патрон токарный", 68_000)],
    "Сервис": [("SV-01", "Пусконаладка", 150_000), ("SV-02", "Годовое обслуживание", 380_000),
               ("SV-03", "Обучение операторов", 90_000)],
}
OPEN_PATH = ("interest", "needs", "demo", "tech_proposal", "commercial_proposal")
# Where a deal stops: the share that never gets past each stage (lost there or still open), then won. About one
# in ten first contacts is won, as in the article.
FATE = (("interest", 0.30), ("needs", 0.22), ("demo", 0.16), ("tech_proposal", 0.12),
        ("commercial_proposal", 0.10), ("won", 0.10))
HISTORY_KINDS = ("call", "call", "email", "meeting", "letter", "demo", "fax")


@dataclass
class Manager:
    name: str
    email: str
    password: str
    department_id: str
    user_id: str = ""
    token: str = ""


@dataclass
class Company:
    """The demo's picture: a manager's share of the base."""

    manager: Manager
    cards: list[dict] = field(default_factory=list)


class Api:
    """The public API as one signed-in user; rate limits and restarts are waited out, not reported."""

    def __init__(self, base: str, token: str, counter: dict):
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.counter = counter

    async def call(self, method: str, path: str, **kw) -> dict | list:
        for attempt in range(30):
            r = await self.http.request(method, f"/api/v1{path}", **kw)
            if r.status_code in (429, 502, 503, 504):
                self.counter["waited"] = self.counter.get("waited", 0) + 1
                await asyncio.sleep(float(r.headers.get("retry-after", 1)) + random.random())
                continue
            self.counter["requests"] = self.counter.get("requests", 0) + 1
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            return r.json() if r.content else {}
        raise RuntimeError(f"{method} {path}: still refused after 30 tries")

    async def post(self, path: str, body: dict | None = None) -> dict:
        return await self.call("POST", path, json=body or {})

    async def get(self, path: str, **params) -> dict | list:
        return await self.call("GET", path, params=params)

    async def close(self) -> None:
        await self.http.aclose()


async def sign_in(base: str, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post("/api/v1/auth/token", data={"username": email, "password": password})
        if r.status_code != 200:
            raise RuntimeError(f"cannot sign in as {email}: {r.status_code} {r.text[:200]}")
        return r.json()["access_token"]


def person_name(rnd: random.Random) -> str:
    return f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"


class Demo:
    def __init__(self, base: str, admin_email: str, admin_password: str, scale: float, seed: int,
                 say=print):
        self.base, self.admin_email, self.admin_password = base, admin_email, admin_password
        self.scale, self.rnd, self.say = scale, random.Random(seed), say
        self.counter: dict = {}
        self.today = datetime.now(UTC).date()

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
            self.say(f"demo: {len(managers)} managers, {cards_each * len(managers)} client cards, "
                     f"{deals_each * len(managers)} deals")
            results = await asyncio.gather(*(self._manager(m, cards_each, deals_each) for m in managers))
            cards = [c for r in results for c in r.cards]
            await self._marketing(cards)
            won = self.counter.get("won", 0)
            self.say(f"demo: done: {len(cards)} client cards, {self.counter.get('deals', 0)} deals ({won} won, "
                     f"{self.counter.get('lost', 0)} lost), {self.counter.get('invoices', 0)} invoices, "
                     f"{self.counter.get('requests', 0)} requests")
            return dict(self.counter, cards=len(cards))
        finally:
            await admin.close()

    # -- the company --------------------------------------------------------------------------------

    async def _setup(self, admin: Api) -> None:
        rnd = self.rnd
        suffix = secrets.token_hex(3)
        root = await admin.post("/departments", {"name": "Отдел продаж"})
        self.departments: list[list[Manager]] = []
        for i, name in enumerate(DEPARTMENTS):
            dept = await admin.post("/departments", {"name": name, "parent_id": root["id"]})
            head = Manager(person_name(rnd), f"head{i + 1}.{suffix}@demo.mercator.example", secrets.token_urlsafe(18),
                           dept["id"])
            await admin.post("/users", {"name": head.name, "email": head.email, "password": head.password,
                                        "roles": ["head"], "department_id": dept["id"]})
            team = []
            for j in range(4):
                m = Manager(person_name(rnd), f"manager{i * 4 + j + 1}.{suffix}@demo.mercator.example",
                            secrets.token_urlsafe(18), dept["id"])
                m.user_id = (await admin.post("/users", {"name": m.name, "email": m.email, "password": m.password,
                                                         "roles": ["manager"], "department_id": dept["id"]}))["id"]
                team.append(m)
            self.departments.append(team)
        self.marketer = Manager(person_name(rnd), f"marketing.{suffix}@demo.mercator.example",
                                secrets.token_urlsafe(18), root["id"])
        await admin.post("/users", {"name": self.marketer.name, "email": self.marketer.email,
                                    "password": self.marketer.password, "roles": ["marketing"],
                                    "department_id": root["id"]})
        self.regions = await admin.get("/regions")
        self.industries = await admin.get("/industries")
        self.sources = await admin.get("/contact-sources")
        self.reasons = await admin.get("/lost-reasons")
        if not self.reasons:
            for name in ("Дорого", "Выбрали конкурента", "Нет бюджета", "Проект отложен"):
                self.reasons.append(await admin.post("/lost-reasons", {"name": name}))
        self.products = []
        for group, items in PRODUCTS.items():
            g = await admin.post("/product-groups", {"name": group})
            for code, name, price in items:
                p = await admin.post("/products", {"code": f"{code}-{suffix}", "name": name, "group_id": g["id"],
                                                   "unit": "шт", "list_price": f"{price}.00"})
                self.products.append((p["id"], price))

    # -- one manager's two years --------------------------------------------------------------------

    async def _manager(self, m: Manager, n_cards: int, n_deals: int) -> Company:
        rnd = random.Random(self.rnd.random())
        api = Api(self.base, await sign_in(self.base, m.email, m.password), self.counter)
        mine = Company(m)
        try:
            for i in range(n_cards):
                card = await api.post("/companies", self._card(rnd))
                mine.cards.append(card)
                await self._history(api, rnd, card)
            for i in range(n_deals):
                await self._deal(api, rnd, rnd.choice(mine.cards))
        finally:
            await api.close()
        return mine

    def _card(self, rnd: random.Random) -> dict:
        name = f"ООО «{rnd.choice(COMPANY_WORDS)}{rnd.choice(COMPANY_KINDS)}-{rnd.randint(1, 999)}»"
        domain = f"{secrets.token_hex(4)}.example"
        persons = [{"name": person_name(rnd), "position": rnd.choice(("директор", "закупщик", "главный инженер")),
                    "emails": [f"p{k}@{domain}"]} for k in range(rnd.randint(1, 3))]
        return {"name": name, "region_id": rnd.choice(self.regions)["id"] if self.regions else None,
                "industry_id": rnd.choice(self.industries)["id"] if self.industries else None,
                "source_id": rnd.choice(self.sources)["id"] if self.sources else None, "persons": persons}

    async def _history(self, api: Api, rnd: random.Random, card: dict) -> None:
        # Two years of calls and meetings; a quarter of the clients have gone quiet lately.
        quiet = rnd.random() < 0.25
        entries = []
        for _ in range(rnd.randint(2, 8)):
            days_ago = rnd.randint(30 if quiet else 0, 730)
            entries.append({"company_id": card["id"], "kind": rnd.choice(HISTORY_KINDS),
                            "summary": rnd.choice(("обсудили потребность", "отправили каталог",
                                                   "уточнили сроки поставки", "договорились о встрече")),
                            "happened_at": (datetime.now(UTC) - timedelta(days=days_ago,
                                                                          minutes=rnd.randint(0, 600))).isoformat()})
        await api.post("/history/batch", {"entries": entries})

    async def _deal(self, api: Api, rnd: random.Random, card: dict) -> None:
        product, price = rnd.choice(self.products)
        quantity = rnd.randint(1, 4)
        amount = price * quantity
        expected = self.today + timedelta(days=rnd.randint(10, 180))
        deal = await api.post("/deals", {
            "title": f"Поставка для {card['name']}"[:200], "company_id": card["id"], "amount": f"{amount}.00",
            "expected_close_date": expected.isoformat(),
            "lines": [{"product_id": product, "quantity": str(quantity), "unit_price": f"{price}.00"}]})
        self.counter["deals"] = self.counter.get("deals", 0) + 1
        fate = rnd.choices([f for f, _ in FATE], weights=[w for _, w in FATE])[0]
        stop = OPEN_PATH.index(fate) if fate != "won" else len(OPEN_PATH) - 1
        for stage in OPEN_PATH[1:stop + 1]:
            if stage == "tech_proposal":
                await api.post(f"/deals/{deal['id']}/interest", {"rating": rnd.randint(2, 5)})
            await api.post(f"/deals/{deal['id']}/moves", {"stage": stage})
        if fate == "won":
            await self._sale(api, rnd, deal, card, amount, product, quantity)
            return
        if rnd.random() < 0.8:  # most deals that stop are lost; the rest are still being worked
            await api.post(f"/deals/{deal['id']}/lose", {"reason_id": rnd.choice(self.reasons)["id"]})
            self.counter["lost"] = self.counter.get("lost", 0) + 1

    async def _sale(self, api: Api, rnd: random.Random, deal: dict, card: dict, amount: int, product: str,
                    quantity: int) -> None:
        """Price agreed, contract, invoice, payment (late or partial for some), delivery, won."""
        offer = await api.post(f"/deals/{deal['id']}/offers", {"side": "ours", "amount": f"{amount}.00"})
        await api.post(f"/deals/{deal['id']}/offers/{offer['id']}/accept", {})
        await api.post(f"/deals/{deal['id']}/moves", {"stage": "contract"})
        signed = self.today - timedelta(days=rnd.randint(20, 600))
        contract = await api.post("/contracts", {"number": f"Д-{secrets.token_hex(4)}", "deal_id": deal["id"],
                                                 "signed_on": signed.isoformat(), "amount": f"{amount}.00",
                                                 "due_in_days": 14})
        payer = rnd.random()
        # Late payers: unpaid or part-paid, due within days. Billing dates an invoice the day it is issued and
        # refuses a due date before that, so they turn overdue as the days pass, not on the day of the demo.
        due = self.today + timedelta(days=rnd.randint(1, 7) if payer < 0.25 else rnd.randint(10, 30))
        invoice = await api.post("/invoices", {"deal_id": deal["id"], "contract_id": contract["id"],
                                               "due_date": due.isoformat(),
                                               "lines": [{"description": deal["title"][:200], "quantity": "1",
                                                          "unit_price": f"{amount}.00", "vat_rate": "none"}]})
        invoice = await api.post(f"/invoices/{invoice['id']}/issue", {})
        self.counter["invoices"] = self.counter.get("invoices", 0) + 1
        if payer >= 0.1:
            share = "0.5" if payer < 0.25 else "1"
            paid = f"{float(invoice['total']) * float(share):.2f}"
            await api.post("/payments", {"company_id": card["id"], "amount": paid,
                                         "received_on": min(self.today, signed + timedelta(days=10)).isoformat(),
                                         "bank_reference": f"ПП-{secrets.token_hex(5)}",
                                         "allocations": [{"invoice_id": invoice["id"], "amount": paid}]})
        if payer >= 0.25:
            await api.post("/deliveries", {"deal_id": deal["id"], "waybill_number": f"ТН-{rnd.randint(10000, 99999)}",
                                           "shipped_on": min(self.today, signed + timedelta(days=20)).isoformat(),
                                           "carrier": rnd.choice(("ПЭК", "Деловые линии", "свой транспорт")),
                                           "items": [{"product_id": product, "quantity": str(quantity)}]})
        await api.post(f"/deals/{deal['id']}/win", {})
        self.counter["won"] = self.counter.get("won", 0) + 1

    # -- marketing ----------------------------------------------------------------------------------

    async def _marketing(self, cards: list[dict]) -> None:
        api = Api(self.base, await sign_in(self.base, self.marketer.email, self.marketer.password), self.counter)
        rnd = self.rnd
        try:
            plans = [("Выставка «Металлообработка»", "exhibition", 300, "850000"),
                     ("Презентация новой линейки станков", "presentation", 200, "120000"),
                     ("Вебинар: сервис и обслуживание", "webinar", 120, "30000"),
                     ("Весенняя рассылка: скидка 10% на инструмент", "mailing", 90, "15000"),
                     ("Выставка «Иннопром»", "exhibition", 60, "1200000")]
            for name, kind, days_ago, cost in plans:
                starts = self.today - timedelta(days=days_ago)
                event = await api.post("/marketing-events", {
                    "name": name, "kind": kind, "starts_on": starts.isoformat(),
                    "ends_on": (starts + timedelta(days=3 if kind == "exhibition" else 0)).isoformat(),
                    "cost": f"{cost}.00", "offer": "Скидка 10% до конца месяца" if kind == "mailing" else None})
                url = f"/marketing-events/{event['id']}/participants"
                if kind == "mailing" and self.regions:
                    await api.post(url, {"filter": {"region_id": rnd.choice(self.regions)["id"]}})
                else:
                    chosen = rnd.sample(cards, min(len(cards), max(3, len(cards) // 15)))
                    await api.post(url, {"company_ids": [c["id"] for c in chosen]})
                    for c in chosen[: len(chosen) // 2]:
                        await api.call("PATCH", f"{url}/{c['id']}", json={"status": rnd.choice(("attended",
                                                                                                 "responded"))})
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
        print("demo: name an admin (--admin-email/--admin-password or MERCATOR_GATEWAY_ADMIN_EMAIL/_PASSWORD)",
              file=sys.stderr)
        return 2
    if not 0 < args.scale <= 10:
        print("demo: --scale must be above 0 and at most 10", file=sys.stderr)
        return 2
    asyncio.run(Demo(args.gateway, args.admin_email, args.admin_password, args.scale, args.seed).run(args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]) if sys.argv[1:2] != ["demo"] else main())
