"""The console's page and assets under /console (public: they hold no data; every datum the page
shows comes from the API routes, called with the signed-in credential), and `GET
/v1/admin/pipeline`, the summary its Pipeline page draws."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, Response

from ragstream.codec import AvroSingleObjectCodec
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Admin, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.queries.console.pipeline import collect
from ragstream.settings import Settings

STATIC = Path(__file__).parent / "static"
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
# The page runs its own script only and talks to its own origin only; nobody may frame it.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

pages = APIRouter(prefix="/console", include_in_schema=False)
api = APIRouter(
    prefix="/v1/admin", tags=["admin"], route_class=StrictJSONRoute, dependencies=[Depends(throttle)],
    responses=error_responses(*COMMON_ERRORS),
)  # fmt: skip


@pages.get("")
@pages.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@pages.get("/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:  # a fixed list: no path from the request ever reaches the file system
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such console file")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers=HEADERS)


@api.get("/pipeline", summary="Lag per stage, dead letters and freshness, for the console")
async def pipeline(request: Request, identity: Admin) -> dict[str, Any]:
    """The stream workers' lag per stage and this node's freshness histogram (the pipeline's, shared
    by every tenant: counts and timings, no content), and the newest dead letters of the caller's
    tenant only."""
    settings: Settings = request.app.state.settings
    codec: AvroSingleObjectCodec = request.app.state.codec
    return asdict(await collect(settings, codec, identity.tenant))
