"""Importing client lists, against a real PostgreSQL: files made here (a 10,000-row client list with bad rows,
duplicates and Cyrillic, in CSV and XLSX), a dry run that reports every row it would reject and why, the
duplicate policies, saved mappings, and an import interrupted halfway and resumed without doubles."""

import asyncio
import csv
import io
import random
import uuid
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from mercator.common.bus import tables
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.contacts import domain
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.domain import keys
from mercator.contacts.imports import run, sheets
from mercator.contacts.settings import ContactsSettings
from mercator.contacts.tables import Company, ImportJob, ImportRow, Person

SYLLABLES = "ра мо ки ве ст ло ну де па ри ко жа фе ты бу ше гр ол ин зо ха цу че мя".split()
COLUMNS = {
    "Название": "name",
    "ИНН": "tax_id",
    "Телефон": "phones",
    "Эл. почта": "emails",
    "Регион": "region",
    "Контакт": "person_name",
    "Должность": "person_position",
}


def inn(n: int) -> str:
    digits = f"{770000000 + n:09d}"
    return digits + keys._inn_check_digit(digits, keys._INN10_WEIGHTS)


def client_list(rows: int, seed: int = 7) -> tuple[list[list[str]], dict]:
    """A client list as people keep one: Cyrillic names, a few bad rows and a few repeats, with what the
    import must make of it."""
    rnd = random.Random(seed)
    out, expect = [list(COLUMNS)], {"bad": {}, "repeats": set()}
    for i in range(rows):
        word = lambda: "".join(rnd.choice(SYLLABLES) for _ in range(4)).capitalize()  # noqa: E731
        row = [
            f"ООО «{word()} {word()}»",
            inn(i),
            f"+7 495 {i // 10000:03d}-{i % 10000 // 100:02d}-{i % 100:02d}",
            f"office{i}@client{i}.ru",
            "Москва" if i % 2 else "Санкт-Петербург",
            f"Иван {word()}",
            "директор",
        ]
        number = i + 2
        if i % 500 == 3:
            row[1] = row[1][:-1] + str((int(row[1][-1]) + 1) % 10)  # a typo in the INN
            expect["bad"][number] = "tax_id"
        elif i % 500 == 7:
            row[0] = ""
            expect["bad"][number] = "name"
        elif i % 500 == 11:
            row[3] = "не-почта"
            expect["bad"][number] = "emails"
        elif i % 500 == 13:
            row[4] = "Атлантида"
            expect["bad"][number] = "region"
        elif i % 500 == 17 and i > 17:
            row[1] = out[number - 2][1]  # the same client as the row above, written again
            row[2], row[3] = out[number - 2][2], out[number - 2][3]
            expect["repeats"].add(number)
        out.append(row)
    return out, expect


def as_csv(rows: list[list[str]], encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def as_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def regions(app):
    async with client(app, auth(app.state.runtime.settings, caller("Админ", roles=("admin",)))) as admin:
        for name in ("Москва", "Санкт-Петербург"):
            r = await admin.post("/api/v1/regions", json={"name": name})
            assert r.status_code == 201 or "exists already" in r.text, r.text


async def upload(api, data: bytes, part: int = 1_000_000, **job) -> dict:
    opened = await api.post("/api/v1/imports", json={"kind": "companies", "columns": COLUMNS, **job})
    assert opened.status_code == 201, opened.text
    job_id = opened.json()["id"]
    for start in range(0, len(data), part):
        r = await api.post(f"/api/v1/imports/{job_id}/file", content=data[start : start + part])
        assert r.status_code == 200, r.text
    started = await api.post(f"/api/v1/imports/{job_id}/start")
    assert started.status_code == 200, started.text
    return started.json()


async def every_row(api, job_id: str, outcome: str | None = None) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 200, **({"outcome": outcome} if outcome else {}), **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"/api/v1/imports/{job_id}/rows", params=params)).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = page["next_cursor"]


async def count(app, what) -> int:
    async with app.state.runtime.sessionmaker() as s:
        return await s.scalar(select(func.count()).select_from(what))


# --- reading files, without a database ----------------------------------------------------------------------


def test_csv_in_windows_1251_with_semicolons_and_xlsx_read_alike():
    rows, _ = client_list(5)
    for data in (as_csv(rows), as_csv(rows, "cp1251", ";"), as_xlsx(rows)):
        header, cells = sheets.read_rows(data)
        assert header == list(COLUMNS)
        first = sheets.mapped(2, header, next(cells), COLUMNS)
        assert first.values["name"] == rows[1][0] and first.values["phones"] == [rows[1][2]]
        assert first.source["tax_id"] == "ИНН"


def test_the_delimiter_is_the_one_the_header_line_has_most_of_outside_quotes():
    assert sheets.delimiter('"Name; full",ИНН,Телефон\nx;y;z;w;v\n') == ","
    assert sheets.delimiter("Название\tИНН\r\n1,2,3,4\n") == "\t"
    assert sheets.delimiter("Название;ИНН;Телефон") == ";"
    assert sheets.delimiter("Название") == ","


def test_a_mapping_must_fill_a_name_and_name_real_fields():
    with pytest.raises(domain.DomainError) as bad:
        sheets.check_mapping("companies", {"Название": "title"})
    assert bad.value.field == "columns.Название"
    with pytest.raises(domain.DomainError):
        sheets.check_mapping("persons", {"ФИО": "name"})  # which card is the person at?
    with pytest.raises(domain.DomainError):
        sheets.check_mapping("companies", {"A": "name", "B": "name"})


# --- through the API --------------------------------------------------------------------------------------------

pg = pytest.mark.postgres


@pg
@pytest.mark.slow
@pytest.mark.timeout(900)  # a minute on an idle machine; far more when it is shared
async def test_ten_thousand_rows_dry_run_then_for_real(app, api):
    await regions(app)
    already = await api.post("/api/v1/companies", json={"name": "ООО «Уже у нас»", "tax_id": inn(42)})
    assert already.status_code == 201
    rows, expect = client_list(10_000)
    job = await upload(api, as_csv(rows), dry_run=True)  # ten parts of up to 1 MB
    assert job["total_rows"] == 10_000 and job["status"] == "queued"
    await run.run_job(app.state.runtime, uuid.UUID(job["id"]))
    dry = (await api.get(f"/api/v1/imports/{job['id']}")).json()
    assert dry["status"] == "done" and dry["done_rows"] == 10_000
    rejected = await every_row(api, job["id"], "rejected")
    assert {r["row"]: r["errors"][0]["field"] for r in rejected} == expect["bad"]
    assert {r["errors"][0]["column"] for r in rejected} == {"ИНН", "Название", "Эл. почта", "Регион"}
    assert "Атлантида" in next(r for r in rejected if r["errors"][0]["field"] == "region")["errors"][0]["message"]
    skipped = await every_row(api, job["id"], "skipped")
    assert {r["row"] for r in skipped} == expect["repeats"] | {44}  # row 44 is the card already there
    assert dry["counts"] == {
        "created": 10_000 - len(expect["bad"]) - len(skipped),
        "rejected": len(expect["bad"]),
        "skipped": len(skipped),
    }
    assert await count(app, Company) == 1  # a dry run writes nothing

    real = await api.post(f"/api/v1/imports/{job['id']}/run", json={})
    assert real.status_code == 201
    await run.run_job(app.state.runtime, uuid.UUID(real.json()["id"]))
    done = (await api.get(f"/api/v1/imports/{real.json()['id']}")).json()
    assert done["counts"] == dry["counts"]
    assert await count(app, Company) == 1 + dry["counts"]["created"]
    async with app.state.runtime.sessionmaker() as s:
        created = await s.scalar(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.type == "CompanyCreated")
        )
        persons = await s.scalar(select(func.count()).select_from(Person))
    assert created == 1 + dry["counts"]["created"] and persons == dry["counts"]["created"]
    found = (await api.get("/api/v1/companies", params={"q": rows[5][0][5:12]})).json()["items"]
    assert rows[5][0] in [c["name"] for c in found]


@pg
async def test_xlsx_with_a_saved_mapping_and_merge_fills_the_card_already_there(app, api):
    await regions(app)
    there = (await api.post("/api/v1/companies", json={"name": "ООО «Ромашка»", "tax_id": inn(1)})).json()
    saved = await api.post("/api/v1/import-mappings", json={"kind": "companies", "name": "из 1С", "columns": COLUMNS})
    assert saved.status_code == 201
    again = await api.post("/api/v1/import-mappings", json={"kind": "companies", "name": "из 1С", "columns": COLUMNS})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"
    assert [m["name"] for m in (await api.get("/api/v1/import-mappings")).json()] == ["из 1С"]
    rows = [
        list(COLUMNS),
        ["Ромашка", inn(1), "+7 495 111-22-33", "info@romashka.ru", "Москва", "Ольга Ким", "бухгалтер"],
        ["ООО «Лютик»", inn(2), "", "", "", "", ""],
    ]
    opened = (
        await api.post(
            "/api/v1/imports", json={"kind": "companies", "mapping_id": saved.json()["id"], "on_duplicate": "merge"}
        )
    ).json()
    sent = await api.post(
        f"/api/v1/imports/{opened['id']}/file",
        content=as_xlsx(rows),
        headers={"content-type": "application/octet-stream"},
    )
    assert sent.status_code == 200, sent.text
    await api.post(f"/api/v1/imports/{opened['id']}/start")
    await run.run_job(app.state.runtime, uuid.UUID(opened["id"]))
    merged_job = (await api.get(f"/api/v1/imports/{opened['id']}")).json()
    assert merged_job["counts"] == {"merged": 1, "created": 1}
    merged = (await api.get(f"/api/v1/companies/{there['id']}")).json()
    assert merged["phones"] == ["+74951112233"] and merged["emails"] == ["info@romashka.ru"]
    assert merged["region"]["name"] == "Москва" and merged["name"] == "ООО «Ромашка»"
    persons = (await api.get(f"/api/v1/companies/{there['id']}/persons")).json()
    assert [p["name"] for p in persons] == ["Ольга Ким"]


@pg
async def test_persons_and_history_find_their_card_and_bad_requests_change_nothing(app, api):
    card = (await api.post("/api/v1/companies", json={"name": "ООО «Василёк»", "tax_id": inn(3)})).json()
    people = as_csv(
        [
            ["ИНН клиента", "ФИО", "Телефон"],
            [inn(3), "Пётр Сидоров", "+7 900 000-00-01"],
            [inn(4), "Никто Никтоевич", ""],
            [inn(3), "Пётр Сидоров", ""],
        ]
    )
    opened = (
        await api.post(
            "/api/v1/imports",
            json={"kind": "persons", "columns": {"ИНН клиента": "company_tax_id", "ФИО": "name", "Телефон": "phones"}},
        )
    ).json()
    await api.post(f"/api/v1/imports/{opened['id']}/file", content=people)
    await api.post(f"/api/v1/imports/{opened['id']}/start")
    await run.run_job(app.state.runtime, uuid.UUID(opened["id"]))
    assert (await api.get(f"/api/v1/imports/{opened['id']}")).json()["counts"] == {
        "created": 1,
        "rejected": 1,
        "skipped": 1,
    }
    history = as_csv(
        [
            ["Клиент", "Вид", "Когда", "Итог"],
            ["Василёк", "Звонок", "01.03.2026 10:30", "договорились"],
            ["Василёк", "Телепатия", "01.03.2026", "?"],
        ]
    )
    opened = (
        await api.post(
            "/api/v1/imports",
            json={
                "kind": "history",
                "columns": {"Клиент": "company_name", "Вид": "kind", "Когда": "happened_at", "Итог": "summary"},
            },
        )
    ).json()
    await api.post(f"/api/v1/imports/{opened['id']}/file", content=history)
    await api.post(f"/api/v1/imports/{opened['id']}/start")
    await run.run_job(app.state.runtime, uuid.UUID(opened["id"]))
    rows = await every_row(api, opened["id"])
    assert [(r["row"], r["outcome"]) for r in rows] == [(2, "created"), (3, "rejected")]
    assert rows[1]["errors"][0]["column"] == "Вид"
    entries = (await api.get(f"/api/v1/companies/{card['id']}/history")).json()["items"]
    assert [(e["kind"], e["summary"], e["happened_at"][:16]) for e in entries] == [
        ("call", "договорились", "2026-03-01T07:30")
    ]

    jobs = await count(app, ImportJob)
    bad_mapping = await api.post("/api/v1/imports", json={"kind": "companies", "columns": {"A": "nonsense"}})
    assert bad_mapping.status_code == 422 and bad_mapping.json()["errors"][0]["field"] == "columns.A"
    no_columns = await api.post("/api/v1/imports", json={"kind": "companies"})
    assert no_columns.status_code == 422 and no_columns.json()["errors"][0]["field"] == "columns"
    wrong_file = (await api.post("/api/v1/imports", json={"kind": "companies", "columns": COLUMNS})).json()
    await api.post(f"/api/v1/imports/{wrong_file['id']}/file", content=as_csv([["Имя"], ["x"]]))
    refused = await api.post(f"/api/v1/imports/{wrong_file['id']}/start")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file"
    assert await count(app, ImportJob) == jobs + 1  # only the job still waiting for a right file
    someone_else = caller("Борис Орлов")
    async with client(app, auth(app.state.runtime.settings, someone_else)) as boris:
        assert (await boris.get(f"/api/v1/imports/{wrong_file['id']}")).status_code == 404


@pg
async def test_a_queued_file_past_todays_limits_fails_its_job_with_the_reason_and_writes_nothing(app, api, settings):
    await regions(app)
    rows, _ = client_list(20, seed=13)
    job = await upload(api, as_csv(rows))
    settings.import_max_rows = 10  # lowered after the file was taken
    await run.run_job(app.state.runtime, uuid.UUID(job["id"]))
    failed = (await api.get(f"/api/v1/imports/{job['id']}")).json()
    assert failed["status"] == "failed" and "more than 10 rows" in failed["error"]
    assert failed["done_rows"] == 0 and await count(app, Company) == 0


@asynccontextmanager
async def own_app(postgres, name: str):
    """contacts on a database of its own, with real commits: for a runner working beside the API."""
    url = await postgres.migrated(name, MIGRATIONS)
    settings = ContactsSettings(
        database_url=url, relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9"
    )
    app = build_app(settings, Runtime(settings))
    try:
        yield app
    finally:
        await app.state.runtime.engine.dispose()


@pg
async def test_an_import_interrupted_halfway_resumes_without_creating_anything_twice(postgres, manager):
    """The run is cancelled mid-way (as a stop would), then resumed; every row ends with one outcome and one
    card."""
    async with (
        own_app(postgres, "contacts_import") as app,
        client(app, auth(app.state.runtime.settings, manager)) as api,
    ):
        await regions(app)
        rows, expect = client_list(1_200, seed=11)
        job = await upload(api, as_csv(rows))
        job_id = uuid.UUID(job["id"])
        task = asyncio.create_task(run.run_job(app.state.runtime, job_id, batch=50))
        while (await api.get(f"/api/v1/imports/{job_id}")).json()["done_rows"] < 600:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        halfway = (await api.get(f"/api/v1/imports/{job_id}")).json()
        assert halfway["status"] == "running" and 600 <= halfway["done_rows"] < 1_200
        cards_then = await count(app, Company)
        assert cards_then == halfway["counts"]["created"]

        await run.run_job(app.state.runtime, job_id, batch=50)  # what the runner does at start
        done = (await api.get(f"/api/v1/imports/{job_id}")).json()
        assert done["status"] == "done" and done["done_rows"] == 1_200
        assert await count(app, ImportRow) == 1_200
        assert done["counts"]["rejected"] == len(expect["bad"])
        assert (
            await count(app, Company)
            == done["counts"]["created"]
            == 1_200 - len(expect["bad"]) - len(expect["repeats"])
        )
        async with app.state.runtime.sessionmaker() as s:
            doubles = (await s.execute(select(Company.tax_id).group_by(Company.tax_id).having(func.count() > 1))).all()
        assert doubles == []


@pg
async def test_with_two_contacts_processes_only_one_runs_the_imports(postgres, manager, monkeypatch):
    """Two processes on one database (scaled out): every job is run by one runner, once."""
    runs: list[tuple[int, uuid.UUID]] = []  # (which process, which job)

    async def run_job(runtime, job_id, **_):
        runs.append((id(runtime), job_id))
        await asyncio.sleep(0.3)  # long enough for a second runner to find the job still queued
        async with runtime.sessionmaker() as s:
            job = await s.get(ImportJob, job_id)
            job.status = "done"
            await s.commit()

    monkeypatch.setattr(run, "run_job", run_job)
    async with own_app(postgres, "contacts_two_runners") as first:
        second_settings = first.state.runtime.settings.model_copy()
        second = build_app(second_settings, Runtime(second_settings))
        try:
            async with client(first, auth(first.state.runtime.settings, manager)) as api:
                await regions(first)
                rows, _ = client_list(20, seed=5)
                jobs = [uuid.UUID((await upload(api, as_csv(rows)))["id"]) for _ in range(3)]
            runners = [asyncio.create_task(run.runner(app.state.runtime, poll_seconds=0.05)) for app in (first, second)]
            for _ in range(200):
                if len({job for _, job in runs}) == 3:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # time for a second run of any of them, if one were coming
            for task in runners:
                task.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
        finally:
            await second.state.runtime.engine.dispose()
    assert sorted(job for _, job in runs) == sorted(jobs)  # each job once
    assert len({process for process, _ in runs}) == 1  # by the runner holding the lock


@pg
async def test_the_command_line_sends_the_file_follows_the_job_and_lists_rejected_rows(postgres, manager, tmp_path):
    async with (
        own_app(postgres, "contacts_cli") as app,
        client(app, auth(app.state.runtime.settings, manager)) as api,
    ):
        await command_line(app, api, tmp_path)


async def command_line(app, api, tmp_path):
    from rich.console import Console

    from mercator.contacts import cli

    await regions(app)
    rows, expect = client_list(600, seed=3)
    path = tmp_path / "клиенты.xlsx"
    path.write_bytes(as_xlsx(rows))
    args = cli.parser().parse_args(
        ["import", str(path), "--save-mapping", "таблица", *(f"--map={c}={f}" for c, f in COLUMNS.items())]
    )
    out = io.StringIO()

    async def the_runner():  # what the contacts process does in the background
        while True:
            async with app.state.runtime.sessionmaker() as s:
                job_id = await s.scalar(select(ImportJob.id).where(ImportJob.status == "queued"))
            if job_id:
                return await run.run_job(app.state.runtime, job_id, batch=100)
            await asyncio.sleep(0.05)

    runner = asyncio.create_task(the_runner())
    code = await cli.run(args, api, Console(file=out, width=120))
    await runner
    text = out.getvalue()
    assert code == 0, text
    assert f"rejected {len(expect['bad'])}" in text and "Эл. почта" in text and "Атлантида" in text
    assert await count(app, Company) == 600 - len(expect["bad"]) - len(expect["repeats"])
    assert [m["name"] for m in (await api.get("/api/v1/import-mappings")).json()] == ["таблица"]

    wrong = cli.parser().parse_args(["import", str(path), "--mapping", "нет такой"])
    assert await cli.run(wrong, api, Console(file=io.StringIO())) == 2


@pg
async def test_open_deals_go_through_the_deals_api_once_even_when_a_row_is_sent_again(postgres, manager):
    """contacts and deals in-process, each on its own database, talking over HTTP as in production. The
    outcomes of a finished deals import are then lost (as with a commit that never happened) and the job run
    again: deals answers each row's Idempotency-Key with the deal it opened the first time."""
    from mercator.common.testing.api import Switch
    from mercator.deals.app import MIGRATIONS as DEALS
    from mercator.deals.app import build_app as build_deals
    from mercator.deals.settings import DealsSettings
    from mercator.deals.tables import Deal

    async with own_app(postgres, "contacts_deals_import") as contacts:
        off = dict(relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9")
        to_contacts = httpx.AsyncClient(transport=Switch(contacts), base_url="http://contacts")
        deals_url = await postgres.migrated("deals_import", DEALS)
        deals = build_deals(s := DealsSettings(database_url=deals_url, **off), Runtime(s), contacts_http=to_contacts)
        to_deals = Switch(deals)
        contacts.state.deals_http = httpx.AsyncClient(transport=to_deals, base_url="http://deals")
        try:
            async with client(contacts, auth(contacts.state.runtime.settings, manager)) as api:
                card = (await api.post("/api/v1/companies", json={"name": "ООО «Сделка»", "tax_id": inn(9)})).json()
                sheet = as_csv(
                    [
                        ["ИНН", "Сделка", "Сумма", "Закрытие"],
                        [inn(9), "Поставка стоек", "1 250 000,50", "31.12.2026"],
                        [inn(8), "Чужая", "10", ""],
                        [inn(9), "Кривая сумма", "много", ""],
                        [inn(9), "Внедрение", "", "2026-06-30"],
                    ]
                )
                opened = (
                    await api.post(
                        "/api/v1/imports",
                        json={
                            "kind": "deals",
                            "columns": {
                                "ИНН": "company_tax_id",
                                "Сделка": "title",
                                "Сумма": "amount",
                                "Закрытие": "expected_close_date",
                            },
                        },
                    )
                ).json()
                await api.post(f"/api/v1/imports/{opened['id']}/file", content=sheet)
                assert (await api.post(f"/api/v1/imports/{opened['id']}/start")).status_code == 200
                job_id = uuid.UUID(opened["id"])

                to_deals.down = True  # deals unreachable: the job stops, resumable, and rejects nothing
                await run.run_job(contacts.state.runtime, job_id, deals=contacts.state.deals_http)
                stopped = (await api.get(f"/api/v1/imports/{job_id}")).json()
                assert stopped["status"] == "failed" and "deals cannot be reached" in stopped["error"]
                to_deals.down = False
                assert (await api.post(f"/api/v1/imports/{job_id}/resume")).json()["status"] == "queued"
                await run.run_job(contacts.state.runtime, job_id, deals=contacts.state.deals_http)
                rows = await every_row(api, str(job_id))
                assert [(r["row"], r["outcome"]) for r in rows] == [
                    (2, "created"),
                    (3, "rejected"),
                    (4, "rejected"),
                    (5, "created"),
                ]
                assert rows[2]["errors"][0]["column"] == "Сумма"
                async with deals.state.runtime.sessionmaker() as s:
                    opened_deals = (await s.execute(select(Deal).order_by(Deal.title))).scalars().all()
                assert [(d.title, d.amount, str(d.expected_close_date), str(d.company_id)) for d in opened_deals] == [
                    ("Внедрение", None, "2026-06-30", card["id"]),
                    ("Поставка стоек", Decimal("1250000.50"), "2026-12-31", card["id"]),
                ]
                first = {r["row"]: r["record_id"] for r in rows}

                async with contacts.state.runtime.uow() as uow:  # the outcomes lost, the job open again
                    await uow.session.execute(ImportRow.__table__.delete().where(ImportRow.job_id == job_id))
                    job = await uow.session.get(ImportJob, job_id)
                    job.status, job.done_rows, job.counts = "running", 0, {}
                    await uow.commit()
                await run.run_job(contacts.state.runtime, job_id, deals=contacts.state.deals_http)
                again = await every_row(api, str(job_id))
                assert {r["row"]: r["record_id"] for r in again} == first
                async with deals.state.runtime.sessionmaker() as s:
                    assert await s.scalar(select(func.count()).select_from(Deal)) == 2
        finally:
            await deals.state.runtime.engine.dispose()
