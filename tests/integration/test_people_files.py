"""`usage-pipeline people import-logins/export-logins` (and the aliases beside them) against a
real database: validated whole first, nothing half-imported, exported as imported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

from tests.support.cli import usage_pipeline


def people(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return usage_pipeline(database, "people", *args)


async def test_logins_import_export_and_nothing_half_imported(
    db: asyncpg.Pool, database_dsn: str, tmp_path: Path
) -> None:
    good = tmp_path / "logins.csv"
    good.write_text("service,login,email,note\nGitHub,Ext-Consultant,Consultant@Partner.example,"
                    "contractor\ngithub,mona,mona@acme.dev,\n")  # fmt: skip
    result = people(database_dsn, "import-logins", str(good))
    assert result.returncode == 0, result.stderr
    assert "imported 2 login(s)" in result.stdout

    for text, problem in (
        ("service,login,email\ngithub,mona,nobody\n", "line 2: invalid email 'nobody'"),
        ("service,login,email\ngithub,bad login,a@b.dev\n", "line 2: invalid login 'bad login'"),
        ("service,login,email\ngithub,Mona,a@b.dev\ngithub,mona,c@d.dev\n",
         "line 3: duplicate login mona of github"),
        ("login,email\nmona,a@b.dev\n", "line 1: need email, login, service"),
    ):  # fmt: skip
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        result = people(database_dsn, "import-logins", str(bad))
        assert result.returncode == 2
        assert result.stderr.strip() == f"usage-pipeline: {bad}: {problem}"

    exported = people(database_dsn, "export-logins")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (
        "service,login,email,note\ngithub,Ext-Consultant,consultant@partner.example,contractor\n"
        "github,mona,mona@acme.dev,\n"
    )
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM person_logins") == 2


async def test_aliases_round_trip(db: asyncpg.Pool, database_dsn: str, tmp_path: Path) -> None:
    good = tmp_path / "aliases.csv"
    good.write_text("alias_email,person_email,note\nana@old.dev,ana@acme.dev,renamed\n")
    assert people(database_dsn, "import-aliases", str(good)).returncode == 0
    exported = people(database_dsn, "export-aliases")
    assert exported.stdout == "alias_email,person_email,note\nana@old.dev,ana@acme.dev,renamed\n"
