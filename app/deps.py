"""Typed access to what ``create_app`` put on ``app.state``, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.errors import ApiError
from app.events import EventWriter
from app.index import IndexHolder
from app.services import Services
from app.settings import Settings


# The getters are async: they only read app.state, and a sync dependency would cost a trip to the
# thread pool per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_index(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.index
    return holder


async def get_events(request: Request) -> EventWriter:
    writer: EventWriter = request.app.state.events
    return writer


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions



async def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ApiError("not_ready", "the service is starting")
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
IndexDep = Annotated[IndexHolder, Depends(get_index)]
EventsDep = Annotated[EventWriter, Depends(get_events)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ServicesDep = Annotated[Services, Depends(get_services)]
