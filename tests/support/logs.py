"""A fixture light enough for unit tests (no database, no simulator)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def logs_restored() -> Iterator[None]:
    """For a test that points the logs at its captured stderr (the service's lifespan, the CLI
    runner), which closes when it ends: afterwards structlog and the root logger are as they
    were, so nothing after it writes there."""
    handlers = logging.getLogger().handlers[:]
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers = handlers
