"""Keys and tokens checked at start-up, each problem one line naming the setting and never the
value; scoped token lists; upstreams over https; the settings a pod cannot run without."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.access import parse_tokens
from app.config import SettingsError, load_settings
from app.vocabulary import ApiScope

STRONG = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "ANTHROPIC_ADMIN_API_KEY",
            "sk-ant-admin01-abc\n",
            "contains whitespace (a newline) at its end",
        ),
        (
            "ANTHROPIC_ADMIN_API_KEY",
            "sk-ant-admin01-abc\r\n",
            "contains whitespace (a carriage return)",
        ),
        ("CURSOR_API_KEY", "key_abc\t", "contains whitespace (a tab) at its end"),
        ("CURSOR_API_KEY", "key_\u00a0abc", "contains whitespace (U+00A0) at position 5"),
        ("CURSOR_API_KEY", "key_\x07abc", "contains a control character (U+0007)"),
        ("ANTHROPIC_ANALYTICS_API_KEY", "sk-ant-é", "contains a non-ASCII character (U+00E9)"),
        ("CURSOR_API_KEY", "key_CHANGE-ME", "is a placeholder (contains 'change-me')"),
        ("API_TOKEN", "short", "is 5 characters; a token needs at least 32"),
        ("API_TOKEN", "CHANGE-ME-to-a-long-random-string", "is a placeholder"),
        ("API_TOKEN", STRONG + " ", "contains whitespace (a space) at its end"),
    ],
)
def test_a_bad_key_or_token_stops_start_up_naming_the_setting(
    setting: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{setting.lower(): value})
    text = str(caught.value)
    assert text.startswith(f"invalid setting {setting}: ")
    assert message in text
    assert value.strip() not in text and "\n" not in text


def test_token_lists_name_the_entry_never_the_token(tmp_path: Path) -> None:
    good = [{"name": "grafana", "scopes": ["read"], "token": STRONG},
            {"name": "ops", "scopes": ["read", "admin"], "token": STRONG[::-1]}]  # fmt: skip
    tokens = parse_tokens(json.dumps(good))
    assert [(t.name, t.scope) for t in tokens] == [
        ("grafana", ApiScope.READ),
        ("ops", ApiScope.ADMIN),
    ]
    assert tokens[1].allows(ApiScope.TRIGGER) and not tokens[0].allows(ApiScope.TRIGGER)
    bad = {
        "[1]": "entry 1: expected an object",
        json.dumps([{**good[0], "scopes": ["write"]}]): "token 'grafana': scopes must be",
        json.dumps([{**good[0], "token": "x" * 31}]): "token 'grafana' is 31 characters",
        json.dumps([good[0], {**good[1], "name": "grafana"}]): "'grafana' is listed twice",
        json.dumps([good[0], {**good[1], "token": STRONG}]): "two entries have the same token",
        json.dumps([{**good[0], "name": "Bad Name"}]): "entry 1: name must be",
        "{not json": "not JSON",
    }
    for text, message in bad.items():
        with pytest.raises(SettingsError) as caught:
            load_settings(_env_file=None, api_tokens=text)
        assert str(caught.value).startswith("invalid setting API_TOKENS: ")
        assert message in str(caught.value) and STRONG not in str(caught.value)
    missing = tmp_path / "absent.json"
    with pytest.raises(
        SettingsError, match=r"invalid setting API_TOKENS_FILE: cannot read .*absent"
    ):
        load_settings(_env_file=None, api_tokens_file=missing)


def test_api_token_is_a_token_with_every_scope() -> None:
    settings = load_settings(_env_file=None, api_token=STRONG, api_tokens=json.dumps(
        [{"name": "grafana", "scopes": ["read"], "token": STRONG[::-1]}]))  # fmt: skip
    assert [(t.name, t.scope) for t in settings.listed_tokens()] == [
        ("api_token", ApiScope.ADMIN), ("grafana", ApiScope.READ)]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.cursor.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://api.cursor.com", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_upstreams_are_https_unless_loopback_or_allowed(url: str, allowed: bool) -> None:
    if allowed:
        load_settings(_env_file=None, cursor_api_base_url=url)
    else:
        with pytest.raises(SettingsError, match="CURSOR_API_BASE_URL must be https://"):
            load_settings(_env_file=None, cursor_api_base_url=url)
        load_settings(_env_file=None, cursor_api_base_url=url, allow_insecure_upstreams=True)


def test_serve_needs_a_database_unless_the_embedded_one_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pod without DATABASE_URL must not start its own PostgreSQL in /tmp and report ready."""
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("EMBEDDED_DATABASE", raising=False)
    result = CliRunner().invoke(cli, ["serve"], env={"DATABASE_URL": ""})
    assert result.exit_code == 2
    assert "DATABASE_URL is not set" in result.output and "EMBEDDED_DATABASE=true" in result.output
