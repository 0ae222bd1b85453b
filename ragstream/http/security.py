"""Scope checks for routes, the credential schemes the OpenAPI spec declares, and /v1/whoami.

Authentication itself happened once, in AuthenticationMiddleware; these dependencies only read its
result and check the scope a route needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from ragstream.auth import ADMIN, OPERATOR, READ, WRITE, Identity, Unauthenticated
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.middleware import IDENTITY
from ragstream.http.ratelimit import RateLimiter
from ragstream.identifiers import TENANT_PATTERN

# Declared so the spec documents both credentials (and Swagger UI offers to enter them); the
# middleware reads the raw headers.
API_KEY = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", auto_error=False,
    description="An API key made by `ragstream auth create-key` (acts for one tenant).",
)  # fmt: skip
BEARER = HTTPBearer(
    scheme_name="Bearer", bearerFormat="JWT", auto_error=False,
    description="A JWT with `sub`, the tenant claim, `groups` and `scope`.",
)  # fmt: skip


async def get_identity(
    request: Request,
    _key: Annotated[str | None, Security(API_KEY)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    x_tenant: Annotated[
        str | None,
        Header(
            pattern=TENANT_PATTERN,
            description="Act for this tenant: the credential's own, or any with `operator`.",
        ),
    ] = None,
) -> Identity:
    identity: Identity | None = request.scope.get("state", {}).get(IDENTITY)
    if identity is None:  # a route outside the middleware's reach: refuse rather than trust
        raise Unauthenticated("credentials required")
    return identity


Caller = Annotated[Identity, Depends(get_identity)]


def scoped(scope: str) -> Callable[[Identity], Awaitable[Identity]]:
    async def require(identity: Caller) -> Identity:
        identity.require(scope)
        return identity

    require.__name__ = f"require_{scope}"
    return require


require_read, require_write = scoped(READ), scoped(WRITE)
require_admin, require_operator = scoped(ADMIN), scoped(OPERATOR)
Reader = Annotated[Identity, Depends(require_read)]
Writer = Annotated[Identity, Depends(require_write)]
Admin = Annotated[Identity, Depends(require_admin)]
Operator = Annotated[Identity, Depends(require_operator)]


async def throttle(request: Request, identity: Caller) -> None:
    """One token of the caller's tenant and credential buckets (rate-limited: 429)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.take(identity.tenant, identity.subject)


class WhoAmI(BaseModel):
    subject: str
    tenant: str
    principals: list[str]
    scopes: list[str]


whoami_router = APIRouter(prefix="/v1", tags=["auth"], route_class=StrictJSONRoute)


@whoami_router.get("/whoami", response_model=WhoAmI, summary="Who the credential is")
async def whoami(identity: Caller) -> WhoAmI:
    return WhoAmI(
        subject=identity.subject,
        tenant=identity.tenant,
        principals=list(identity.principals),
        scopes=sorted(identity.scopes),
    )
