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
- `add_field`: every item of the page's data gains unknown fields, nested ones and strings with
  braces among them (additive schema drift);
- `invalid_cursor`: a 400 on a request that carries a page cursor (Cursor: a page after
  the first); `expired_cursor`: the same as a 410 (Enterprise Analytics' expired cursor);
- `drop_field`: remove `field` from every item of the page's data (a required field missing);
- `null_field`: set `field` to null in the page's first item (one unusable row, e.g. a
  removed Cursor member's `email`);
- `set_field`: set `field` to `value` wherever it occurs in the page (e.g. `currency`);
- `empty_day`: the page answers nothing for the UTC day `field` (YYYY-MM-DD): report buckets
  of that day come back with no results, rows and events of that day are left out;
- `member_joins` / `member_leaves` (Cursor daily usage): before page `min_page` is served,
  a member joins (person `value`, default the first hidden one) or leaves (person `value`,
  default the first listed), as happens while a large team's pages are read;
- `events_arrive` (Cursor usage events): before page `min_page` is served, `value` (default
  1) new events of the requested day arrive, shifting every later offset;
- `blank_ids`: ids that are absent sent as if present, the way live accounts were captured
  sending them: a human's Cursor event gains `"serviceAccountId": "null"`,
  `"serviceAccountName": ""` and `"cloudAgentId": "null"`; a null `service_account_id`,
  `account_id` or `api_key_id` of a usage result becomes `"null"`, `""` or `" "`;
- `quiet_days`: an organisation active only on the days listed in `value` (YYYY-MM-DD): every
  other day answers nothing (report buckets without results, no rows, no events);
- `deprecated`: the page as usual, with `Deprecation` and `Sunset` headers (RFC 9745, 8594),
  as GitHub sent them before it shut an API down.
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
    "expired_cursor",
    "null_field",
    "set_field",
    "empty_day",
    "member_joins",
    "member_leaves",
    "events_arrive",
    "blank_ids",
    "quiet_days",
    "deprecated",
]
# Changes to the truth itself, taken by a router before it serves a page.
TRUTH_CHANGE_KINDS: frozenset[str] = frozenset({"member_joins", "member_leaves", "events_arrive"})
CURSOR_KINDS: frozenset[str] = frozenset({"invalid_cursor", "expired_cursor"})


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    status: int = 503
    retry_after: str | None = None
    ms: int = 0
    times: int | None = 1
    min_page: int = 1
    field: str | None = None
    value: Any = None  # for `set_field` and the membership kinds
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

    def take(
        self,
        endpoint: str,
        page: int,
        has_cursor: bool,
        kinds: frozenset[str] | None = None,
    ) -> FaultSpec | None:
        """The next one-shot fault that applies to this request, used up by one; `kinds`
        narrows it (changes to the truth are taken by the Cursor router before a page)."""
        for name in (endpoint, "*"):
            for spec in self.faults.get(name, []):
                if spec.kind == "latency" or page < spec.min_page:
                    continue
                if (spec.kind in TRUTH_CHANGE_KINDS) != (kinds == TRUTH_CHANGE_KINDS):
                    continue
                if spec.kind in CURSOR_KINDS and not has_cursor:
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
