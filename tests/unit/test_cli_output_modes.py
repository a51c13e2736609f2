"""The CLI's output modes and its client of a running service, without a service: plain text is
whole and escape-free whatever the cells hold, JSON parses, and each answer of the API (as respx
plays it) becomes its exit code and one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import typer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from typer.core import TyperGroup
from typer.testing import CliRunner

from app.api.runs import NOTHING_TO_HEAL
from app.api.schemas import RunList
from app.cli import cli
from app.cli_errors import CommandError, ExitCode, exit_code_of_status
from app.cli_format import OutputMode, Printer, Sheet, plain_lines, resolve_mode
from app.cli_remote import DEMO_TOKEN_FILE, ServiceClient, find_token, service_url
from tests.support.logs import logs_restored  # noqa: F401 - a fixture

cells = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)


@given(st.lists(st.tuples(cells, cells, cells), max_size=8), st.integers(1, 3))
def test_plain_is_whole_and_has_no_escape_codes(rows: list[tuple[str, str, str]], _: int) -> None:
    sheet = Sheet("title", ("a", "b", "c"), rows, right=frozenset({"c"}))
    lines = plain_lines(sheet)
    assert lines[0] == "title" and len(lines) == len(rows) + 2
    for line, row in zip(lines[2:], rows, strict=True):
        assert all(cell.strip() in line for cell in row)  # never cut
        assert "\x1b" not in line and line == line.rstrip()


def test_json_is_one_document_and_money_stays_exact(capsys: pytest.CaptureFixture[str]) -> None:
    from decimal import Decimal

    Printer(OutputMode.JSON).document({"billed_usd": Decimal("0.10"), "rows": [1]})
    Printer(OutputMode.JSON).event("progress", run={"id": "x"})
    document, line = capsys.readouterr().out.split("}\n{", 1)
    assert json.loads(document + "}") == {"billed_usd": "0.10", "rows": [1]}
    assert json.loads("{" + line) == {"event": "progress", "run": {"id": "x"}}


def test_the_default_mode_follows_where_output_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert resolve_mode(None) is OutputMode.TABLE
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert resolve_mode(None) is OutputMode.PLAIN
    assert resolve_mode(OutputMode.JSON) is OutputMode.JSON


def test_each_status_has_its_exit_code() -> None:
    expected = {400: 2, 401: 4, 403: 4, 404: 6, 409: 5, 413: 2, 422: 2, 429: 3, 500: 3, 503: 3}
    assert {status: exit_code_of_status(status) for status in expected} == expected


def test_the_token_comes_from_the_environment_a_file_or_the_local_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("USAGE_PIPELINE_TOKEN", raising=False)
    (tmp_path / DEMO_TOKEN_FILE).write_text("demo-token-value\n")
    local, remote = service_url("http://127.0.0.1:8000"), service_url("https://usage.acme.dev")
    assert find_token(None, local, tmp_path) == SecretStr("demo-token-value")
    assert find_token(None, remote, tmp_path) is None  # the demo's token stays on this machine
    (tmp_path / "token").write_text("file-token-value\n")
    assert find_token(tmp_path / "token", remote, None) == SecretStr("file-token-value")
    monkeypatch.setenv("USAGE_PIPELINE_TOKEN", "env-token-value")
    assert find_token(tmp_path / "token", remote, None) == SecretStr("env-token-value")
    monkeypatch.setenv("USAGE_PIPELINE_TOKEN", "two words")  # would break the header
    with pytest.raises(CommandError) as broken:
        find_token(None, remote, None)
    assert str(broken.value).startswith("USAGE_PIPELINE_TOKEN contains whitespace (a space)")
    assert "two words" not in str(broken.value) and broken.value.code is ExitCode.INVALID
    monkeypatch.delenv("USAGE_PIPELINE_TOKEN")
    with pytest.raises(CommandError, match="cannot read") as missing:
        find_token(tmp_path / "absent", remote, None)
    assert missing.value.code is ExitCode.INVALID
    for bad in ("ftp://host", "usage.acme.dev", "http://"):
        with pytest.raises(CommandError, match="is not an http"):
            service_url(bad)
    assert str(service_url("https://acme.dev/usage")) == "https://acme.dev/usage/"


PROBLEM = {"type": "about:blank", "title": "Conflict", "status": 409,
           "detail": "run 1 is already queued or running", "run_id": "1"}  # fmt: skip


@respx.mock
def test_answers_become_one_line_and_an_exit_code() -> None:
    client = ServiceClient(service_url("http://svc.test"), SecretStr("secret-token-value"))
    respx.get("http://svc.test/runs").mock(
        return_value=httpx.Response(409, json=PROBLEM, headers={"content-type": "application/problem+json"})
    )  # fmt: skip
    with pytest.raises(CommandError) as conflict:
        client.get("runs", RunList)
    assert conflict.value.code is ExitCode.CONFLICT
    assert str(conflict.value) == (
        "http://svc.test/runs: 409 Conflict: run 1 is already queued or running"
        " (follow it: usage-pipeline runs show 1 --wait)"
    )
    respx.get("http://svc.test/runs").mock(return_value=httpx.Response(200, text="<html>"))
    with pytest.raises(CommandError, match="did not answer as the service") as html:
        client.get("runs", RunList)
    assert html.value.code is ExitCode.UNREACHABLE
    route = respx.get("http://svc.test/runs").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"runs": [], "next": None})]
    )
    before = route.call_count
    assert client.get("runs", RunList).runs == [] and route.call_count - before == 2  # a restart
    respx.get("http://svc.test/runs").mock(side_effect=httpx.ConnectError("[Errno 111] Refused"))
    with pytest.raises(CommandError, match=r"cannot reach http://svc\.test/runs: Refused") as down:
        client.get("runs", RunList)
    assert down.value.code is ExitCode.UNREACHABLE and "secret-token-value" not in str(down.value)
    cancel = respx.post("http://svc.test/runs/1/cancel").mock(
        side_effect=httpx.ConnectError("[Errno 104] Reset")
    )
    with pytest.raises(CommandError):
        client.post("runs/1/cancel", RunList)
    assert cancel.call_count == 1  # without an Idempotency-Key a POST is never sent twice


@respx.mock
def test_a_heal_with_nothing_to_do_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGE_PIPELINE_TOKEN", "secret-token-value")
    detail = "nothing to heal: every day of the last 14 days (BACKFILL_HORIZON_DAYS) is final"
    posted = respx.post("http://svc.test/runs").mock(
        return_value=httpx.Response(
            422, json={"type": NOTHING_TO_HEAL, "title": "Unprocessable Entity",
                       "status": 422, "detail": detail},
        )
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["heal", "--url", "http://svc.test", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"event": "nothing_to_heal", "detail": detail}
    sent = posted.calls.last.request
    assert json.loads(sent.content) == {"mode": "heal"} and sent.headers["Idempotency-Key"]
    assert sent.headers["Authorization"] == "Bearer secret-token-value"


def _section(title: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _commands(group: TyperGroup, prefix: str = "") -> dict[str, Any]:
    """Every command by its full name (`runs list`), through the sub-apps."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found |= _commands(command, f"{prefix}{name} ")
        else:
            found[prefix + name] = command
    return found


def test_every_command_that_prints_data_documents_its_json_shape() -> None:
    commands = _commands(typer.main.get_group(cli))
    with_output = sorted(
        name for name, c in commands.items() if any(p.name == "output" for p in c.params)
    )
    assert {"run", "trigger", "heal", "runs list", "runs show", "runs cancel", "coverage",
            "sources", "spend", "seats", "digest"} <= set(with_output)  # fmt: skip
    shapes = _section("The JSON shapes")
    assert [name for name in with_output if f"| `usage-pipeline {name}` |" not in shapes] == []


def test_every_exit_code_is_documented() -> None:
    table = _section("Exit codes")
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert rows[1:] == [str(int(code)) for code in ExitCode]


@pytest.mark.usefixtures("logs_restored")  # `run` points the logs at the runner's stderr
@pytest.mark.parametrize("args", [("runs", "list"), ("spend",), ("accounts", "list"), ("run",)])
def test_a_database_out_of_reach_is_one_line_and_exit_3(args: tuple[str, ...]) -> None:
    env = {"DATABASE_URL": "postgresql://usage:hunter2hunter2@127.0.0.1:1/usage",
           "CURSOR_API_KEY": "key_0123456789abcdef0123456789"}  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "-o", "json"], env=env)
    assert result.exit_code == ExitCode.UNREACHABLE, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr, result.stderr
    assert "DATABASE_URL" in result.stderr
