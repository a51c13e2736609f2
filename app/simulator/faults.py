"""Fault injection for the simulator, configurable per endpoint at run time.

A fault is matched against each request to its endpoint (optionally only from page N on),
applied, and used up after `times` hits (`times: null` = forever). Kinds:
- `status`: answer with an HTTP status (and optional `retry_after` header) in the
  upstream's own error format;
- `latency`: sleep `ms` before answering (`times: null` = every request, else used up; a
  latency longer than the client's timeout is a read timeout);
- `malformed`: a 200 whose body is not JSON;
- `truncate`: a 200 whose body stops half way (the connection closes early);
- `reset`: the connection is dropped after half of the body was sent;
- `add_field`: every item of the page's data gains unknown fields (additive schema drift);
- `invalid_cursor`: a 400 on a request that carries a page cursor;
- `drop_field`: remove `field` from every item of the page's data (a required field missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

FaultKind = Literal[
    "status",
    "latency",
    "malformed",
    "truncate",
    "reset",
    "invalid_cursor",
    "drop_field",
    "add_field",
]


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    status: int = 503
    retry_after: str | None = None
    ms: int = 0
    times: int | None = 1
    min_page: int = 1
    field: str | None = None
    message: str | None = None  # the upstream's error message for `status` faults


@dataclass
class FaultPlan:
    """Per endpoint: the faults still to apply, in order."""

    faults: dict[str, list[FaultSpec]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def add(self, endpoint: str, spec: FaultSpec) -> None:
        self.faults.setdefault(endpoint, []).append(spec)

    def clear(self) -> None:
        self.faults.clear()

    def latency_ms(self, endpoint: str) -> int:
        total = 0
        for name in (endpoint, "*"):
            for spec in self.faults.get(name, []):
                if spec.kind != "latency" or spec.times == 0:
                    continue
                if spec.times is not None:
                    spec.times -= 1
                total += spec.ms
        return total

    def take(self, endpoint: str, page: int, has_cursor: bool) -> FaultSpec | None:
        """The next one-shot fault that applies to this request, used up by one."""
        for name in (endpoint, "*"):
            for spec in self.faults.get(name, []):
                if spec.kind == "latency" or page < spec.min_page:
                    continue
                if spec.kind == "invalid_cursor" and not has_cursor:
                    continue
                if spec.times is not None:
                    if spec.times <= 0:
                        continue
                    spec.times -= 1
                self.hits[endpoint] = self.hits.get(endpoint, 0) + 1
                return spec
        return None

    def describe(self) -> dict[str, Any]:
        return {
            endpoint: [spec.model_dump() for spec in specs]
            for endpoint, specs in self.faults.items()
        }
