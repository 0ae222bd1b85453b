from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragstream.http import IdentityDep
from ragstream.queries.registry import RegistryStore
from ragstream.queries.service import QueryService


def get_service(request: Request) -> QueryService:
    service: QueryService = request.app.state.service
    return service


def get_registry(request: Request) -> RegistryStore:
    registry: RegistryStore = request.app.state.registry
    return registry


def get_principals(identity: IdentityDep) -> list[str]:
    """Without principals a caller sees only documents whose ACL is empty (tenant-wide)."""
    return list(identity.principals)


ServiceDep = Annotated[QueryService, Depends(get_service)]
RegistryDep = Annotated[RegistryStore, Depends(get_registry)]
PrincipalsDep = Annotated[list[str], Depends(get_principals)]
