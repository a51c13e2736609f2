"""API tokens: what a secret setting may contain, and the named, scoped tokens of the API.

Tokens come from `API_TOKEN` (one token with every scope, as before), `API_TOKENS` (a JSON
list) and `API_TOKENS_FILE` (the same JSON in a file, read again when it changes, so tokens
rotate without a restart: add the new one, move clients over, remove the old one). Each entry
is `{"name": "grafana", "scopes": ["read"], "token": "…"}`.

Every message here names the setting and the entry, never the secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import SecretStr

from app.vocabulary import ApiScope

MIN_TOKEN_CHARS = 32
# Values published in our own examples and docs, and the words such placeholders are made of:
# a token or key containing one is an example someone forgot to replace.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "placeholder", "example")
TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
API_TOKEN_NAME = "api_token"  # the name runs started with API_TOKEN are recorded under
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


def secret_problem(value: str) -> str | None:
    """Why `value` cannot be a key or token, or None. Whitespace is the usual culprit: a file
    written by `echo` ends in a newline, and `kubectl create secret --from-file` keeps it."""
    if _PRINTABLE_ASCII.fullmatch(value):
        lowered = value.lower()
        word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
        return None if word is None else f"is a placeholder (contains {word!r}): set the real value"
    for position, char in enumerate(value):
        if not "\x21" <= char <= "\x7e":
            kind = (
                "whitespace"
                if char.isspace()
                else "a control character"
                if ord(char) < 0x20 or ord(char) == 0x7F
                else "a non-ASCII character"
            )
            where = "at its end" if position == len(value) - 1 else f"at position {position + 1}"
            return (
                f"contains {kind} ({_describe_char(char)}) {where}; keys and tokens are printable"
                " ASCII without spaces (a trailing newline from `echo … > file`?)"
            )
    return "is empty"


def _describe_char(char: str) -> str:
    return {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}.get(
        char, f"U+{ord(char):04X}"
    )


def token_problem(value: str) -> str | None:
    """`secret_problem`, and a token must be long enough not to be guessed."""
    problem = secret_problem(value)
    if problem is None and len(value) < MIN_TOKEN_CHARS:
        return (
            f"is {len(value)} characters; a token needs at least {MIN_TOKEN_CHARS}"
            " (e.g. `openssl rand -hex 32`)"
        )
    return problem


@dataclass(frozen=True)
class NamedToken:
    name: str
    scope: ApiScope  # the highest scope listed; it includes the ones below it
    secret: SecretStr

    def allows(self, needed: ApiScope) -> bool:
        return self.scope.includes(needed)


class TokenListError(ValueError):
    """A token list that cannot be used; the message names the entry, never its secret."""


def parse_tokens(text: str) -> list[NamedToken]:
    """The JSON list of `API_TOKENS` / `API_TOKENS_FILE`, validated whole."""
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise TokenListError(f"not JSON ({exc.__class__.__name__} at char {_pos(exc)})") from None
    if not isinstance(entries, list):
        raise TokenListError('must be a JSON list of {"name", "scopes", "token"} objects')
    tokens = [_entry(index, entry) for index, entry in enumerate(entries, start=1)]
    names = [token.name for token in tokens]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise TokenListError(f"token name {duplicate!r} is listed twice")
    secrets = [token.secret.get_secret_value() for token in tokens]
    if len(set(secrets)) != len(secrets):
        raise TokenListError("two entries have the same token")
    return tokens


def _pos(exc: ValueError) -> object:
    return getattr(exc, "pos", "?")


def _entry(index: int, entry: object) -> NamedToken:
    if not isinstance(entry, dict) or set(entry) - {"name", "scopes", "token"}:
        raise TokenListError(f"entry {index}: expected an object with name, scopes and token")
    name = entry.get("name")
    if not isinstance(name, str) or not TOKEN_NAME.match(name):
        raise TokenListError(
            f"entry {index}: name must be 1–63 of a-z 0-9 _ . - (starting with a letter or digit)"
        )
    scopes = entry.get("scopes")
    known = {scope.value for scope in ApiScope}
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(s, str) and s in known for s in scopes)
    ):
        raise TokenListError(f"token {name!r}: scopes must be a non-empty list of {sorted(known)}")
    secret = entry.get("token")
    if not isinstance(secret, str):
        raise TokenListError(f"token {name!r}: token must be a string")
    if (problem := token_problem(secret)) is not None:
        raise TokenListError(f"token {name!r} {problem}")
    highest = max((ApiScope(s) for s in scopes), key=list(ApiScope).index)
    return NamedToken(name, highest, SecretStr(secret))
