"""The service's long-lived parts, typed: what the app factory and its lifespan own and the
routes use. One `Runtime` per app, at `app.state.runtime`; nothing else lives on `app.state`."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import httpx
from fastapi import FastAPI, Request

from app.api.tokens import TokenStore
from app.config import Settings


class Worker(Protocol):
    """The run worker, in-process (`RunWorker`) or in a child process (`WorkerProcess`)."""

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def cancel_local(self, run_id: uuid.UUID) -> None: ...

    async def stop(self, deadline_seconds: float) -> None: ...


@dataclass
class Services:
    """What the lifespan starts: the pool, the one outbound HTTP client, the worker and the
    background tasks."""

    pool: asyncpg.Pool
    http: httpx.AsyncClient
    worker: Worker
    metrics_refresh: asyncio.Task[None]
    alert_delivery: asyncio.Task[None]  # the webhooks' deliveries: never in a run's way
    rollup_refresh: asyncio.Task[None]  # the dashboard's rollups, after changes outside runs


@dataclass
class Runtime:
    settings: Settings
    tokens: TokenStore
    shutting_down: bool = False
    services: Services | None = None

    def _started(self) -> Services:
        if self.services is None:
            raise RuntimeError("the service has not started (its lifespan has not run)")
        return self.services

    @property
    def pool(self) -> asyncpg.Pool:
        return self._started().pool

    @property
    def worker(self) -> Worker:
        return self._started().worker


def install_runtime(app: FastAPI, settings: Settings) -> Runtime:
    runtime = Runtime(settings, TokenStore(settings))
    app.state.runtime = runtime
    return runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
