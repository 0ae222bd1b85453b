from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragstream.commands.sdk import CommandProducer
from ragstream.http import WriterDep
from ragstream.settings import Settings


def get_producer(request: Request) -> CommandProducer:
    producer: CommandProducer = request.app.state.producer
    return producer


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_write_tenant(writer: WriterDep) -> str:
    return writer.tenant


def get_actor(writer: WriterDep) -> str:
    return writer.subject


ProducerDep = Annotated[CommandProducer, Depends(get_producer)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ActorDep = Annotated[str, Depends(get_actor)]
# Writing needs the `write` scope for the caller's tenant.
TenantDep = Annotated[str, Depends(get_write_tenant)]
