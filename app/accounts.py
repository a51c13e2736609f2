"""Accounts: the Cursor teams and Anthropic organisations one deployment reads.

An account is a short, stable name for one upstream credential scope. Every number the service
stores carries it in its key, so the same key id or user id in two organisations are two
things. Accounts come from two places:

- the environment's single-key settings (`CURSOR_API_KEY`, `ANTHROPIC_ADMIN_API_KEY`, …), which
  make up the account named `default`, as before accounts existed;
- the file `ACCOUNTS_FILE` names (TOML), one `[[account]]` table per account::

      [[account]]
      name = "north"                      # stable: it is in every row's key
      kind = "cursor_team"                # what the account is (see `AccountKind`)
      secret_env = "CURSOR_KEY_NORTH"     # or secret_file = "/run/secrets/cursor-north"
      base_url = "https://api.cursor.com" # optional
      requests_per_minute = 20            # optional: the kind's limits

  The secret never sits in the file: it is read from the variable or file the entry names.

Each account runs with the deployment's settings, its own credential, URL and limits in place
of the single-key ones (`Account.settings`), so every source, client and rate limiter works
per account unchanged — each account has its own rate budget. Upstream packages declare the
kinds an account of theirs can be; the registry resolves the file against them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pydantic import HttpUrl, SecretStr, ValidationError

from app.access import secret_problem
from app.config import (
    SCOPE_NAME,
    UPSTREAM_KEY_SETTINGS,
    UPSTREAM_SCOPE_SETTINGS,
    Settings,
    is_loopback,
)

DEFAULT_ACCOUNT = "default"
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ENTRY_FIELDS = frozenset({"name", "kind", "secret_env", "secret_file", "base_url"})


class AccountSource(NamedTuple):
    """One account's source: the grain of run progress, coverage and the ledger's metrics."""

    account: str
    source: str

    def __str__(self) -> str:
        return f"{self.account}/{self.source}"

    @property
    def label(self) -> str:
        """How runs, the CLI and errors name it: the source alone for the account `default`
        (as before accounts existed), else `account/source`."""
        return self.source if self.account == DEFAULT_ACCOUNT else str(self)


class AccountFileError(ValueError):
    """The account file is unusable; one line naming the account and the field."""


@dataclass(frozen=True)
class ExtraKey:
    """A further key an account of a kind may hold (`<prefix>_secret_env` or
    `<prefix>_secret_file`): the setting it fills and the settings it turns on."""

    setting: str
    enables: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountKind:
    """What an account of an upstream can be, declared by its package: the setting its secret
    fills, the setting its `base_url` overrides, the limits an entry may set (entry field →
    setting), settings the kind turns on, and further keys of the same organisation (by entry
    field prefix: one organisation read with several keys is one account)."""

    name: str
    upstream: str
    description: str
    secret_setting: str
    base_url_setting: str
    limits: Mapping[str, str] = field(default_factory=dict)
    enables: Mapping[str, object] = field(default_factory=dict)
    extra_keys: Mapping[str, ExtraKey] = field(default_factory=dict)
    # What an entry must name besides its key (entry field → setting): a GitHub organisation.
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountEntry:
    """One `[[account]]` of the file, its secret read, its values checked."""

    name: str
    kind: AccountKind
    secret: SecretStr
    secret_from: str  # "secret_env NAME" or "secret_file PATH", for messages
    base_url: HttpUrl | None
    limits: Mapping[str, float]
    extra: Mapping[str, tuple[SecretStr, str]] = field(default_factory=dict)  # by prefix
    names: Mapping[str, str] = field(default_factory=dict)  # by entry field

    def secrets(self) -> dict[str, tuple[SecretStr, str]]:
        """Every key of the account by the setting it fills: (secret, where it came from)."""
        keys = {self.kind.secret_setting: (self.secret, self.secret_from)}
        for prefix, (secret, source) in self.extra.items():
            keys[self.kind.extra_keys[prefix].setting] = (secret, source)
        return keys

    def overrides(self) -> dict[str, object]:
        """The settings this account replaces (besides clearing every other upstream key)."""
        values: dict[str, object] = {self.kind.secret_setting: self.secret, **self.kind.enables}
        for prefix, (secret, _) in self.extra.items():
            extra = self.kind.extra_keys[prefix]
            values.update({extra.setting: secret, **extra.enables})
        values.update({self.kind.names[name]: value for name, value in self.names.items()})
        if self.base_url is not None:
            values[self.kind.base_url_setting] = self.base_url
        values.update({self.kind.limits[name]: value for name, value in self.limits.items()})
        return values


def _where(entry: Mapping[str, object], position: int) -> str:
    name = entry.get("name")
    return f"account {name!r}" if isinstance(name, str) else f"account #{position}"


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise AccountFileError(f"{where}: {key} must be a non-empty string")
    return value


def _secret(
    entry: Mapping[str, object], where: str, environ: Mapping[str, str], prefix: str = ""
) -> tuple[SecretStr, str]:
    env_field, file_field = f"{prefix}secret_env", f"{prefix}secret_file"
    variable, path = entry.get(env_field), entry.get(file_field)
    if (variable is None) == (path is None):
        raise AccountFileError(f"{where}: set exactly one of {env_field} and {file_field}")
    if variable is not None:
        name = _text(entry, env_field, where)
        value = environ.get(name)
        if not value:
            raise AccountFileError(f"{where}: {env_field} {name} is not set")
        source = f"{env_field} {name}"
    else:
        name = _text(entry, file_field, where)
        try:
            # The file's final line break is not part of the secret (`echo … > file`).
            value = Path(name).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise AccountFileError(
                f"{where}: {file_field} {name} cannot be read ({reason})"
            ) from None
        source = f"{file_field} {name}"
    if problem := secret_problem(value):
        raise AccountFileError(f"{where}: the secret from {source} {problem}")
    return SecretStr(value), source


def _slug(entry: Mapping[str, object], key: str, where: str) -> str:
    value = _text(entry, key, where)
    if not SCOPE_NAME.fullmatch(value):
        raise AccountFileError(f"{where}: {key} must be letters, digits, '-', '_' or '.'")
    return value


def _limits(entry: Mapping[str, object], kind: AccountKind, where: str) -> dict[str, float]:
    limits: dict[str, float] = {}
    extra_fields = {f"{p}_secret_{how}" for p in kind.extra_keys for how in ("env", "file")}
    extra_fields |= set(kind.names)
    for key, value in entry.items():
        if key in _ENTRY_FIELDS or key in extra_fields:
            continue
        if key not in kind.limits:
            known = ", ".join(sorted(_ENTRY_FIELDS | set(kind.limits) | extra_fields))
            raise AccountFileError(f"{where}: unknown field {key!r} (known: {known})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise AccountFileError(f"{where}: {key} must be a number above 0")
        limits[key] = float(value)
    return limits


def _base_url(entry: Mapping[str, object], where: str, allow_insecure: bool) -> HttpUrl | None:
    if "base_url" not in entry:
        return None
    try:
        url = HttpUrl(_text(entry, "base_url", where))
    except ValidationError:
        raise AccountFileError(f"{where}: base_url is not an http(s) URL") from None
    if url.scheme != "https" and not allow_insecure and not is_loopback(url.host or ""):
        raise AccountFileError(
            f"{where}: base_url must be https:// (the key would travel in clear to {url.host});"
            " ALLOW_INSECURE_UPSTREAMS=true allows it"
        )
    return url


def _entry(
    raw: object, position: int, kinds: Mapping[str, AccountKind], settings: Settings
) -> AccountEntry:
    if not isinstance(raw, dict):
        raise AccountFileError(f"account #{position}: must be a table ([[account]])")
    where = _where(raw, position)
    name = _text(raw, "name", where)
    if not ACCOUNT_NAME.fullmatch(name):
        raise AccountFileError(
            f"{where}: name must be 1-40 lower-case letters, digits, '-' or '_', starting with a"
            " letter or digit"
        )
    if name == DEFAULT_ACCOUNT:
        raise AccountFileError(
            f"{where}: name {DEFAULT_ACCOUNT!r} is the account of the single-key settings"
            " (CURSOR_API_KEY, …); choose another"
        )
    kind_name = _text(raw, "kind", where)
    kind = kinds.get(kind_name)
    if kind is None:
        raise AccountFileError(
            f"{where}: unknown kind {kind_name!r} (known: {', '.join(sorted(kinds))})"
        )
    secret, secret_from = _secret(raw, where, os.environ)
    extra = {
        prefix: _secret(raw, where, os.environ, f"{prefix}_")
        for prefix in kind.extra_keys
        if f"{prefix}_secret_env" in raw or f"{prefix}_secret_file" in raw
    }
    return AccountEntry(
        name=name,
        kind=kind,
        secret=secret,
        secret_from=secret_from,
        extra=extra,
        names={field: _slug(raw, field, where) for field in kind.names},
        base_url=_base_url(raw, where, settings.allow_insecure_upstreams),
        limits=_limits(raw, kind, where),
    )


def read_accounts_file(
    path: Path, kinds: Mapping[str, AccountKind], settings: Settings
) -> tuple[AccountEntry, ...]:
    """Every account of the file, checked: `AccountFileError` on the first problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountFileError(f"cannot read {path} ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AccountFileError(f"{path} is not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"account"})
    if unknown:
        raise AccountFileError(f"{path}: unknown top-level key(s) {unknown}; use [[account]]")
    raw = document.get("account", [])
    if not isinstance(raw, list):
        raise AccountFileError(f"{path}: 'account' must be an array of tables ([[account]])")
    entries: list[AccountEntry] = []
    seen: dict[str, str] = {}
    for position, item in enumerate(raw, start=1):
        entry = _entry(item, position, kinds, settings)
        if any(other.name == entry.name for other in entries):
            raise AccountFileError(f"account {entry.name!r}: name is listed twice")
        for secret, _ in entry.secrets().values():
            value = secret.get_secret_value()
            if value in seen:
                # Two names for one credential would count its usage twice.
                raise AccountFileError(
                    f"account {entry.name!r}: its secret is the secret of account {seen[value]!r}"
                )
            seen[value] = entry.name
        entries.append(entry)
    return tuple(entries)


@dataclass(frozen=True)
class Account:
    """An account as runs use it: its name, its kind (None: the single-key settings) and the
    settings its sources and clients are built from."""

    name: str
    kind: AccountKind | None
    settings: Settings
    # How errors name its keys, by the setting each fills ("CURSOR_API_KEY": "account north's
    # key (secret_env CURSOR_KEY_NORTH)"); none: by the setting, as for the single-key ones.
    key_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def upstream(self) -> str | None:
        return None if self.kind is None else self.kind.upstream


def account_settings(base: Settings, entry: AccountEntry) -> Settings:
    """The deployment's settings with this account's credential, URL and limits in place of
    every single-key one."""
    cleared: dict[str, object] = dict.fromkeys((*UPSTREAM_KEY_SETTINGS, *UPSTREAM_SCOPE_SETTINGS))
    cleared["claude_ai_activity_enabled"] = False
    cleared["accounts_file"] = None
    return base.model_copy(update={**cleared, **entry.overrides()})
