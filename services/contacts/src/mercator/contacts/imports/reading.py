"""Reading an import's file in a process of its own, under limits of CPU time and memory.

The file is the caller's bytes. Read on the service's event loop, a 30 KB XLSX took 48 s of its CPU, a 196 KB
one 411 MB of its memory, and a CSV of a few hundred bytes kept csv.Sniffer busy for seconds, while every other
request waited. Here each file is read by a child process of its own (forkserver: started in milliseconds, and
it inherits none of the service's connections), which first sets RLIMIT_CPU and RLIMIT_AS on itself: a file
over its share stops its own reader and nothing else, and the next file gets a fresh one. At most
`import_readers` files are read at once; the service's stop kills the readers still at work.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import resource
import signal
import weakref
from dataclasses import replace

from mercator.common.errors import Unavailable
from mercator.contacts.imports import sheets

# The first start of a reader starts the fork server, which imports these once for every reader after it.
_CONTEXT: multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext = (
    multiprocessing.get_context(  # type: ignore[assignment]
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
)
if hasattr(_CONTEXT, "set_forkserver_preload"):
    _CONTEXT.set_forkserver_preload(["mercator.contacts.imports.sheets", "openpyxl"])
# Rows go back in parcels: one pickle of a hundred thousand rows would hold the service's GIL for a second.
_PARCEL = 2_000


class FileReader:
    """The readers of one contacts process (`of(runtime)`)."""

    def __init__(self, settings):
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.import_readers)
        self._working: set = set()
        self._closed = False

    def limits(self) -> sheets.Limits:
        s = self.settings
        return sheets.Limits(s.import_max_rows, s.import_max_unpacked_bytes, s.import_max_compression_ratio)

    async def read(self, data: bytes, columns: dict[str, str], *, rows: bool) -> sheets.Read:
        """The file's header and non-blank rows (with the rows themselves when `rows`); BadFile, or
        FileTooLarge naming the limit, when it cannot be read within its share."""
        async with self._slots:
            if self._closed:
                raise _stopping()
            return await self._read(data, columns, rows)

    async def _read(self, data: bytes, columns: dict[str, str], rows: bool) -> sheets.Read:
        s = self.settings
        receiving, sending = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=_work,
            name="import file reader",
            daemon=True,
            args=(sending, data, columns, self.limits(), rows, s.import_cpu_seconds, s.import_memory_bytes),
        )
        self._working.add(process)
        try:
            await asyncio.to_thread(process.start)  # the file goes to the child here, off the loop
            sending.close()
            if self._closed:  # stopped while it was starting
                raise _stopping()
            found: list[sheets.Row] = []
            while True:
                message = await asyncio.to_thread(_receive, receiving)
                if message is None:
                    await asyncio.to_thread(process.join)
                    raise _stopping() if self._closed else self._stopped(process.exitcode)
                what, value = message
                if what == "rows":
                    found += value
                elif what == "read":
                    return replace(value, rows=found if rows else None)
                elif what == "memory":
                    raise sheets.FileTooLarge(
                        f"reading the file needed more than {_mb(s.import_memory_bytes)} of memory, an import's share"
                    )
                else:
                    raise value
        finally:
            if process.pid is not None:
                process.kill()  # gone already when it answered; not so when the caller was cancelled
            receiving.close()
            self._working.discard(process)

    def _stopped(self, exitcode: int | None) -> sheets.BadFile:
        s = self.settings
        if exitcode == -signal.SIGXCPU:
            return sheets.FileTooLarge(
                f"reading the file took more than {s.import_cpu_seconds:g} s of CPU, an import's share"
            )
        return sheets.FileTooLarge(
            f"reading the file was stopped (exit {exitcode}) past an import's share: "
            f"{s.import_cpu_seconds:g} s of CPU, {_mb(s.import_memory_bytes)} of memory"
        )

    async def aclose(self) -> None:
        """At the service's stop: no reading starts, and those at work are killed."""
        self._closed = True
        for process in list(self._working):
            if process.pid is not None:  # one still starting is ended by its reading
                process.kill()


def _stopping() -> Unavailable:
    return Unavailable("contacts is stopping: start the import again shortly", headers={"Retry-After": "5"})


_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def of(runtime) -> FileReader:
    if runtime not in _readers:
        _readers[runtime] = FileReader(runtime.settings)
    return _readers[runtime]


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def _receive(receiving):
    try:
        return receiving.recv()
    except (EOFError, OSError):  # the child ended without a word: a limit, or the service killed it
        return None


def _limit(cpu_seconds: float, memory_bytes: int) -> None:
    # Ctrl-C reaches the whole process group; the service ends its readers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cpu = math.ceil(cpu_seconds)
    for which, soft, hard in (
        (resource.RLIMIT_CPU, cpu, cpu + 2),  # SIGXCPU at soft, SIGKILL at hard
        (resource.RLIMIT_AS, memory_bytes, memory_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ):  # SIGXCPU dumps core by default
        _, allowed = resource.getrlimit(which)
        if allowed != resource.RLIM_INFINITY:
            soft, hard = min(soft, allowed), min(hard, allowed)
        resource.setrlimit(which, (soft, hard))


def _work(
    sending,
    data: bytes,
    columns: dict[str, str],
    limits: sheets.Limits,
    rows: bool,
    cpu_seconds: float,
    memory_bytes: int,
) -> None:
    """In the child: read, send the rows in parcels, then what was read (or why not)."""
    _limit(cpu_seconds, memory_bytes)
    try:
        read = sheets.read_file(data, columns, limits, rows=rows)
        del data
        found = read.rows or []
        for start in range(0, len(found), _PARCEL):
            sending.send(("rows", found[start : start + _PARCEL]))
        sending.send(("read", replace(read, rows=None)))
    except sheets.BadFile as exc:
        sending.send(("refused", exc))
    except MemoryError:
        sending.send(("memory", None))
    except Exception as exc:
        sending.send(("refused", sheets.BadFile(f"the file cannot be read: {exc}"[:500])))
    finally:
        sending.close()
