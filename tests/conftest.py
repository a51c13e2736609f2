"""Hooks for the whole suite. Fixtures of real services live in tests/support/services.py and
are imported by the integration and end-to-end conftest files, so unit tests import neither the
simulator, asyncpg nor alembic."""

from __future__ import annotations

import pytest


def pytest_unconfigure(config: pytest.Config) -> None:
    """Late atexit hooks (pgserver's) must not log into pytest's closed capture streams."""
    import logging

    logging.getLogger().handlers = []
