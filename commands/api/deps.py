from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from commands.sdk import CommandProducer
from ragstream.settings import Settings


def get_producer(request: Request) -> CommandProducer:
    producer: CommandProducer = request.app.state.producer
    return producer


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_actor(x_actor: Annotated[str, Header(min_length=1, max_length=256)] = "api") -> str:
    return x_actor


ProducerDep = Annotated[CommandProducer, Depends(get_producer)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ActorDep = Annotated[str, Depends(get_actor)]
