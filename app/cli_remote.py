"""The CLI as a client of a running service (`--url` or USAGE_PIPELINE_URL, and a token).

Answers are parsed into the API's own models, so a remote command prints exactly what its local
twin prints; a problem+json answer becomes one line with the API's own detail (its validation
messages are the ones the user sees) and the exit code of its status (app.cli_errors).
Idempotent calls — GETs, and POST /runs under its Idempotency-Key — are retried on connection
errors and 502/503/504 (a service restarting), with stamina, as every upstream call is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import stamina
from pydantic import BaseModel, SecretStr, ValidationError

from app.access import secret_problem
from app.cli_errors import CommandError, ExitCode, exit_code_of_status

M = TypeVar("M", bound=BaseModel)
TOKEN_VARIABLE = "USAGE_PIPELINE_TOKEN"
DEMO_TOKEN_FILE = "demo-api-token"  # what `usage-pipeline demo` writes in DATA_DIR
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
RETRIED_STATUSES = (502, 503, 504)
# No retry hooks: stamina's default would log each retry through an unconfigured structlog, onto
# standard output (a JSON document's stream); the final error is the one line that matters.
stamina.instrumentation.set_on_retry_hooks([])


@dataclass(frozen=True)
class Retry:
    attempts: int | None
    seconds: float | None


ONCE = Retry(1, None)  # not idempotent: never sent twice
BRIEF = Retry(3, None)  # a command's own call: a blip is ridden out, a wrong URL fails fast
PATIENT = Retry(None, 60)  # polling a followed run: a restart of the service is ridden out


class _Retryable(Exception):
    """A transport error or a 502/503/504: worth asking again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def service_url(url: str) -> httpx.URL:
    """`--url` checked: an http(s) URL with a host (a path prefix is kept)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise CommandError(f"--url: {url!r} is not an http(s) URL", ExitCode.INVALID)
    return parsed.copy_with(path=parsed.path.rstrip("/") + "/")


def find_token(token_file: Path | None, url: httpx.URL, data_dir: Path | None) -> SecretStr | None:
    """The bearer token: USAGE_PIPELINE_TOKEN, else `--token-file`'s first line, else — for a
    service on this machine — the token `usage-pipeline demo` left in DATA_DIR; else none (an
    open read still works)."""
    if value := os.environ.get(TOKEN_VARIABLE, "").strip():
        return _checked(value, TOKEN_VARIABLE)
    path = token_file
    if path is None and data_dir is not None and url.host in LOOPBACK:
        demo = data_dir / DEMO_TOKEN_FILE
        path = demo if demo.is_file() else None
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommandError(
            f"--token-file: cannot read {path}: {exc.strerror}", ExitCode.INVALID
        ) from None
    if not value:
        raise CommandError(f"--token-file: {path} is empty", ExitCode.INVALID)
    return _checked(value.splitlines()[0], f"the token in {path}")


def _checked(token: str, where: str) -> SecretStr:
    """A token httpx can send: one that breaks a header would be quoted back in httpx's error
    (and so on the screen); say what is wrong with it instead, never the value."""
    if problem := secret_problem(token):
        raise CommandError(f"{where} {problem}", ExitCode.INVALID)
    return SecretStr(token)


class ServiceClient:
    """One running service: typed GETs and POSTs, one-line errors."""

    def __init__(self, url: httpx.URL, token: SecretStr | None, timeout: float = 30) -> None:
        self.url = url
        self.has_token = token is not None
        headers = {"User-Agent": "usage-pipeline-cli", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def get(
        self, path: str, model: type[M], params: Mapping[str, object] | None = None, *,
        patient: bool = False,
    ) -> M:  # fmt: skip
        """GET `path` as `model`; `patient` rides out a restart of a minute (a followed run)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        response = self._send("GET", path, PATIENT if patient else BRIEF, params=query)
        return self._parse(response, model)

    def post(
        self, path: str, model: type[M], body: object = None, key: str | None = None
    ) -> tuple[M, int]:
        """POST `body`; an Idempotency-Key `key` makes it safe to send again (and retried)."""
        headers = {} if key is None else {"Idempotency-Key": key}
        retry = BRIEF if key is not None else ONCE
        response = self._send("POST", path, retry, json=body, headers=headers)
        return self._parse(response, model), response.status_code

    def _send(self, method: str, path: str, retry: Retry, **sent: object) -> httpx.Response:
        address = f"{self.url}{path.lstrip('/')}"
        try:
            for attempt in stamina.retry_context(
                on=_Retryable, attempts=retry.attempts, timeout=retry.seconds,
                wait_initial=0.3, wait_max=5,
            ):  # fmt: skip
                with attempt:
                    try:
                        response = self._http.request(method, path.lstrip("/"), **sent)  # type: ignore[arg-type]
                    except httpx.TransportError as exc:
                        raise _Retryable(f"cannot reach {address}: {_reason(exc)}") from None
                    if response.status_code in RETRIED_STATUSES:
                        raise _Retryable(self._problem(response, address).args[0])
        except _Retryable as exc:
            raise CommandError(str(exc), ExitCode.UNREACHABLE) from None
        if response.status_code >= 400:
            raise self._problem(response, address)
        return response

    def _problem(self, response: httpx.Response, address: str) -> CommandError:
        """The answer's problem as one line (its own detail), with the status's exit code."""
        status, code = response.status_code, exit_code_of_status(response.status_code)
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict) or not isinstance(problem.get("detail"), str):
            return CommandError(
                f"{address} answered HTTP {status} {response.reason_phrase}, not as the service",
                code,
            )
        title = problem.get("title") or response.reason_phrase
        line = f"{address}: {status} {title}: {problem['detail']}"
        if status == 401 and not self.has_token:
            line += f" (give a token: {TOKEN_VARIABLE} or --token-file)"
        if status == 409 and isinstance(run_id := problem.get("run_id"), str):
            line += f" (follow it: usage-pipeline runs show {run_id} --wait)"
        kind = problem.get("type")
        return CommandError(line, code, kind if isinstance(kind, str) else None, problem["detail"])

    def _parse(self, response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            kind = response.headers.get("content-type", "no content type")
            raise CommandError(
                f"{response.request.url} did not answer as the service (HTTP"
                f" {response.status_code}, {kind}): is --url the service's address?",
                ExitCode.UNREACHABLE,
            ) from None


def _reason(error: httpx.TransportError) -> str:
    """The transport error in a few words (httpx's own text can be empty)."""
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    text = str(error).strip()
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text or type(error).__name__
