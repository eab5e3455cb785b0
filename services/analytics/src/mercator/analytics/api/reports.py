"""HTTP routes of the twelve reports: JSON, or CSV on request (`Accept: text/csv` or `?format=csv`)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from mercator.analytics import domain, reports, schemas
from mercator.analytics.domain import Period
from mercator.analytics.settings import AnalyticsSettings
from mercator.common import clock
from mercator.common.http.deps import CurrentUser, RuntimeDep, SessionDep
from mercator.common.http.export import spreadsheet_safe

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The report; its rows as CSV when asked for",
    }
}


def scope(
    start: Annotated[datetime | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="RFC 3339, exclusive")] = None,
    department_id: Annotated[uuid.UUID | None, Query(description="with its sub-departments")] = None,
    owner_id: Annotated[uuid.UUID | None, Query(description="one manager")] = None,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217")] = "RUB",
) -> reports.Scope:
    domain.check_period(start, end)
    return reports.Scope(start, end, department_id, owner_id, currency)


ScopeDep = Annotated[reports.Scope, Depends(scope)]
Format = Annotated[Literal["json", "csv"] | None, Query(description="csv: the rows as CSV (or send Accept: text/csv)")]


def _flat(row: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out[f"{prefix}{k}"] = ";".join(map(str, v))
        else:
            out[f"{prefix}{k}"] = "" if v is None else v
    return out


def answer(request: Request, fmt: str | None, name: str, model: type[BaseModel], data: dict):
    report = model.model_validate(data)
    wants_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        return report
    rows = [_flat(r) for r in report.model_dump(mode="json", by_alias=True)["rows"]]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _settings(runtime: RuntimeDep) -> AnalyticsSettings:
    return cast(AnalyticsSettings, runtime.settings)


SettingsDep = Annotated[AnalyticsSettings, Depends(_settings)]


@router.get("/workload", response_model=schemas.WorkloadReport, responses=CSV)
async def workload(request: Request, session: SessionDep, caller: CurrentUser, scope: ScopeDep, format: Format = None):
    """Head of sales: client cards in work and open deals per manager, by stage."""
    return answer(request, format, "workload", schemas.WorkloadReport, await reports.workload(session, caller, scope))


@router.get("/inactivity", response_model=schemas.InactivityReport, responses=CSV)
async def inactivity(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    settings: SettingsDep,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    low_share: Annotated[float | None, Query(gt=0, le=1)] = None,
    format: Format = None,
):
    """Head of sales: per manager, client cards with no history entry for `days` (a setting, 14 by default),
    and the activities logged in the period against the team's mean (low: under `low_share` of it)."""
    return answer(
        request,
        format,
        "inactivity",
        schemas.InactivityReport,
        await reports.inactivity(
            session,
            caller,
            scope,
            days=days or settings.inactivity_days,
            low_share=low_share or settings.low_activity_share,
            now=clock.now(),
        ),
    )


@router.get("/receivables", response_model=schemas.ReceivablesReport, responses=CSV)
async def receivables(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    by: Literal["manager", "client", "invoice"] = "manager",
    format: Format = None,
):
    """Head of sales: what clients owe, per manager or per client with ageing buckets, or the overdue invoices
    (`by=invoice`), as of today."""
    return answer(
        request,
        format,
        "receivables",
        schemas.ReceivablesReport,
        await reports.receivables(session, caller, scope, by=by, today=clock.now().date()),
    )


@router.get("/deal-duration", response_model=schemas.DurationReport, responses=CSV)
async def deal_duration(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    by: Literal["manager", "product"] = "manager",
    format: Format = None,
):
    """Head of sales: mean and median days from first contact to close of the deals closed in the period, won and
    lost apart, per manager or product; time spent in each stage; conversion from each stage to the next. The mean
    is exact (the spans' seconds summed, in days to one place); the median is of whole days, each span rounded down
    to the day (a deal closed 10 days 20 hours after opening counts as 10)."""
    return answer(
        request, format, "deal-duration", schemas.DurationReport, await reports.duration(session, caller, scope, by=by)
    )


@router.get("/losses", response_model=schemas.LossesReport, responses=CSV)
async def losses(request: Request, session: SessionDep, caller: CurrentUser, scope: ScopeDep, format: Format = None):
    """Head of sales: deals lost in the period by reason and the stage they were lost at, per manager beside the
    team (the team: the department filter, every manager)."""
    return answer(request, format, "losses", schemas.LossesReport, await reports.losses(session, caller, scope))


@router.get("/results", response_model=schemas.ResultsReport, responses=CSV)
async def results(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    by: Literal["manager", "product", "product_group"] = "manager",
    period: Period = Period.MONTH,
    format: Format = None,
):
    """Head of sales: won deals and revenue by month or quarter with the change against the period before, per
    manager, product or product group; totals show which products sell and which do not."""
    return answer(
        request,
        format,
        "results",
        schemas.ResultsReport,
        await reports.results(session, caller, scope, by=by, period=period),
    )


@router.get("/sources", response_model=schemas.SegmentsReport, responses=CSV)
async def sources(request: Request, session: SessionDep, caller: CurrentUser, scope: ScopeDep, format: Format = None):
    """Marketing: per contact source, the client cards opened, the deals opened in the period, wins, conversion,
    revenue."""
    return answer(
        request, format, "sources", schemas.SegmentsReport, await reports.segments(session, caller, scope, by="source")
    )


@router.get("/marketing-events", response_model=schemas.MarketingReport, responses=CSV)
async def marketing_events(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    settings: SettingsDep,
    window_days: Annotated[int | None, Query(ge=1, le=730)] = None,
    format: Format = None,
):
    """Marketing: each event starting in the period, its participants, the deals they opened within the window
    after it (a setting, 90 days by default) or that name it, wins, revenue, cost and return."""
    return answer(
        request,
        format,
        "marketing-events",
        schemas.MarketingReport,
        await reports.marketing(session, caller, scope, window_days=window_days or settings.marketing_window_days),
    )


@router.get("/segments", response_model=schemas.SegmentsReport, responses=CSV)
async def segments(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    by: Literal["region", "industry"] = "region",
    format: Format = None,
):
    """Marketing: the client base by region or industry: client cards, deals, revenue, conversion."""
    return answer(
        request, format, f"segments-{by}", schemas.SegmentsReport, await reports.segments(session, caller, scope, by=by)
    )


@router.get("/sales-volume", response_model=schemas.VolumeReport, responses=CSV)
async def sales_volume(
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
    scope: ScopeDep,
    by: Annotated[list[reports.Dimension], Query(max_length=8)] = [],  # noqa: B006
    period: Period = Period.MONTH,
    format: Format = None,
):
    """CEO: revenue, count and average of the deals won in the period, in any slice: repeat `by` with department,
    manager, product_group, product, region, industry, source, period."""
    return answer(
        request,
        format,
        "sales-volume",
        schemas.VolumeReport,
        await reports.volume(session, caller, scope, by=list(by), period=period),
    )


@router.get("/funnel", response_model=schemas.FunnelReport, responses=CSV)
async def funnel(request: Request, session: SessionDep, caller: CurrentUser, scope: ScopeDep, format: Format = None):
    """CEO: of the first contacts (deals opened in the period), how many reached each stage and how many were won."""
    return answer(request, format, "funnel", schemas.FunnelReport, await reports.funnel(session, caller, scope))


@router.get("/forecast", response_model=schemas.ForecastReport, responses=CSV)
async def forecast(request: Request, session: SessionDep, caller: CurrentUser, scope: ScopeDep, format: Format = None):
    """CEO: the open pipeline weighted by each stage's probability, by expected close month (the period filters
    the expected close date)."""
    return answer(request, format, "forecast", schemas.ForecastReport, await reports.forecast(session, caller, scope))
