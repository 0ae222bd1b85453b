from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragstream.queries.registry import RegistryStore
from ragstream.queries.service import QueryService


def get_service(request: Request) -> QueryService:
    service: QueryService = request.app.state.service
    return service


def get_registry(request: Request) -> RegistryStore:
    registry: RegistryStore = request.app.state.registry
    return registry


ServiceDep = Annotated[QueryService, Depends(get_service)]
RegistryDep = Annotated[RegistryStore, Depends(get_registry)]
