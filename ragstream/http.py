"""What every HTTP service of ragstream reads from a request the same way: who is calling."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Path, Request, status
from fastapi.responses import JSONResponse

from ragstream.auth import Forbidden, Identity, Unauthenticated, authenticate
from ragstream.identifiers import DOCUMENT_ID_MAX_LENGTH, DOCUMENT_ID_PATTERN, TENANT_PATTERN
from ragstream.settings import Settings

# A document id in a URL path (`/v1/documents/{document_id:path}`).
DocumentPath = Annotated[
    str, Path(min_length=1, max_length=DOCUMENT_ID_MAX_LENGTH, pattern=DOCUMENT_ID_PATTERN)
]
log = logging.getLogger("ragstream.auth")


def get_identity(
    request: Request,
    # Declared so the OpenAPI spec documents them; `authenticate` reads the raw headers.
    x_api_key: Annotated[str | None, Header(max_length=512)] = None,
    x_tenant: Annotated[str | None, Header(pattern=TENANT_PATTERN)] = None,
) -> Identity:
    settings: Settings = request.app.state.settings
    return authenticate(request.headers, settings.auth)


IdentityDep = Annotated[Identity, Depends(get_identity)]


def get_tenant(identity: IdentityDep) -> str:
    return identity.tenant


def get_writer(identity: IdentityDep) -> Identity:
    identity.require("write")
    return identity


TenantDep = Annotated[str, Depends(get_tenant)]
WriterDep = Annotated[Identity, Depends(get_writer)]


def install_auth(app: FastAPI, settings: Settings, service: str) -> None:
    """Error mapping for auth failures, and a loud warning when auth is off."""
    app.state.settings = settings
    if not settings.auth.enabled:
        log.warning(
            "AUTHENTICATION IS OFF for the %s (dev profile): tenant and principals come from headers", service
        )

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_403_FORBIDDEN)
