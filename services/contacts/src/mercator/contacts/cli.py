"""`mercator import FILE ...`: a client list into Mercator through the public API, with a progress bar.

    mercator import clients.xlsx --kind companies --map Название=name --map ИНН=tax_id --dry-run
    mercator import clients.xlsx --kind companies --mapping "из 1С" --on-duplicate merge
    mercator import --resume 6f1c...        # go on with an interrupted import

The job runs in the contacts service (see `mercator.contacts.imports`): this command sends the file in parts,
starts the job and follows it. Ctrl-C stops following, not the import; `--resume ID` follows it again (and
queues it again if it had failed). The token is a bearer token of the person importing (`MERCATOR_TOKEN`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

PART = 900_000  # under the services' 1 MB body limit


class Failed(Exception):
    pass


def _check(answer: httpx.Response, what: str) -> dict:
    if answer.status_code >= 400:
        try:
            body = answer.json()
            errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors", []))
            detail = errors or body.get("detail") or body.get("title")
        except ValueError:
            detail = answer.text[:300]
        raise Failed(f"{what}: {answer.status_code} {detail}")
    return answer.json()


async def _mapping_id(api: httpx.AsyncClient, kind: str, name: str) -> str:
    found = [
        m
        for m in _check(await api.get("/api/v1/import-mappings", params={"kind": kind}), "mappings")
        if m["name"] == name
    ]
    if not found:
        raise Failed(f"no saved {kind} mapping named {name!r}")
    return found[0]["id"]


async def send(api: httpx.AsyncClient, args, console: Console) -> str:
    data = await asyncio.to_thread(Path(args.file).read_bytes)
    body = {
        "kind": args.kind,
        "dry_run": args.dry_run,
        "on_duplicate": args.on_duplicate,
        "file_name": Path(args.file).name,
    }
    if args.mapping:
        body["mapping_id"] = await _mapping_id(api, args.kind, args.mapping)
    else:
        body["columns"] = dict(pair.split("=", 1) for pair in args.map)
    if args.save_mapping:
        _check(
            await api.post(
                "/api/v1/import-mappings",
                json={"kind": args.kind, "name": args.save_mapping, "columns": body["columns"]},
            ),
            "saving the mapping",
        )
    job = _check(await api.post("/api/v1/imports", json=body), "opening the import")
    with Progress(
        TextColumn("sending"), BarColumn(), TaskProgressColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("file", total=len(data))
        for start in range(0, len(data), PART):
            _check(
                await api.post(
                    f"/api/v1/imports/{job['id']}/file",
                    content=data[start : start + PART],
                    headers={"content-type": "application/octet-stream"},
                ),
                "sending the file",
            )
            progress.update(task, completed=min(len(data), start + PART))
    _check(await api.post(f"/api/v1/imports/{job['id']}/start"), "starting the import")
    console.print(f"import {job['id']} started{' (dry run)' if args.dry_run else ''}")
    return job["id"]


async def follow(api: httpx.AsyncClient, job_id: str, console: Console, poll: float = 0.5) -> dict:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("time left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = None
        while True:
            job = _check(await api.get(f"/api/v1/imports/{job_id}"), "following the import")
            if task is None:
                task = progress.add_task(
                    "dry run" if job["dry_run"] else "import",
                    total=job["total_rows"],
                    completed=job["done_rows"],
                    rate="–",
                )
            progress.update(task, completed=job["done_rows"])
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.0f}" if speed else "–")
            if job["status"] in ("done", "failed"):
                return job
            await asyncio.sleep(poll)


async def report(api: httpx.AsyncClient, job: dict, console: Console, shown: int = 20) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(job["counts"].items())) or "no rows"
    verb = "would be" if job["dry_run"] else "were"
    console.print(
        f"{job['status']}: {counts} ({verb} so)"
        if job["status"] == "done"
        else f"[red]failed[/red]: {job['error']} — go on with: mercator import --resume {job['id']}"
    )
    rejected = _check(
        await api.get(f"/api/v1/imports/{job['id']}/rows", params={"outcome": "rejected", "limit": shown}),
        "rejected rows",
    )["items"]
    if rejected:
        table = Table(
            "row", "column", "why", title="rejected rows" + (" (first ones)" if len(rejected) == shown else "")
        )
        for r in rejected:
            for e in r["errors"]:
                table.add_row(str(r["row"]), e.get("column") or e.get("field") or "", e["message"])
        console.print(table)
        console.print(f"all of them: GET /api/v1/imports/{job['id']}/rows?outcome=rejected&format=csv")


async def run(args, api: httpx.AsyncClient, console: Console) -> int:
    try:
        if args.resume:
            job = _check(await api.get(f"/api/v1/imports/{args.resume}"), "the import")
            if job["status"] == "failed":
                _check(await api.post(f"/api/v1/imports/{args.resume}/resume"), "resuming the import")
            job_id = args.resume
        else:
            job_id = await send(api, args, console)
        job = await follow(api, job_id, console)
        await report(api, job, console)
        return 0 if job["status"] == "done" else 1
    except Failed as exc:
        console.print(f"[red]{exc}[/red]")
        return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mercator", description="Mercator from the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser(
        "import", help="import client cards, contact persons, history entries or open deals from CSV or XLSX"
    )
    i.add_argument("file", nargs="?", help="the .csv or .xlsx file")
    i.add_argument("--kind", choices=["companies", "persons", "history", "deals"], default="companies")
    i.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="which field a column fills (repeat for each column)",
    )
    i.add_argument("--mapping", help="a saved mapping, by name")
    i.add_argument("--save-mapping", metavar="NAME", help="save the --map columns under this name")
    i.add_argument("--dry-run", action="store_true", help="report what would happen, write nothing")
    i.add_argument("--on-duplicate", choices=["skip", "merge", "create"], default="skip")
    i.add_argument("--resume", metavar="JOB_ID", help="follow (and if it failed, resume) an import")
    i.add_argument("--url", default=os.environ.get("MERCATOR_URL", "http://127.0.0.1:8000"))
    i.add_argument("--token", default=os.environ.get("MERCATOR_TOKEN"), help="bearer token (or MERCATOR_TOKEN)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not args.resume and not args.file:
        parser().error("name the file, or --resume an import")
    if not args.resume and not args.mapping and not args.map:
        parser().error("give the columns (--map COLUMN=FIELD ...) or a saved --mapping")
    if not args.token:
        parser().error("a token is needed: --token or MERCATOR_TOKEN")

    async def go() -> int:
        async with httpx.AsyncClient(
            base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=60
        ) as api:
            return await run(args, api, Console())

    try:
        sys.exit(asyncio.run(go()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
