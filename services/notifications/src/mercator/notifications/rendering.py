"""Templates are rendered in a few worker processes, each render within limits of time, memory and output.

Templates are data that heads of sales and marketers edit through the API. Rendered in the service's own
process, one with nested loops, `'a' * 300000000` (389 MB) or a 3,000-row table (3.7 s) held the event loop,
so every other request, for as long as it liked, and took whatever memory it asked for. In a worker, a
render is stopped at its limit and the service goes on answering meanwhile:

- time: alarms stop a render after `render_cpu_seconds` of CPU or `render_seconds` on the clock, whichever
  comes first (a clean stop: the worker carries on); the clock's limit is the larger, for a machine so
  busy that a render's CPU time comes slowly. A CPU limit a little past the first kills a worker stuck in
  one long C call the alarms cannot interrupt;
- memory: the worker's address space is capped at `render_memory_mb`, so a render that asks for more gets
  a MemoryError, not the machine's memory;
- output: text and PDF over `render_output_bytes` are refused in the worker, before they are sent back.

The workers are started once and reused (a render costs a round trip, not a process start); one killed by
a limit is replaced with its pool. Limits hit are TooCostly: the caller says what for (the field of a
template being saved, the message being made).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

from mercator.common.errors import InvalidValue
from mercator.notifications import documents

log = logging.getLogger(__name__)

MB = 1024 * 1024
# How long past its own time limit the service waits for a worker before killing it: the alarm and the CPU
# limit stop a render well before; this is for a worker that stopped answering at all (and for the first
# render, which waits for its worker to start).
GRACE_SECONDS = 10.0


class Limits(NamedTuple):
    cpu_seconds: float
    seconds: float
    memory_mb: int
    output_bytes: int
    workers: int

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            settings.render_cpu_seconds,
            settings.render_seconds,
            settings.render_memory_mb,
            settings.render_output_bytes,
            settings.render_workers,
        )

    @property
    def took_too_long(self) -> str:
        return f"took more than {self.seconds:g} s"

    @property
    def took_too_much_cpu(self) -> str:
        return f"took more than {self.cpu_seconds:g} s of CPU"

    @property
    def needed_too_much(self) -> str:
        return f"needed more than {self.memory_mb} MB"


class TooCostly(Exception):
    """A render stopped at a limit: `reason` as a person reads it ("took more than 5 s"), and the field of
    the template it was rendering when that is known."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason, field)
        self.reason, self.field = reason, field

    def __str__(self) -> str:
        return self.reason


class TemplateTooCostly(InvalidValue):
    """A template over a limit where a caller waits (saving it, a document, a message by hand): a 422."""

    def __init__(self, message: str, field: str):
        super().__init__("template_limit", message, field)


# --- in a worker ------------------------------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by an alarm. Not an Exception: Jinja2's and fpdf2's `except Exception` must not swallow it."""


class _OutOfCpu(_OutOfTime):
    pass


_limits: Limits | None = None


def _alarm(signum, frame) -> None:
    raise _OutOfCpu if signum == signal.SIGPROF else _OutOfTime


def _exit_with_parent() -> None:
    # A worker's queue stays open while it holds its own end of it, so a service killed outright would
    # leave it waiting for work forever.
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(0)


def _start_worker(limits: Limits) -> None:
    global _limits
    _limits = limits
    # Ctrl-C reaches the whole process group; the service stops its workers itself, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    documents.output_cap = limits.output_bytes
    # Fonts and fpdf2's modules loaded now, so that the first render is as fast as the others and what the
    # memory cap is measured against is a worker ready to render.
    documents.render_document("-", "<p>-</p>", {})
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limits.memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))


def _reason(exc: BaseException) -> str:
    assert _limits is not None
    if isinstance(exc, _OutOfCpu):
        return _limits.took_too_much_cpu
    if isinstance(exc, _OutOfTime):
        return _limits.took_too_long
    if isinstance(exc, MemoryError):
        return _limits.needed_too_much
    return str(exc)


LIMIT_HIT = (_OutOfTime, MemoryError, documents.TooLarge)


def _within_limits(job, *args):
    """Runs a job under the alarms, and under a CPU limit just past them (RLIMIT_CPU counts the worker's
    whole life, so it is moved on for each job)."""
    assert _limits is not None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + _limits.cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        signal.setitimer(signal.ITIMER_PROF, _limits.cpu_seconds)
        signal.setitimer(signal.ITIMER_REAL, _limits.seconds)
        try:
            return job(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.setitimer(signal.ITIMER_PROF, 0)
    except LIMIT_HIT as exc:
        raise TooCostly(_reason(exc)) from None


def _check(document: bool, subject: str, body: str, sample: dict[str, Any]) -> tuple[str, str, str] | None:
    """(rule, message, field) of what is wrong with a template, tried on sample data; None if nothing."""
    field = "subject"
    try:
        documents.check_template(subject, "subject", sample)
        field = "body"
        html = documents.check_template(body, "body", sample, html=document)
        if document:
            try:  # fpdf2 refuses some HTML (a table without rows, a nested table): say so now
                documents.html_to_pdf("check", html)
            except LIMIT_HIT:
                raise
            except Exception as exc:
                return "template_html", f"the HTML cannot be laid out as a PDF: {exc}", "body"
    except InvalidValue as exc:
        return exc.rule or "invalid_template", exc.message, exc.field or field
    except LIMIT_HIT as exc:
        raise TooCostly(_reason(exc), field) from None
    return None


def _email(subject: str, body: str, context: dict[str, Any]) -> tuple[str, str]:
    return documents.render_text(subject, context).strip(), documents.render_text(body, context)


# --- in the service ---------------------------------------------------------------------------------


class Renderer:
    """A pool of workers with the same limits. At most one render per worker at a time: a render's time
    limit then starts when it does, not while it waits in the pool's queue."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._pool: ProcessPoolExecutor | None = None
        # One gate per event loop (each test has its own); asyncio's locks belong to one loop.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.limits.workers)
        return gate

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a worker starts from a clean interpreter, not a copy of the service with its threads,
            # connections and event loop.
            self._pool = ProcessPoolExecutor(
                self.limits.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.limits,),
            )
        return self._pool

    def _drop(self, pool: ProcessPoolExecutor, *, kill: bool) -> None:
        if self._pool is pool:
            self._pool = None
        if kill:
            # Python 3.14 has pool.kill_workers(); before it, the pool's own table of its processes.
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, job, *args):
        async with self._gate():
            for attempt in (1, 2):
                pool = self._workers()
                try:
                    future: Future = pool.submit(_within_limits, job, *args)
                    return await asyncio.wait_for(asyncio.wrap_future(future), self.limits.seconds + GRACE_SECONDS)
                except TimeoutError:
                    log.warning("a render did not answer within its limit; its workers are replaced")
                    self._drop(pool, kill=True)
                    raise TooCostly(self.limits.took_too_long) from None
                except BrokenProcessPool:
                    # A worker died (its CPU limit, or memory failing where no MemoryError could be raised),
                    # taking the pool with it: each render that was in it is tried once more in a new one,
                    # so only the one that killed it fails.
                    log.warning("a render worker died; the pool is replaced (attempt %d)", attempt)
                    self._drop(pool, kill=False)
            raise TooCostly(f"{self.limits.took_too_much_cpu} or {self.limits.needed_too_much}")

    async def check(self, document: bool, subject: str, body: str, sample: dict[str, Any]) -> None:
        """A template tried on sample data, refused naming the field: broken (InvalidValue) or over a limit
        (TemplateTooCostly)."""
        try:
            wrong = await self._run(_check, document, subject, body, sample)
        except TooCostly as exc:
            raise TemplateTooCostly(
                f"the template is over a limit on sample data: {exc.reason}", exc.field or "body"
            ) from None
        if wrong is not None:
            raise InvalidValue(*wrong)

    async def document(self, title: str, body: str, context: dict[str, Any]) -> tuple[str, bytes]:
        """(file name, PDF); TooCostly when over a limit."""
        return await self._run(documents.render_document, title, body, context)

    async def email(self, subject: str, body: str, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body); TooCostly when over a limit."""
        return await self._run(_email, subject, body, context)

    async def warm(self) -> None:
        """Starts every worker now, so the first renders do not wait for them."""
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(self.limits.workers):
                await stack.enter_async_context(self._gate())
            pool = self._workers()
            await asyncio.gather(
                *(asyncio.wrap_future(pool.submit(int)) for _ in range(self.limits.workers)), return_exceptions=True
            )

    async def aclose(self) -> None:
        """With the service: workers finish what they render (within its limits) and exit."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = asyncio.get_running_loop().time() + self.limits.seconds + GRACE_SECONDS
        # Polled: a worker process's exit sets no event in this loop.
        while any(p.is_alive() for p in processes) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for process in processes:
            if process.is_alive():
                process.kill()


_renderers: dict[Limits, Renderer] = {}


def renderer(settings: Any) -> Renderer:
    """The renderer of the service's limits: one pool of workers for the process, however many times a
    use case asks for it."""
    limits = Limits.of(settings)
    found = _renderers.get(limits)
    if found is None:
        found = _renderers[limits] = Renderer(limits)
    return found
