"""Every service's app as built for serving, for what needs no database: its OpenAPI document (the gateway merges
them into the public one). Building opens no connection, so none is made; nothing is ever reached at NOWHERE."""

from __future__ import annotations

from importlib import import_module

from fastapi import FastAPI

from mercator.common.runtime import Runtime

BEHIND_THE_GATEWAY = ("contacts", "deals", "billing", "notifications", "analytics")
NOWHERE = dict(
    relay_enabled=False,
    consumers_enabled=False,
    kafka_bootstrap="127.0.0.1:9",
    database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none",
)


def service_apps(names: tuple[str, ...] = BEHIND_THE_GATEWAY) -> dict[str, FastAPI]:
    apps = {}
    for name in names:
        settings = getattr(import_module(f"mercator.{name}.settings"), f"{name.capitalize()}Settings")(**NOWHERE)
        apps[name] = import_module(f"mercator.{name}.app").build_app(settings, Runtime(settings))
    return apps
