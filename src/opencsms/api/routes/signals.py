"""Signals: upload a price or carbon file, list the stored series, read one.

``POST /signals/{series}?format=...`` takes the file as the raw request body
(any content type: ``curl --data-binary @agile.json``) or as a multipart part
named ``file``. It is parsed whole by the adapter in :mod:`opencsms.signals`
before anything is stored, so a broken file answers 422 with the parser's
message (which says where in the file) and leaves the series as it was. The
parsed rates replace the series' rates over the time they cover, and every
site planned against the series is re-planned (see ``SmartChargingService``).

Each format takes its own options as query parameters; an option given for
another format is refused rather than silently ignored.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from starlette.datastructures import UploadFile

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.files import MULTIPART_SLACK, limited_form
from opencsms.api.schemas import Problem
from opencsms.api.smart_charging_schemas import (
    RateOut,
    SeriesOut,
    SeriesSummaryOut,
    SignalImportOut,
    require_aware,
)
from opencsms.domain.files import FileTooLarge
from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals import (
    parse_agile,
    parse_carbon_intensity,
    parse_csv_rates,
    parse_entsoe,
)

router = APIRouter(tags=["smart charging: signals"])

SignalFormat = Literal["agile", "carbon_intensity", "entsoe", "csv"]
MAX_SIGNAL_BYTES = 16 * 1024 * 1024
"""A year of 15-minute ENTSO-E prices is ~3 MB of XML: room to spare."""
SERIES_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

Series = Annotated[str, Path(pattern=SERIES_PATTERN, examples=["price"])]


async def read_body(request: Request, limit: int) -> bytes:
    """The uploaded file: the multipart part ``file``, or else the raw body;
    413 past ``limit`` bytes (read no further), 422 for an empty one."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await limited_form(request, limit + MULTIPART_SLACK)
        except FileTooLarge:
            raise _too_large(limit) from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "file: a file part is required")
            data = await upload.read(limit + 1)
        finally:
            await form.close()
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(limit)
    if not data.strip():
        raise HTTPException(422, "the file is empty")
    return data


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the file is larger than {limit} bytes")


def _only_for(fmt: SignalFormat, options: dict[str, tuple[SignalFormat, object]]) -> None:
    for name, (owner, value) in options.items():
        if value is not None and owner != fmt:
            raise HTTPException(422, f"{name} applies to format={owner} only")


@router.post(
    "/signals/{series}",
    status_code=status.HTTP_201_CREATED,
    responses={413: {"model": Problem}, 422: {"model": Problem}},
)
async def import_signal(
    series: Series,
    request: Request,
    fmt: Annotated[
        SignalFormat,
        Query(alias="format", description="agile, carbon_intensity, entsoe or csv"),
    ],
    payment_method: Annotated[
        str | None, Query(description="agile: keep this payment method's rates")
    ] = None,
    include_vat: Annotated[bool | None, Query(description="agile: VAT included (default)")] = None,
    open_until: Annotated[
        datetime | None, Query(description="agile: end of an open-ended latest rate")
    ] = None,
    region_id: Annotated[int | None, Query(description="carbon_intensity: region")] = None,
    prefer_forecast: Annotated[
        bool | None, Query(description="carbon_intensity: forecast even where actual is known")
    ] = None,
    resolution: Annotated[
        str | None, Query(description="entsoe: pick this resolution (e.g. PT15M)")
    ] = None,
    unit: Annotated[
        str | None, Query(description="csv: unit when the file has no unit column")
    ] = None,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> SignalImportOut:
    """Parse a signal file and store it as ``series`` (e.g. ``price``, ``co2``)."""
    _only_for(
        fmt,
        {
            "payment_method": ("agile", payment_method),
            "include_vat": ("agile", include_vat),
            "open_until": ("agile", open_until),
            "region_id": ("carbon_intensity", region_id),
            "prefer_forecast": ("carbon_intensity", prefer_forecast),
            "resolution": ("entsoe", resolution),
            "unit": ("csv", unit),
        },
    )
    require_aware("open_until", open_until)
    data = await read_body(request, MAX_SIGNAL_BYTES)
    source = f"{series} ({fmt})"

    def parse() -> list[Rate]:
        if fmt == "agile":
            return parse_agile(
                [data],
                payment_method=payment_method,
                include_vat=include_vat is not False,
                open_until=open_until,
                source=source,
            )
        if fmt == "carbon_intensity":
            return parse_carbon_intensity(
                data, region_id=region_id, prefer_forecast=bool(prefer_forecast), source=source
            )
        if fmt == "entsoe":
            return parse_entsoe(data, resolution=resolution, source=source)
        return parse_csv_rates(data, unit=unit, source=source)

    # SignalFormatError → 422 (app.py); parsing a large XML file stays off the loop
    rates = await asyncio.to_thread(parse)
    if not rates:
        raise HTTPException(422, f"{source}: the file holds no rates")
    stored = await ctx.services.smart_charging.import_signal(
        series, rates, requested_by=principal.label
    )
    return SignalImportOut(
        series=series,
        format=fmt,
        stored=stored,
        unit=rates[0].unit,
        first_start=rates[0].start,
        last_end=rates[-1].end,
    )


@router.get("/signals")
async def list_signals(
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> list[SeriesSummaryOut]:
    """Every stored series: unit, the time it covers and how many rates."""
    summaries = await ctx.services.smart_charging.signal_summaries()
    return [SeriesSummaryOut.from_record(s) for s in sorted(summaries, key=lambda s: s.series)]


@router.get("/signals/{series}", responses={404: {"model": Problem}})
async def get_signal(
    series: Series,
    start: Annotated[datetime | None, Query(description="default: the series' first rate")] = None,
    end: Annotated[datetime | None, Query(description="default: the series' last rate")] = None,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> SeriesOut:
    """The series' rates overlapping ``[start, end)``, oldest first."""
    require_aware("start", start)
    require_aware("end", end)
    service = ctx.services.smart_charging
    summary = next((s for s in await service.signal_summaries() if s.series == series), None)
    if summary is None:
        raise HTTPException(404, f"no signal series {series!r} is stored")
    window_start = start if start is not None else summary.first_start
    window_end = end if end is not None else summary.last_end
    if window_end <= window_start:
        raise HTTPException(422, "end must be after start")
    rates = await service.signal_window(series, window_start, window_end)
    return SeriesOut(series=series, rates=[RateOut.from_record(r) for r in rates])
