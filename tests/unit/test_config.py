"""Settings: defaults, parsing, and one-line errors naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.config import SettingsError, load_settings


def test_defaults_match_the_documented_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SCHEDULE_CRON", "LOOKBACK_DAYS", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url is None
    assert str(settings.data_dir) == ".data"
    assert str(settings.cursor_api_base_url) == "https://api.cursor.com/"
    assert str(settings.anthropic_api_base_url) == "https://api.anthropic.com/"
    assert settings.schedule_cron == "30 2 * * *"
    assert settings.schedule_timezone == "UTC"
    assert settings.scheduler_enabled is True
    assert settings.lookback_days == 3
    assert settings.claude_code_workspace_ids == []


def test_workspace_ids_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_WORKSPACE_IDS", " wrkspc_a, ,wrkspc_b ")
    assert load_settings(_env_file=None).claude_code_workspace_ids == ["wrkspc_a", "wrkspc_b"]


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURSOR_API_KEY", "key_supersecret")
    monkeypatch.setenv("API_TOKEN", "token_supersecret_0123456789abcdef")
    settings = load_settings(_env_file=None)
    assert "supersecret" not in repr(settings)
    assert "supersecret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LOOKBACK_DAYS", "zero", "invalid setting LOOKBACK_DAYS:"),
        (
            "LOOKBACK_DAYS",
            "0",
            "invalid setting LOOKBACK_DAYS: Input should be greater than or equal to 1",
        ),
        ("SCHEDULE_CRON", "every day", "invalid setting SCHEDULE_CRON: not a 5-field crontab"),
        (
            "SCHEDULE_TIMEZONE",
            "Mars/Olympus",
            "invalid setting SCHEDULE_TIMEZONE: unknown IANA time zone",
        ),
        (
            "DATABASE_URL",
            "mysql://x/y",
            "invalid setting DATABASE_URL: must be a postgresql:// DSN",
        ),
        ("LOG_FORMAT", "xml", "invalid setting LOG_FORMAT:"),
        ("CURSOR_API_BASE_URL", "not a url", "invalid setting CURSOR_API_BASE_URL:"),
        ("ATTRIBUTION_CONFIDENCES", '{"guess": 0.5}', "invalid setting ATTRIBUTION_CONFIDENCES:"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_start_up_stops_with_that_line_and_exit_code_2() -> None:
    """The CLI is how the service starts: a bad value ends it before anything else runs."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env={"PATH": "/usr/bin:/bin", "LOOKBACK_DAYS": "-4", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "usage-pipeline: invalid setting LOOKBACK_DAYS: Input should be greater than or equal to 1"
    ]


def test_the_configuration_page_documents_every_setting_as_generated() -> None:
    from pathlib import Path

    from app.config import Settings
    from app.settings_docs import MEANINGS, render

    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in page]
    assert not missing, f"docs/configuration.md lacks: {missing}"
    assert set(MEANINGS) == set(Settings.model_fields), "every setting needs its meaning"
    assert all(MEANINGS.values()), "a setting without a meaning"
    assert page == render(), "docs/configuration.md is stale: run `make docs`"


def test_a_revision_horizon_for_an_unknown_source_is_one_line_naming_the_setting() -> None:
    from app.orchestration.sources.registry import REGISTRY

    settings = load_settings(revision_horizon_days={"cursr": 2})
    with pytest.raises(SettingsError, match=r"^invalid setting REVISION_HORIZON_DAYS: unknown"):
        REGISTRY.check_settings(settings)
