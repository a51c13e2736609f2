"""ACCOUNTS_FILE: each account resolved to its own settings; every bad file stops start-up with
one line naming the account and the field, never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import SettingsError, load_settings
from app.orchestration.sources.registry import REGISTRY

CURSOR_KEY = "key_north_0123456789abcdef"
ADMIN_KEY = "sk-ant-admin01-org-0123456789"


def _settings(tmp_path: Path, text: str, **overrides: object) -> object:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    return load_settings(_env_file=None, accounts_file=path, **overrides)


def _accounts(tmp_path: Path, text: str, **overrides: object) -> list[tuple[str, list[str]]]:
    settings = _settings(tmp_path, text, **overrides)
    return [
        (account.name, REGISTRY.configured(account.settings))
        for account in REGISTRY.accounts(settings)  # type: ignore[arg-type]
    ]


def _error(tmp_path: Path, text: str, **overrides: object) -> str:
    with pytest.raises(SettingsError) as raised:
        REGISTRY.check_settings(_settings(tmp_path, text, **overrides))  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message and CURSOR_KEY not in message and ADMIN_KEY not in message
    return message


GOOD = """
[[account]]
name = "north"
kind = "cursor_team"
secret_env = "AUP_TEST_NORTH"
requests_per_minute = 5

[[account]]
name = "org"
kind = "anthropic_organization"
secret_file = "{secret_file}"
base_url = "https://anthropic.example.net"
"""


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUP_TEST_NORTH", CURSOR_KEY)
    for name in ("CURSOR_API_KEY", "ANTHROPIC_ADMIN_API_KEY", "ANTHROPIC_ANALYTICS_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_each_account_runs_on_its_own_key_url_and_limits(tmp_path: Path) -> None:
    secret = tmp_path / "org.key"
    secret.write_text(ADMIN_KEY + "\n")  # `echo key > file`: the newline is not the key's
    settings = _settings(
        tmp_path, GOOD.format(secret_file=secret), cursor_api_key="key_env_0123456789"
    )
    accounts = {a.name: a for a in REGISTRY.accounts(settings)}  # type: ignore[arg-type]
    assert list(accounts) == ["default", "north", "org"]
    north, org = accounts["north"].settings, accounts["org"].settings
    assert (
        north.cursor_api_key is not None and north.cursor_api_key.get_secret_value() == CURSOR_KEY
    )
    assert (north.cursor_requests_per_minute, north.anthropic_admin_api_key) == (5.0, None)
    assert org.anthropic_admin_api_key is not None
    assert org.anthropic_admin_api_key.get_secret_value() == ADMIN_KEY
    assert (org.cursor_api_key, str(org.anthropic_api_base_url)) == (
        None, "https://anthropic.example.net/"
    )  # fmt: skip
    assert REGISTRY.configured(org) == ["claude_code", "claude_usage", "claude_cost"]
    assert accounts["north"].key_labels == {
        "CURSOR_API_KEY": "account north's key (secret_env AUP_TEST_NORTH)"
    }


def test_one_organisation_read_with_several_keys_is_one_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its claude.ai Claude Code and API traffic must be one organisation's for the views to
    count them once, so its Analytics and Compliance keys sit in its entry."""
    monkeypatch.setenv("AUP_TEST_ADMIN", ADMIN_KEY)
    monkeypatch.setenv("AUP_TEST_ANALYTICS", "sk-ant-analytics-org-0123456789")
    monkeypatch.setenv("AUP_TEST_COMPLIANCE", "sk-ant-api01-compliance-org-0123")
    settings = _settings(
        tmp_path,
        '[[account]]\nname = "org"\nkind = "anthropic_organization"\n'
        'secret_env = "AUP_TEST_ADMIN"\nanalytics_secret_env = "AUP_TEST_ANALYTICS"\n'
        'compliance_secret_env = "AUP_TEST_COMPLIANCE"\nanalytics_requests_per_minute = 30\n',
    )
    (org,) = REGISTRY.accounts(settings)  # type: ignore[arg-type]
    assert REGISTRY.configured(org.settings) == [
        "claude_code", "claude_usage", "claude_cost", "claude_ai"
    ]  # fmt: skip
    assert org.settings.claude_ai_activity_enabled
    assert org.settings.anthropic_analytics_requests_per_minute == 30.0
    assert org.key_labels["ANTHROPIC_ANALYTICS_API_KEY"] == (
        "account org's key (analytics_secret_env AUP_TEST_ANALYTICS)"
    )
    message = _error(
        tmp_path,
        '[[account]]\nname = "org"\nkind = "anthropic_organization"\n'
        'secret_env = "AUP_TEST_ADMIN"\nanalytics_secret_env = "AUP_TEST_MISSING"\n',
    )
    assert "account 'org': analytics_secret_env AUP_TEST_MISSING is not set" in message


def test_without_a_file_the_single_key_settings_are_the_account_default() -> None:
    settings = load_settings(_env_file=None, cursor_api_key="key_env_0123456789")
    assert [a.name for a in REGISTRY.accounts(settings)] == ["default"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n'
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n',
            "account 'north': name is listed twice",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_org"\nsecret_env = "AUP_TEST_NORTH"\n',
            "account 'north': unknown kind 'cursor_org' (known: anthropic_compliance,",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_MISSING"\n',
            "account 'north': secret_env AUP_TEST_MISSING is not set",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_file = "/nonexistent/k"\n',
            "account 'north': secret_file /nonexistent/k cannot be read (No such file or",
        ),
        (
            '[[account]]\nname = "North Team"\nkind = "cursor_team"\nsecret_env = "X"\n',
            "account 'North Team': name must be 1-40 lower-case letters",
        ),
        (
            '[[account]]\nname = "default"\nkind = "cursor_team"\nsecret_env = "X"\n',
            "account 'default': name 'default' is the account of the single-key settings",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n'
            "requests_per_minut = 5\n",
            "account 'north': unknown field 'requests_per_minut'",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n'
            'base_url = "http://cursor.internal"\n',
            "account 'north': base_url must be https://",
        ),
        (
            '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n'
            '[[account]]\nname = "south"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n',
            "account 'south': its secret is the secret of account 'north'",
        ),
        ("[[account]\n", "is not valid TOML"),
        ('[accounts]\nname = "x"\n', "unknown top-level key(s) ['accounts']; use [[account]]"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_account_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = _error(tmp_path, text)
    assert message.startswith("invalid setting ACCOUNTS_FILE: ")
    assert expected in message, message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, accounts_file=tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match=r"ACCOUNTS_FILE: cannot read .*missing.toml"):
        REGISTRY.check_settings(settings)


def test_a_file_account_may_not_reuse_a_single_key_setting(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n',
        cursor_api_key=CURSOR_KEY,
    )
    assert "account 'north': its secret is a key of the single-key settings" in message


def test_account_secrets_are_masked_in_logs(tmp_path: Path) -> None:
    from app import redaction

    _accounts(
        tmp_path,
        '[[account]]\nname = "north"\nkind = "cursor_team"\nsecret_env = "AUP_TEST_NORTH"\n',
    )
    assert CURSOR_KEY not in redaction.safe_text(f"failed with {CURSOR_KEY}", 200)


def test_the_cli_stops_at_a_bad_file_with_its_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nname = "north"\nkind = "cursor_org"\nsecret_env = "X"\n')
    result = CliRunner().invoke(
        cli, ["run", "--dry-run"], env={"ACCOUNTS_FILE": str(path), "CURSOR_API_KEY": ""}
    )
    assert result.exit_code == 2
    assert result.output.startswith(
        "usage-pipeline: invalid setting ACCOUNTS_FILE: account 'north': unknown kind 'cursor_org'"
    )


GITHUB = """
[[account]]
name = "gh-acme"
kind = "github_organization"
organization = "acme"
secret_env = "AUP_TEST_NORTH"

[[account]]
name = "gh-corp"
kind = "github_enterprise"
enterprise = "acme-corp"
secret_env = "AUP_TEST_GH_CORP"
"""


def test_github_accounts_name_their_organisation_or_enterprise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUP_TEST_GH_CORP", "ghp_corp0123456789abcdef")
    # The single-key account's organisation is never inherited by a file account.
    settings = _settings(tmp_path, GITHUB, github_organization="default-org")
    accounts = {a.name: a.settings for a in REGISTRY.accounts(settings)}  # type: ignore[arg-type]
    acme, corp = accounts["gh-acme"], accounts["gh-corp"]
    assert (acme.github_organization, acme.github_enterprise) == ("acme", None)
    assert (corp.github_organization, corp.github_enterprise) == (None, "acme-corp")
    assert REGISTRY.configured(acme) == ["copilot_usage", "copilot_billing"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('kind = "github_organization"',
         "account 'gh': organization must be a non-empty string"),
        ('kind = "github_organization"\norganization = "acme corp"',
         "account 'gh': organization must be letters, digits, '-', '_' or '.'"),
        ('kind = "github_enterprise"\norganization = "acme"',
         "account 'gh': enterprise must be a non-empty string"),
    ],
)  # fmt: skip
def test_a_github_account_without_its_organisation_is_refused(
    tmp_path: Path, entry: str, message: str
) -> None:
    text = f'[[account]]\nname = "gh"\n{entry}\nsecret_env = "AUP_TEST_NORTH"\n'
    assert _error(tmp_path, text) == f"invalid setting ACCOUNTS_FILE: {message}"


@pytest.mark.parametrize(
    "overrides",
    [{}, {"github_organization": "acme", "github_enterprise": "acme-corp"}],
    ids=["neither", "both"],
)
def test_a_github_token_reads_exactly_one_organisation_or_enterprise(
    overrides: dict[str, str],
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, github_token="ghp_0123456789abcdef", **overrides)
    assert str(raised.value) == (
        "invalid settings: GITHUB_TOKEN reads one GitHub organisation or enterprise: set exactly"
        " one of GITHUB_ORGANIZATION and GITHUB_ENTERPRISE"
    )
