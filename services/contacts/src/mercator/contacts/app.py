"""Wiring of the contacts service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request

from mercator.common.http.app import create_app
from mercator.common.http.errors import problem
from mercator.common.runtime import Runtime
from mercator.contacts import api, domain
from mercator.contacts.settings import ContactsSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def build_app(settings: ContactsSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or ContactsSettings()
    runtime = runtime or Runtime(settings)
    app = create_app(runtime, title="Mercator contacts", routers=[api.router],
                     description="Client cards, contact persons, history, scheduled meetings, dictionaries.")

    @app.exception_handler(domain.DomainError)
    async def _domain_error(_: Request, exc: domain.DomainError):
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        title = "Invalid request" if isinstance(exc, domain.InvalidValue) else "Business rule violated"
        return problem(422, title, exc.message, errors=errors, rule=exc.rule)

    return app
