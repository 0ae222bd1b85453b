from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragstream.queries.answers.template_store import TemplateStore
from ragstream.queries.api.events import StreamSlots
from ragstream.queries.registry import RegistryStore
from ragstream.queries.service import QueryService
from ragstream.settings import Settings


async def get_service(request: Request) -> QueryService:
    service: QueryService = request.app.state.service
    return service


async def get_registry(request: Request) -> RegistryStore:
    registry: RegistryStore = request.app.state.registry
    return registry


async def get_templates(request: Request) -> TemplateStore:
    templates: TemplateStore = request.app.state.templates
    return templates


async def get_event_slots(request: Request) -> StreamSlots:
    slots: StreamSlots = request.app.state.event_slots
    return slots


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[QueryService, Depends(get_service)]
RegistryDep = Annotated[RegistryStore, Depends(get_registry)]
TemplatesDep = Annotated[TemplateStore, Depends(get_templates)]
EventSlotsDep = Annotated[StreamSlots, Depends(get_event_slots)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
