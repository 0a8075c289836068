"""Dependency aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.suggester import Suggester
from service.settings import Settings


def get_suggester(request: Request) -> Suggester:
    return request.app.state.suggester


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SuggesterDep = Annotated[Suggester, Depends(get_suggester)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
