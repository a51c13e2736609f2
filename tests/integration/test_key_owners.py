"""`usage-pipeline key-owners import/export` against a real database."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

from tests.support.cli import usage_pipeline


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return usage_pipeline(database, "key-owners", *args)


async def test_import_export_and_nothing_half_imported(
    db: asyncpg.Pool, database_dsn: str, tmp_path: Path
) -> None:
    good = tmp_path / "owners.csv"
    good.write_text(
        "api_key_id,key_name,owner_email,note\napikey_1,,Ana@Acme.dev,laptop\n,ci-bot,bo@acme.dev,\n"
    )
    result = cli(database_dsn, "import", str(good))
    assert result.returncode == 0, result.stderr
    assert "imported 2 key owner(s)" in result.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("api_key_id,owner_email\napikey_9,ok@acme.dev\napikey_10,nobody\n")
    result = cli(database_dsn, "import", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"usage-pipeline: {bad}: line 3: invalid owner_email 'nobody'"

    exported = cli(database_dsn, "export")
    assert exported.returncode == 0
    assert (
        exported.stdout
        == "api_key_id,key_name,owner_email,note,account\napikey_1,,ana@acme.dev,laptop,default\n"
        ",ci-bot,bo@acme.dev,,default\n"
    )
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM api_key_owners") == 2
