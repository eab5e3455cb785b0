"""An import's file costs only its own bounded share of contacts.

Files were read on contacts' event loop with no bound but the request body's: a 30 KB XLSX of 200,000 rows
took 48 s of CPU, a 196 KB XLSX holding one 200 MB shared string took 411 MB of memory, and a CSV of a few
hundred bytes kept csv.Sniffer's regular expressions busy for seconds; every other request waited meanwhile,
and the file's parts were joined whole again at each part. Now the file's size, its rows and what an XLSX
unpacks to are capped, and it is read in a child process under limits of CPU time and memory: a file over
any of them is refused with 422 naming what was too large, nothing is written, and contacts answers others
while it is read."""

import asyncio
import io
import multiprocessing
import time
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path

from openpyxl import Workbook

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.contacts.app import build_app
from mercator.contacts.settings import ContactsSettings

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = {"Name": "name", "Tax id": "tax_id"}
# A hang guard, not a speed limit: the bugs held contacts for tens of seconds.
HANG = 60
PROMPTLY = 3.0  # what another request may take while a hostile file is read (on a busy shared machine)


@asynccontextmanager
async def contacts(tmp_path, **limits):
    """contacts on its own SQLite file (one connection, as `make run` has it), with its app started."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'contacts.db'}"
    await asyncio.to_thread(upgrade, url, ROOT / "services/contacts/migrations")
    settings = ContactsSettings(
        database_url=url, relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9", **limits
    )
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    async with app.router.lifespan_context(app), client(app, auth(settings, caller("Анна Петрова"))) as api:
        yield api


async def send(api, data: bytes, part: int = 1_000_000) -> tuple[str, list]:
    """A job with its file sent in parts; the answers to the parts."""
    opened = await api.post("/api/v1/imports", json={"kind": "companies", "columns": COLUMNS})
    assert opened.status_code == 201, opened.text
    job_id = opened.json()["id"]
    answers = [
        await api.post(
            f"/api/v1/imports/{job_id}/file",
            content=data[start : start + part],
            headers={"content-type": "application/octet-stream"},
        )
        for start in range(0, len(data), part)
    ]
    return job_id, answers


async def refused(api, data: bytes) -> str:
    """The file is refused at the start with a problem naming why; the job still waits for a right file."""
    job_id, parts = await send(api, data)
    assert all(p.status_code == 200 for p in parts), parts[-1].text
    r = await asyncio.wait_for(api.post(f"/api/v1/imports/{job_id}/start"), HANG)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "file"
    await nothing_written(api, job_id)
    return r.json()["detail"]


async def nothing_written(api, job_id: str) -> None:
    job = (await api.get(f"/api/v1/imports/{job_id}")).json()
    assert job["status"] == "uploading" and job["total_rows"] is None
    assert (await api.get(f"/api/v1/imports/{job_id}/rows")).json()["items"] == []
    assert (await api.get("/api/v1/companies")).json()["items"] == []


def workbook(rows: int) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for i in range(rows):
        sheet.append([f"Client {i}", ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def repacked(data: bytes, name: str, chunks, content_type: str | None = None) -> bytes:
    """An XLSX with one member written anew, deflated, from `chunks` (never whole in memory); with
    `content_type`, declared in [Content_Types].xml, so that a reader reads it."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            if member.filename == "[Content_Types].xml" and content_type:
                declared = f'<Override PartName="/{name}" ContentType="{content_type}"/></Types>'.encode()
                target.writestr(member, source.read(member).replace(b"</Types>", declared))
            elif member.filename != name:
                target.writestr(member, source.read(member))
        with target.open(name, "w", force_zip64=True) as written:
            for chunk in chunks:
                written.write(chunk)
    return out.getvalue()


def one_huge_string(megabytes: int) -> bytes:
    """The finding's zip bomb: a shared string of `megabytes` MB, packed to about a thousandth of it."""

    def chunks():
        yield (
            b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'count="1" uniqueCount="1"><si><t>'
        )
        for _ in range(megabytes):
            yield b"A" * 2**20
        yield b"</t></si></sst>"

    return repacked(
        workbook(1),
        "xl/sharedStrings.xml",
        chunks(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml",
    )


def many_rows(rows: int, cells: int = 1) -> bytes:
    """A sheet of `rows` short rows: a few dozen KB packed, seconds of CPU to read."""

    def chunks():
        yield (
            b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c>'
            b'<c r="B1" t="inlineStr"><is><t>Tax id</t></is></c></row>'
        )
        row = ("<row>" + "<c><v>1</v></c>" * cells + "</row>").encode()  # unnumbered: each follows the last
        for start in range(0, rows, 10_000):
            yield row * min(10_000, rows - start)
        yield b"</sheetData></worksheet>"

    return repacked(workbook(0), "xl/worksheets/sheet1.xml", chunks())


def sniffer_trap(spaces: int = 250) -> bytes:
    """csv.Sniffer's doubled-quote expression backtracks over a line of spaces and quotes cubically."""
    return ("Name,Tax id\n" + 'a,"b",c\n' + ' "' * spaces + "x\n").encode()


def test_the_defaults_take_a_hundred_thousand_rows_and_no_more_than_a_share():
    defaults = ContactsSettings()
    assert defaults.import_max_rows == 100_000  # the import is built for a client list this long
    assert 10 * 2**20 <= defaults.import_max_file_bytes <= 128 * 2**20
    assert defaults.import_max_unpacked_bytes <= 512 * 2**20
    assert 20 <= defaults.import_max_compression_ratio <= 200
    assert 30 <= defaults.import_cpu_seconds <= 300
    assert defaults.import_memory_bytes <= 2 * 2**30
    assert 1 <= defaults.import_readers <= 4


async def test_the_findings_xlsx_files_are_refused_under_the_defaults_before_they_are_unpacked(tmp_path):
    bomb, thirty_kb = one_huge_string(200), many_rows(200_000)
    assert len(bomb) < 1_000_000 and len(thirty_kb) < 100_000
    async with contacts(tmp_path) as api:
        began = time.monotonic()
        refusal = await refused(api, bomb)
        assert "xl/sharedStrings.xml" in refusal and "unpacks to 209,715," in refusal
        rows = await refused(api, thirty_kb)
        assert "xl/worksheets/sheet1.xml" in rows and "times its packed size" in rows
        assert time.monotonic() - began < 20, "refused from the zip's directory, not by reading"


async def test_a_file_larger_than_an_import_takes_is_refused_part_by_part(tmp_path):
    async with contacts(tmp_path, import_max_file_bytes=100_000) as api:
        job_id, parts = await send(api, b"Name,Tax id\n" + b"Client,\n" * 20_000, part=60_000)
        assert [p.status_code for p in parts] == [200, 422, 422]
        assert parts[1].headers["content-type"] == "application/problem+json"
        assert parts[1].json()["errors"][0]["field"] == "file" and "up to 100,000" in parts[1].json()["detail"]
        job = (await api.get(f"/api/v1/imports/{job_id}")).json()
        assert job["uploaded_bytes"] == 60_000, "the refused parts were not kept"


async def test_a_file_of_more_rows_than_an_import_takes_is_refused(tmp_path):
    async with contacts(tmp_path, import_max_rows=1_000) as api:
        assert "more than 1,000 rows" in await refused(api, workbook(1_500))
        assert "more than 1,000 rows" in await refused(api, b"Name,Tax id\n" + b"Client,\n" * 1_500)
        job_id, _ = await send(api, workbook(1_000))
        fits = await api.post(f"/api/v1/imports/{job_id}/start")
        assert fits.status_code == 200 and fits.json()["total_rows"] == 1_000


async def test_a_file_that_unpacks_to_more_than_an_import_takes_is_refused(tmp_path):
    async with contacts(tmp_path, import_max_unpacked_bytes=5 * 2**20) as api:
        assert "unpacks to" in await refused(api, one_huge_string(8))


async def test_reading_past_its_cpu_share_stops_that_file_only_and_others_are_answered_meanwhile(tmp_path):
    """Rows, packing and size all allowed: the reader is stopped by its CPU limit. Meanwhile a list of
    client cards answers at once; after it a right file is read by a fresh reader."""
    async with contacts(
        tmp_path, import_max_rows=10**7, import_max_compression_ratio=10**6, import_cpu_seconds=1
    ) as api:
        job_id, _ = await send(api, many_rows(300_000, cells=2))
        started = asyncio.create_task(api.post(f"/api/v1/imports/{job_id}/start"))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        listed = await asyncio.wait_for(api.get("/api/v1/companies"), HANG)
        assert listed.status_code == 200
        assert time.monotonic() - began < PROMPTLY and not started.done(), "answered while the file was read"
        r = await asyncio.wait_for(started, HANG)
        assert r.status_code == 422, r.text
        assert "more than 1 s of CPU" in r.json()["detail"]
        await nothing_written(api, job_id)

        job_id, _ = await send(api, workbook(3))
        assert (await api.post(f"/api/v1/imports/{job_id}/start")).json()["total_rows"] == 3


async def test_reading_past_its_memory_share_is_refused(tmp_path):
    async with contacts(
        tmp_path, import_max_compression_ratio=10**6, import_max_unpacked_bytes=2**30, import_memory_bytes=400 * 2**20
    ) as api:
        assert "memory" in await refused(api, one_huge_string(300))


async def test_a_csv_made_to_trap_the_dialect_sniffer_is_read_at_once_and_others_are_answered(tmp_path):
    async with contacts(tmp_path) as api:
        job_id, _ = await send(api, sniffer_trap())
        started = asyncio.create_task(api.post(f"/api/v1/imports/{job_id}/start"))
        await asyncio.sleep(0)
        began = time.monotonic()
        assert (await asyncio.wait_for(api.get("/api/v1/companies"), HANG)).status_code == 200
        assert time.monotonic() - began < PROMPTLY
        r = await asyncio.wait_for(started, HANG)
        assert r.status_code == 200, r.text
        assert r.json()["total_rows"] == 2 and time.monotonic() - began < 5


async def test_a_file_still_being_read_when_contacts_stops_is_read_no_further(tmp_path):
    # Other tests of this process may have left workers of their own (a template render pool): only new ones count.
    before = set(multiprocessing.active_children())

    def readers() -> set:
        return set(multiprocessing.active_children()) - before

    async with contacts(tmp_path, import_max_rows=10**7, import_max_compression_ratio=10**6) as api:
        job_id, _ = await send(api, many_rows(1_000_000, cells=2))
        started = asyncio.create_task(api.post(f"/api/v1/imports/{job_id}/start"))
        for _ in range(HANG * 20):
            if started.done() or readers():
                break
            await asyncio.sleep(0.05)
        assert not started.done() and readers(), "read by a process of its own"
    r = await asyncio.wait_for(started, HANG)
    assert r.status_code == 503 and r.headers["retry-after"]
    assert readers() == set(), "no reader outlives its service"
