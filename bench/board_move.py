"""Statements per board move: what one POST /api/v1/deals/{id}/moves (and one /win) costs the deals database.

    .venv/bin/python bench/board_move.py [--deals 5]

In one run, in process, on a throwaway PostgreSQL database (127.0.0.1:5432, user postgres, trust; dropped at the
end): the deals app with its migrations, a product, a client card fed through the real handler, then per deal a
deal opened with one line and an offer made on it. Only then is a listener put on the engine
(`before_cursor_execute`), and each deal is moved one stage on and then won. It prints, per request, the SELECTs
and all statements (BEGIN and COMMIT are not statements the cursor sees), and the statements of the first move.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import uuid
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import event

os.environ.setdefault("MERCATOR_DEALS_TOKEN_SECRET", secrets.token_hex(32))

from mercator.common.events import catalogue as ev
from mercator.common.testing.api import auth, caller, client
from mercator.common.testing.kit import feed
from mercator.common.testing.plugin import PostgresDatabases
from mercator.deals import consumers
from mercator.deals.app import MIGRATIONS, build_app
from mercator.deals.settings import DealsSettings


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, _conn, _cursor, statement: str, *_args) -> None:
        self.seen.append(" ".join(statement.split()))

    def kinds(self) -> Counter[str]:
        return Counter(s.split(" ", 1)[0].upper() for s in self.seen)


async def measure(n: int) -> None:
    dbs = PostgresDatabases()
    url = await dbs.migrated("bench_deals", MIGRATIONS)
    try:
        settings = DealsSettings(
            database_url=url, relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9"
        )
        app = build_app(settings)
        head, manager = caller("Head", roles=("head",)), caller("Manager")
        async with client(app, auth(settings, head)) as head_api, client(app, auth(settings, manager)) as api:
            product = await head_api.post("/api/v1/products", json={"code": "P-1", "name": "P", "list_price": "100"})
            company_id = uuid.uuid4()
            card = ev.CompanyCreated(
                company_id=company_id,
                name="Client",
                status="prospect",
                owner_id=uuid.uuid4(),
                created_at=datetime.now(UTC),
            )
            await feed(app, consumers.CONTACTS, card, subject=company_id)
            deals = []
            for i in range(n):
                line = {"product_id": product.json()["id"], "quantity": "2", "unit_price": "100"}
                opened = await api.post(
                    "/api/v1/deals", json={"title": f"D{i}", "company_id": str(company_id), "lines": [line]}
                )
                assert opened.status_code == 201, opened.text
                offer = await api.post(
                    f"/api/v1/deals/{opened.json()['id']}/offers", json={"side": "ours", "amount": "150"}
                )
                assert offer.status_code == 201, offer.text
                deals.append(opened.json()["id"])

            engine = app.state.runtime.engine.sync_engine
            per: dict[str, list[Counter[str]]] = {"move": [], "win": []}
            first_move: list[str] = []
            for deal_id in deals:
                for what, path, body in (("move", "moves", {"stage": "needs"}), ("win", "win", {})):
                    seen = Statements()
                    event.listen(engine, "before_cursor_execute", seen)
                    try:
                        r = await api.post(f"/api/v1/deals/{deal_id}/{path}", json=body)
                    finally:
                        event.remove(engine, "before_cursor_execute", seen)
                    assert r.status_code == 200, r.text
                    per[what].append(seen.kinds())
                    if what == "move" and not first_move:
                        first_move = seen.seen
        await app.state.runtime.engine.dispose()
    finally:
        await dbs.drop_all()

    print(f"PostgreSQL, {n} deals, each with one line and one offer")
    for what, counts in per.items():
        selects = sum(c["SELECT"] for c in counts) / len(counts)
        total = sum(sum(c.values()) for c in counts) / len(counts)
        kinds = dict(sum(counts, Counter()))
        print(f"per {what}: {selects:g} SELECT, {total:g} statements in all ({kinds} over {len(counts)})")
    print("the first move's statements:")
    for s in first_move:
        print("  ", s[:150])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=5)
    asyncio.run(measure(parser.parse_args().deals))


if __name__ == "__main__":
    main()
