from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from queries.service import QueryService
from streams.registry import RegistryStore


def get_service(request: Request) -> QueryService:
    service: QueryService = request.app.state.service
    return service


def get_registry(request: Request) -> RegistryStore:
    registry: RegistryStore = request.app.state.registry
    return registry


def get_principals(x_principals: Annotated[str, Header(max_length=4096)] = "") -> list[str]:
    """Without principals a caller sees only documents whose ACL is empty (tenant-wide)."""
    return [p.strip() for p in x_principals.split(",") if p.strip()]


ServiceDep = Annotated[QueryService, Depends(get_service)]
RegistryDep = Annotated[RegistryStore, Depends(get_registry)]
PrincipalsDep = Annotated[list[str], Depends(get_principals)]
