"""Deterministic ground truth behind the simulator.

One model of an organisation (people, API keys, workspaces, prices, daily activity) is rendered
into every upstream's view, so the same usage shows up consistently across endpoints (Claude
Code traffic appears both in `usage_report/claude_code` and in the messages report under the
"Claude Code" workspace). Activity is a pure function of (seed, person, day, revision), so
10,000 people × 30 days are generated on demand, never held in memory.

The model also states what a correct pipeline must end up with (`expected_*`), computed from
its own knowledge of who did what, not by re-implementing the pipeline.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from app.simulator.world import (
    ACTIVITY_TYPES,
    CI_KEY_ID,
    CI_KEY_NAME,
    CI_WORKSPACE,
    CLAUDE_CODE_WORKSPACE,
    MODEL_LABEL,
    MODELS,
    ORG_ID,
    OTHER_PRODUCTS,
    PRICES,
    PROD_WORKSPACE,
    SHARED_KEY_NAME,
    TERMINALS,
    TOKEN_TYPE_LABEL,
    UNATTRIBUTED_PRODUCTS,
    ActivityEvent,
    Person,
    Totals,
    UsageRow,
    _chat_cents,
    _non_token_line,
    _usage_rows,
    cents_text,
)
from app.upstreams.copilot.simulator.truth import CopilotTruth
from app.upstreams.cursor.simulator.truth import CursorTruth


class GroundTruth(CursorTruth, CopilotTruth):
    """Every upstream's view of one organisation: Cursor's (`CursorTruth`), GitHub Copilot's
    (`CopilotTruth`), the Anthropic Admin API's and claude.ai's (below), and the expected
    results."""

    # --- Claude Code analytics ---

    def claude_code_records(self, day: date) -> list[dict[str, object]]:
        """All records of a day (user actors, the CI key's api actor, subscription users)."""
        # Rendered once and served page by page (callers must not mutate what they get).
        return self.views.get("claude_code", day, 4, lambda: self._render_claude_code_records(day))

    def _render_claude_code_records(self, day: date) -> list[dict[str, object]]:
        records: list[dict[str, object]] = []
        for person in self.people:
            if person.claude_code_key or person.claude_code_subscription:
                records.extend(self._person_claude_code(person, day))
        records.extend(self._ci_claude_code(day))
        return records

    def _person_claude_code(self, person: Person, day: date) -> list[dict[str, object]]:
        rng = self._rng("claude", person.index, day)
        if rng.random() > 0.7:
            return []
        subscription = person.claude_code_subscription
        # Some people work both locally and remotely: two separate rows.
        places = (False, True) if rng.random() < 0.2 else (False,)
        actor = {"type": "user_actor", "email_address": person.email}
        return [
            self._record(
                rng, day, actor, "subscription" if subscription else "api", remote, person.index
            )
            for remote in places
        ]

    def _ci_claude_code(self, day: date) -> list[dict[str, object]]:
        records = []
        rng = self._rng("claude", -1, day)
        if rng.random() < 0.8:
            actor = {
                "type": "api_actor",
                "api_key_name": self.renamed_keys.get(CI_KEY_ID, CI_KEY_NAME),
            }
            records.append(self._record(rng, day, actor, "api", False, -1))
        rng = self._rng("claude", -2, day)
        if rng.random() < 0.5:  # an api_actor whose key name is ambiguous
            actor = {"type": "api_actor", "api_key_name": SHARED_KEY_NAME}
            records.append(self._record(rng, day, actor, "api", False, -2))
        return records

    def _record(
        self,
        rng: random.Random,
        day: date,
        actor: dict[str, str],
        customer_type: str,
        remote: bool,
        index: int,
    ) -> dict[str, object]:
        models = rng.sample(MODELS[:2], k=rng.randint(1, 2))
        breakdown = []
        for model in models:
            tokens = {
                "input": rng.randint(1_000, 90_000),
                "output": rng.randint(500, 30_000),
                "cache_read": rng.randint(0, 400_000),
                "cache_creation": rng.randint(0, 40_000),
            }
            cents = (
                tokens["input"] * PRICES[model]["uncached_input_tokens"]
                + tokens["output"] * PRICES[model]["output_tokens"]
                + tokens["cache_read"] * PRICES[model]["cache_read_input_tokens"]
                + tokens["cache_creation"]
                * PRICES[model]["cache_creation.ephemeral_5m_input_tokens"]
            ).quantize(Decimal("0.01"))
            breakdown.append(
                {
                    "model": model,
                    "tokens": tokens,
                    "estimated_cost": {"currency": "USD", "amount": cents},
                }
            )
        tools = {
            name: {"accepted": rng.randint(0, 40), "rejected": rng.randint(0, 6)}
            for name in ("edit_tool", "multi_edit_tool", "write_tool")
            if rng.random() < 0.8
        }
        return {
            "date": f"{day.isoformat()}T00:00:00Z",
            "actor": actor,
            "organization_id": ORG_ID,
            "customer_type": customer_type,
            "subscription_type": "team" if customer_type == "subscription" else None,
            "terminal_type": "non-interactive" if index < 0 else rng.choice(TERMINALS),
            "is_remote": remote,
            "core_metrics": {
                "num_sessions": rng.randint(1, 9),
                "lines_of_code": {"added": rng.randint(0, 2500), "removed": rng.randint(0, 900)},
                "commits_by_claude_code": rng.randint(0, 12),
                "pull_requests_by_claude_code": rng.randint(0, 3),
            },
            "tool_actions": tools,
            "model_breakdown": breakdown,
        }

    # --- Messages usage and cost ------------------------------------------------------------------

    def usage_rows(self, day: date) -> list[UsageRow]:
        # A day's rows are rendered twice (usage, cost): keep the last few.
        return self.views.get("usage_rows", day, 4, lambda: _usage_rows(self, day))

    def cost_lines(self, day: date) -> list[dict[str, object]]:
        """Cost report results of a day (grouped by workspace and description)."""
        return self.views.get("cost_lines", day, 4, lambda: self._render_cost_lines(day))

    def _render_cost_lines(self, day: date) -> list[dict[str, object]]:
        amounts: dict[tuple[str | None, str, str, str, str, str], Decimal] = defaultdict(Decimal)
        searches: dict[str | None, int] = defaultdict(int)
        for row in self.usage_rows(day):
            if row.service_tier == "priority":  # Priority Tier is never in the cost report
                continue
            factor = Decimal("0.5") if row.service_tier == "batch" else Decimal(1)
            for token_type, price in PRICES[row.model].items():
                tokens = row.tokens_of(token_type)
                if tokens:
                    key = (
                        row.workspace_id,
                        row.model,
                        token_type,
                        row.service_tier,
                        row.context_window,
                        row.inference_geo,
                    )
                    amounts[key] += tokens * price * factor
            searches[row.workspace_id] += row.web_search_requests
        lines: list[dict[str, object]] = []
        for (workspace, model, token_type, tier, window, geo), cents in sorted(
            amounts.items(), key=lambda item: tuple(str(part) for part in item[0])
        ):
            lines.append(
                {
                    "currency": "USD",
                    "amount": cents_text(cents),
                    "workspace_id": workspace,
                    "description": f"{MODEL_LABEL[model]} Usage - {TOKEN_TYPE_LABEL[token_type]}",
                    "cost_type": "tokens",
                    "model": model,
                    "token_type": token_type,
                    "service_tier": tier,
                    "context_window": window,
                    "inference_geo": geo,
                }
            )
        for workspace, count in sorted(searches.items(), key=lambda item: str(item[0])):
            if count:
                lines.append(_non_token_line(workspace, "Web Search Usage", "web_search", count))
        rng = random.Random(f"{self.seed}:code-exec:{day.isoformat()}")
        if rng.random() < 0.5:  # code execution has no usage counterpart: a residual
            cents = Decimal(rng.randint(100, 5000)) / 100
            lines.append(
                _non_token_line(PROD_WORKSPACE, "Code Execution Usage", "code_execution", cents)
            )
        return lines

    # --- claude.ai ------------------------------------------------------------------------------

    def activities(self, day: date) -> list[dict[str, object]]:
        """Compliance feed events of a day, oldest first (the API serves newest first)."""
        return [self.render_activity(event) for event in self.activity_events(day)]

    def activity_events(self, day: date) -> list[ActivityEvent]:
        """The day's events, compact and oldest first (rendered per page by the server); about
        100 bytes an event, so a 30-day feed's worth is kept."""
        return self.views.get("activity", day, 64, lambda: self._generate_activity_events(day))

    def _generate_activity_events(self, day: date) -> list[ActivityEvent]:
        events: list[ActivityEvent] = []
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for person in self.people:
            if not person.uses_claude_ai:
                continue
            rng = self._rng("claude_ai", person.index, day)
            for n in range(rng.randint(0, 6)):
                second = rng.randint(0, 86_399)
                created = midnight + timedelta(seconds=second)
                events.append(
                    ActivityEvent(
                        created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        f"activity_{day:%Y%m%d}{second:05d}{person.index:05d}{n:02d}",
                        person.index,
                        rng.choice(ACTIVITY_TYPES),
                        created,
                    )
                )
        events.sort(key=lambda event: (event.created_at, event.id))
        return events

    def render_activity(self, event: ActivityEvent) -> dict[str, object]:
        person = self.people[event.person]
        return {
            "id": event.id,
            "created_at": event.created_at,
            "organization_id": "org_01Simulated",
            "type": event.type,
            "actor": {
                "type": "user_actor",
                "email_address": person.email,
                "user_id": person.user_id,
            },
        }

    def chat_usage(self, person: Person, day: date) -> tuple[dict[str, int], Decimal] | None:
        """Enterprise Analytics chat tokens and cost (cents) of one person-day."""
        if not person.uses_claude_ai:
            return None
        rng = self._rng("claude_ai_tokens", person.index, day)
        if rng.random() > 0.6:
            return None
        tokens = {
            "uncached_input_tokens": rng.randint(1_000, 200_000),
            "cache_read_input_tokens": rng.randint(0, 500_000),
            "output_tokens": rng.randint(500, 80_000),
            "requests": rng.randint(1, 120),
        }
        return tokens, _chat_cents(tokens)

    def product_usage(
        self, person: Person, day: date
    ) -> dict[str | None, tuple[dict[str, int], Decimal]]:
        """Enterprise Analytics tokens and cost (cents) of one person-day, per product: chat,
        Claude Code for seat (subscription) users — the same tokens Claude Code analytics
        reports, at their estimated cost — and the other products now and then."""
        products: dict[str | None, tuple[dict[str, int], Decimal]] = {}
        if chat := self.chat_usage(person, day):
            products["chat"] = chat
        if person.claude_code_subscription:
            tokens = {"uncached_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 0, "cache_creation_5m": 0, "requests": 0}  # fmt: skip
            cents = Decimal(0)
            for record in self._person_claude_code(person, day):
                breakdown = record["model_breakdown"]
                assert isinstance(breakdown, list)
                for entry in breakdown:
                    tokens["uncached_input_tokens"] += entry["tokens"]["input"]
                    tokens["output_tokens"] += entry["tokens"]["output"]
                    tokens["cache_read_input_tokens"] += entry["tokens"]["cache_read"]
                    tokens["cache_creation_5m"] += entry["tokens"]["cache_creation"]
                    tokens["requests"] += 1
                    cents += Decimal(entry["estimated_cost"]["amount"])
            if tokens["requests"]:
                products["claude_code"] = tokens, cents
        if person.uses_claude_ai:
            rng = self._rng("claude_ai_products", person.index, day)
            for product in (*OTHER_PRODUCTS, *UNATTRIBUTED_PRODUCTS):
                if rng.random() < 0.15:
                    used = {
                        "uncached_input_tokens": rng.randint(100, 40_000),
                        "cache_read_input_tokens": rng.randint(0, 90_000),
                        "output_tokens": rng.randint(50, 20_000),
                        "requests": rng.randint(1, 30),
                    }
                    products[product] = used, _chat_cents(used)
        return products

    def org_analytics_extra(self, day: date) -> dict[str | None, tuple[dict[str, int], Decimal]]:
        """What the organisation's Analytics reports hold beyond its seat users, per product:
        direct API-key traffic (no product) and automations (Claude Code), most days."""
        rng = self._rng("org_api_traffic", 0, day)
        extra: dict[str | None, tuple[dict[str, int], Decimal]] = {}
        for product in (None, "claude_code"):
            if rng.random() < 0.8:
                used = {
                    "uncached_input_tokens": rng.randint(1_000, 90_000),
                    "cache_read_input_tokens": rng.randint(0, 200_000),
                    "output_tokens": rng.randint(500, 40_000),
                    "requests": rng.randint(5, 200),
                }
                extra[product] = used, _chat_cents(used)
        return extra

    def expected_product_rows(
        self, start: date, end: date
    ) -> dict[tuple[date, str | None, str | None], tuple[int, int, Decimal]]:
        """Enterprise Analytics per (day, email — None for a deleted user never seen, product):
        (input + cache read + output tokens, requests, cost in USD), as the table must hold."""
        rows: dict[tuple[date, str | None, str | None], tuple[int, int, Decimal]] = {}
        for day in self.days(start, end):
            for person in self.people:
                for product, (tokens, cents) in self.product_usage(person, day).items():
                    total = (
                        tokens["uncached_input_tokens"]
                        + tokens["cache_read_input_tokens"]
                        + tokens["output_tokens"]
                        + tokens.get("cache_creation_5m", 0)
                    )
                    cost = Decimal(cents_text(cents)) / 100
                    rows[(day, person.email, product)] = (total, tokens["requests"], cost)
        return rows

    # --- expected results ---

    def expected_platform_totals(
        self, start: date, end: date, *, enterprise_analytics: bool = True
    ) -> dict[tuple[date, str], Totals]:
        """Per (day, platform), by the view's rule: tokens and billed cost from the reports
        (plus subscription Claude Code — counted once, whether Claude Code analytics or
        Enterprise Analytics reports it — and claude.ai), productivity from analytics."""
        totals: dict[tuple[date, str], Totals] = defaultdict(Totals)
        for day in self.days(start, end):
            for row in self.usage_rows(day):
                platform = self.expected_usage_platform(row)
                t = totals[(day, platform)]
                t.uncached_input_tokens += row.uncached_input_tokens
                t.cache_creation_input_tokens += row.cache_creation_5m + row.cache_creation_1h
                t.cache_read_input_tokens += row.cache_read_input_tokens
                t.output_tokens += row.output_tokens
            for platform, cost in self.expected_billed_cost(day).items():
                totals[(day, platform)].billed_cost_usd += cost
            if enterprise_analytics:
                for person in self.people:
                    if claude_code := self.product_usage(person, day).get("claude_code"):
                        cents = Decimal(cents_text(claude_code[1]))
                        totals[(day, "claude_code")].billed_cost_usd += cents / 100
            for record in self.claude_code_records(day):
                t = totals[(day, "claude_code")]
                metrics = record["core_metrics"]
                assert isinstance(metrics, dict)
                t.sessions += metrics["num_sessions"]
                t.lines_added += metrics["lines_of_code"]["added"]
                t.lines_removed += metrics["lines_of_code"]["removed"]
                t.commits += metrics["commits_by_claude_code"]
                t.pull_requests += metrics["pull_requests_by_claude_code"]
                tools = record["tool_actions"]
                assert isinstance(tools, dict)
                t.tool_accepted += sum(action["accepted"] for action in tools.values())
                t.tool_rejected += sum(action["rejected"] for action in tools.values())
                breakdown = record["model_breakdown"]
                assert isinstance(breakdown, list)
                for entry in breakdown:
                    t.estimated_cost_usd += Decimal(entry["estimated_cost"]["amount"]) / 100
                    if record["customer_type"] == "subscription":
                        t.uncached_input_tokens += entry["tokens"]["input"]
                        t.output_tokens += entry["tokens"]["output"]
                        t.cache_read_input_tokens += entry["tokens"]["cache_read"]
                        t.cache_creation_input_tokens += entry["tokens"]["cache_creation"]
        return dict(totals)

    def expected_claude_ai_totals(self, start: date, end: date) -> dict[tuple[date, str], Totals]:
        """Enterprise Analytics products other than Claude Code, per day."""
        totals: dict[tuple[date, str], Totals] = defaultdict(Totals)
        for day in self.days(start, end):
            for person in self.people:
                for product, (tokens, cents) in self.product_usage(person, day).items():
                    if product == "claude_code":
                        continue
                    t = totals[(day, "claude_ai")]
                    t.uncached_input_tokens += tokens["uncached_input_tokens"]
                    t.cache_read_input_tokens += tokens["cache_read_input_tokens"]
                    t.output_tokens += tokens["output_tokens"]
                    t.billed_cost_usd += Decimal(cents_text(cents)) / 100
        return dict(totals)

    def expected_usage_platform(self, row: UsageRow) -> str:
        """Claude Code workspace, or a key Claude Code analytics names (the CI key; the shared
        name matches two keys, so it stays `claude_api`)."""
        if row.workspace_id == CLAUDE_CODE_WORKSPACE or row.api_key_id == CI_KEY_ID:
            return "claude_code"
        return "claude_api"

    def expected_billed_cost(self, day: date) -> dict[str, Decimal]:
        """The day's cost report per platform: every line of the CI workspace is the CI key's,
        a Claude Code key's, so it is `claude_code` with the Claude Code workspace's."""
        billed: dict[str, Decimal] = defaultdict(Decimal)
        for workspace, cost in self.expected_cost_by_workspace(day).items():
            claude_code = workspace in (CLAUDE_CODE_WORKSPACE, CI_WORKSPACE)
            billed["claude_code" if claude_code else "claude_api"] += cost
        return dict(billed)

    def expected_cost_by_workspace(self, day: date) -> dict[str | None, Decimal]:
        totals: dict[str | None, Decimal] = defaultdict(Decimal)
        for line in self.cost_lines(day):
            workspace = line["workspace_id"]
            totals[workspace if isinstance(workspace, str) else None] += (
                Decimal(str(line["amount"])) / 100
            )
        return dict(totals)

    def expected_usage_attribution(
        self, key_id: str | None, account_id: str | None, service_account_id: str | None
    ) -> tuple[str | None, str]:
        """(email, method) of a messages-usage row: its OAuth account's person, a service
        account (nobody), or its key's creator."""
        if account_id is not None:
            person = next(p for p in self.people if p.user_id == account_id)
            return person.email, "account_id"
        if service_account_id is not None:
            return None, "service_account"
        owner = self.expected_key_owner(key_id)
        return owner, "key_creator" if owner else "unattributed"

    def expected_key_owner(self, key_id: str | None) -> str | None:
        """Email a key's usage belongs to, through its creator (None: unknowable)."""
        if key_id is None:
            return None
        key = self.key_by_id().get(key_id)
        if key is None or key.creator_index is None:
            return None
        return self.people[key.creator_index].email
