"""GitHub's view of the simulated organisation's Copilot: who has a GitHub login and a seat, each
day's per-user report records, the AI-credit billing lines, the SAML identities and verified
emails — and what a correct pipeline ends up with from them.

Built on the shared people (`TruthBase.people`), so Copilot users are the same people Cursor
and Anthropic show (by email), and a few are not people of the directory at all: an outside
collaborator no identity resolves, and one whose only address is a personal public one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from app.simulator.world import TruthBase, _stream_seed

ORGANIZATION_ID = "4242"
ENTERPRISE_ID = "77"
GITHUB_USER_IDS = 900_000  # a person's GitHub user id: this plus their index
# Per-user records exist from this day for organisations (the documents' availability).
ORG_REPORTS_FROM = date(2025, 12, 12)
ADOPTION_PHASE_FROM = date(2026, 5, 29)
AI_CREDITS_USED_FROM = date(2026, 6, 19)
AI_CREDITS_FROM = date(2026, 6, 1)  # billing in AI credits (before: premium requests)
CLOUD_AGENT_RENAMED = date(2026, 7, 1)  # `used_copilot_coding_agent` → `…_cloud_agent`
CREDIT_USD = Decimal("0.01")
PREMIUM_REQUEST_USD = Decimal("0.04")
MODELS = ("GPT-5", "Claude Sonnet 4.6", "Gemini 2.5 Pro")
# Included credits pooled per month: small, so some days are billed beyond the pool.
INCLUDED_PER_MONTH = Decimal(900)
UNRESOLVED_LOGIN = "outside-collab"  # no SAML identity, no verified address, no public one
PUBLIC_ONLY_LOGIN = "night-owl"  # only a public profile address (personal)
PUBLIC_ONLY_EMAIL = "night.owl@example.net"
MAPPED_LOGIN = "ext-consultant"  # resolvable only through the operator's mapping
MAPPED_EMAIL = "consultant@partner.example"


@dataclass(frozen=True)
class GitHubUser:
    user_id: int
    login: str
    email: str | None  # the address a correct pipeline resolves (None: none resolves)
    method: str  # how (attribution method), or "unattributed"
    saml_name_id: str | None = None  # what the SAML identity says
    verified_email: str | None = None
    public_email: str | None = None
    seat_created: date = date(2025, 11, 3)
    active: bool = True  # false: a seat holder who never uses Copilot

    @property
    def index(self) -> int:
        return self.user_id - GITHUB_USER_IDS


class CopilotTruth(TruthBase):
    """The organisation as GitHub's Copilot APIs report it."""

    @cached_property
    def github_users(self) -> list[GitHubUser]:
        users = []
        for person in self.people:
            rng = random.Random(f"{self.seed}:github:{person.index}")
            if rng.random() > 0.6:
                continue
            local = person.email.split("@")[0].replace(".", "-")
            login = f"{local[:30]}-gh"
            user_id = GITHUB_USER_IDS + person.index
            kind = person.index % 6
            if kind == 5:  # no SSO link: found by their address on the verified domain
                users.append(GitHubUser(user_id, login, person.email, "verified_domain_email",
                                        verified_email=person.email))  # fmt: skip
            elif kind == 4:  # SSO's NameID is an employee number; the address is in `emails`
                users.append(GitHubUser(user_id, login, person.email, "saml_identity",
                                        saml_name_id=f"E{person.index:05d}"))  # fmt: skip
            else:
                users.append(GitHubUser(user_id, login, person.email, "saml_identity",
                                        saml_name_id=person.email.upper()))  # fmt: skip
        base = GITHUB_USER_IDS + 10_000
        users += [
            GitHubUser(base + 1, UNRESOLVED_LOGIN, None, "unattributed"),
            GitHubUser(base + 2, PUBLIC_ONLY_LOGIN, PUBLIC_ONLY_EMAIL, "public_email",
                       public_email=PUBLIC_ONLY_EMAIL),
            GitHubUser(base + 3, MAPPED_LOGIN, MAPPED_EMAIL, "login_mapping"),
        ]  # fmt: skip
        # Two seat holders who never use Copilot.
        idle = [user for user in users if user.email is not None][:2]
        return [
            GitHubUser(**{**user.__dict__, "active": False}) if user in idle else user
            for user in users
        ]

    @property
    def copilot_removed_seats(self) -> set[int]:
        """User ids whose seat was removed (a test removes one between two runs)."""
        removed: set[int] = self.__dict__.setdefault("_copilot_removed_seats", set())
        return removed

    def seat_holders(self) -> list[GitHubUser]:
        return [
            user for user in self.github_users if user.user_id not in self.copilot_removed_seats
        ]

    # --- the per-user report ----------------------------------------------------------------

    def copilot_record(self, user: GitHubUser, day: date) -> dict[str, object] | None:
        """The user's line of the day's `users-1-day` report (None: no activity that day)."""
        if not user.active or day < user.seat_created:
            return None
        revision = self.revisions.get(("copilot", day), 0)
        rng = random.Random(_stream_seed(self.seed, "copilot", user.user_id, day, revision))
        if rng.random() > 0.7:
            return None
        record: dict[str, object] = {
            "day": day.isoformat(), "organization_id": ORGANIZATION_ID,
            "enterprise_id": ENTERPRISE_ID, "user_id": user.user_id, "user_login": user.login,
            "user_initiated_interaction_count": rng.randint(0, 60),
            "code_generation_activity_count": rng.randint(0, 120),
            "code_acceptance_activity_count": rng.randint(0, 80),
            "loc_suggested_to_add_sum": rng.randint(0, 900),
            "loc_suggested_to_delete_sum": 0,
            "loc_added_sum": rng.randint(0, 700), "loc_deleted_sum": rng.randint(0, 200),
            "used_agent": rng.random() < 0.5, "used_chat": rng.random() < 0.6,
            "used_cli": False,
            "used_copilot_code_review_active": rng.random() < 0.2,
            "used_copilot_code_review_passive": rng.random() < 0.2,
            "totals_by_ide": [{"ide": rng.choice(("vscode", "jetbrains")),
                               "code_generation_activity_count": 3,
                               "last_known_ide_version": {"ide_version": "1.104.0",
                                                          "sampled_at": f"{day}T09:00:00.000Z"}}],
            "totals_by_feature": [{"feature": "code_completion",
                                   "code_generation_activity_count": 3}],
            "totals_by_language_feature": [], "totals_by_language_model": [],
            "totals_by_model_feature": [],
            "etl_id": "green", "day_partition": day.isoformat(), "entity_id_partition": 4242,
        }  # fmt: skip
        renamed = "cloud" if day >= CLOUD_AGENT_RENAMED else "coding"
        record[f"used_copilot_{renamed}_agent"] = rng.random() < 0.3
        if rng.random() < 0.4:  # CLI users; omitted otherwise, as the documents say
            prompts, outputs, requests = rng.randint(100, 9000), rng.randint(50, 5000), 4
            record["used_cli"] = True
            record["totals_by_cli"] = {
                "session_count": rng.randint(1, 5), "request_count": requests,
                "prompt_count": rng.randint(1, 9),
                "token_usage": {"output_tokens_sum": outputs, "prompt_tokens_sum": prompts,
                                "avg_tokens_per_request": (prompts + outputs) / requests},
            }  # fmt: skip
        if day >= ADOPTION_PHASE_FROM:
            number = rng.choice((1, 2, 3, None))
            record["ai_adoption_phase"] = (
                None if number is None
                else {"phase": f"Phase {number}", "phase_number": number, "version": "v1"}
            )  # fmt: skip
        if day >= AI_CREDITS_USED_FROM:
            record["ai_credits_used"] = self.copilot_credits(user, day)
        return record

    def restate_copilot(self, day: date) -> None:
        """GitHub publishes the day's report again with other values (whether it does is
        undocumented; the day is re-read within its revision horizon either way)."""
        self.revisions[("copilot", day)] = self.revisions.get(("copilot", day), 0) + 1
        self.views.clear()

    def copilot_credits(self, user: GitHubUser, day: date) -> Decimal:
        """AI credits the user consumed (0 on some days: completions only, never billed)."""
        rng = random.Random(_stream_seed(self.seed, "copilot_credits", user.user_id, day, 0))
        if rng.random() < 0.25:
            return Decimal(0)
        return Decimal(rng.randint(1, 9000)) / 100

    def copilot_records(self, day: date) -> list[dict[str, object]]:
        return [
            record
            for user in self.github_users
            if (record := self.copilot_record(user, day)) is not None
        ]

    # --- billing ----------------------------------------------------------------------------

    def copilot_user_lines(self, user: GitHubUser, day: date) -> list[dict[str, object]]:
        """The user's billing lines of the day, after the month's pooled included credits."""
        return [line for (who, _), line in self._month_lines(day).items() if who == user.user_id
                and line["day"] == day]  # fmt: skip

    def copilot_org_lines(self, day: date) -> list[dict[str, object]]:
        """The whole organisation's lines of the day: its users' added up by (sku, model)."""
        totals: dict[tuple[str, str], dict[str, object]] = {}
        for line in self._month_lines(day).values():
            if line["day"] != day:
                continue
            key = (str(line["sku"]), str(line["model"]))
            if key in totals:
                held = totals[key]
                for name in ("grossQuantity", "grossAmount", "discountQuantity",
                             "discountAmount", "netQuantity", "netAmount"):  # fmt: skip
                    held[name] = Decimal(str(held[name])) + Decimal(str(line[name]))
            else:
                totals[key] = {k: v for k, v in line.items() if k != "day"}
        return list(totals.values())

    def _month_lines(self, day: date) -> dict[tuple[int, str], dict[str, object]]:
        """Every user's lines of the month up to its end, in order (day, user, model): the
        pool of included credits covers the first ones."""
        month = day.replace(day=1)
        return self.views.get("copilot_billing", month, 3, lambda: self._render_month(month))

    def _render_month(self, month: date) -> dict[tuple[int, str], dict[str, object]]:
        pool = INCLUDED_PER_MONTH
        lines: dict[tuple[int, str], dict[str, object]] = {}
        day = month
        while day.month == month.month:
            for user in self.github_users:
                credits = self._billed_credits(user, day)
                if not credits:
                    continue
                rng = random.Random(_stream_seed(self.seed, "copilot_model", user.user_id, day, 0))
                model = rng.choice(MODELS)
                discount = min(pool, credits)
                pool -= discount
                lines[(user.user_id, f"{day}|{model}")] = self._line(day, model, credits, discount)
            day += timedelta(days=1)
        return lines

    def _billed_credits(self, user: GitHubUser, day: date) -> Decimal:
        if self.copilot_record(user, day) is None:
            return Decimal(0)
        if day < AI_CREDITS_FROM:  # premium requests: whole requests
            rng = random.Random(_stream_seed(self.seed, "copilot_premium", user.user_id, day, 0))
            return Decimal(rng.randint(0, 12))
        return self.copilot_credits(user, day)

    @staticmethod
    def _line(day: date, model: str, quantity: Decimal, discount: Decimal) -> dict[str, object]:
        credits = day >= AI_CREDITS_FROM
        price = CREDIT_USD if credits else PREMIUM_REQUEST_USD
        return {
            "day": day, "product": "Copilot",
            "sku": "Copilot AI Credits" if credits else "Copilot Premium Request",
            "model": model, "unitType": "credits" if credits else "requests",
            "pricePerUnit": price, "grossQuantity": quantity, "grossAmount": quantity * price,
            "discountQuantity": discount, "discountAmount": discount * price,
            "netQuantity": quantity - discount, "netAmount": (quantity - discount) * price,
        }  # fmt: skip

    # --- identities -------------------------------------------------------------------------

    def saml_identities(self) -> list[dict[str, object]]:
        found = []
        for user in self.github_users:
            if user.saml_name_id is None:
                continue
            found.append({
                "samlIdentity": {"nameId": user.saml_name_id,
                                 "emails": [{"value": user.email}]},
                "scimIdentity": {"username": None, "emails": []},
                "user": {"login": user.login, "databaseId": user.user_id},
            })  # fmt: skip
        return found

    def members(self) -> list[dict[str, object]]:
        return [
            {"login": user.login, "databaseId": user.user_id,
             "organizationVerifiedDomainEmails": [user.verified_email] if user.verified_email
             else []}
            for user in self.github_users
        ]  # fmt: skip

    def seats(self, now: datetime) -> list[dict[str, object]]:
        seats: list[dict[str, object]] = []
        for user in self.seat_holders():
            last = None
            if user.active:
                last = (now - timedelta(days=1 + user.user_id % 5)).isoformat()
            seats.append({
                "created_at": datetime.combine(user.seat_created, datetime.min.time(), UTC)
                .isoformat(),
                "updated_at": now.isoformat(),
                "pending_cancellation_date": "2026-12-31" if user.user_id % 11 == 0 else None,
                "last_activity_at": last,
                "last_activity_editor": "vscode/1.104.0/copilot/1.350.0" if last else None,
                "last_authenticated_at": last,
                "plan_type": "business",
                "assignee": {"login": user.login, "id": user.user_id, "type": "User",
                             "email": user.public_email},
                "assigning_team": None,
            })  # fmt: skip
        return seats

    # --- what a correct pipeline ends up with ----------------------------------------------

    def expected_copilot_rows(
        self, start: date, end: date
    ) -> dict[tuple[date, int], tuple[object, ...]]:
        """(day, user id) → (login, email, method, interactions, loc added, credits)."""
        rows: dict[tuple[date, int], tuple[object, ...]] = {}
        for day in self.days(start, end):
            for user in self.github_users:
                record = self.copilot_record(user, day)
                if record is None:
                    continue
                credits = record.get("ai_credits_used")
                rows[(day, user.user_id)] = (
                    user.login, user.email, user.method,
                    record["user_initiated_interaction_count"], record["loc_added_sum"],
                    None if credits is None else Decimal(str(credits)),
                )  # fmt: skip
        return rows

    def expected_copilot_billed(self, day: date) -> dict[int | None, Decimal]:
        """Net USD billed on the day, by user id (None: the whole organisation's day)."""
        billed: dict[int | None, Decimal] = {}
        for (user_id, _), line in self._month_lines(day).items():
            if line["day"] == day:
                amount = Decimal(str(line["netAmount"]))
                billed[user_id] = billed.get(user_id, Decimal(0)) + amount
                billed[None] = billed.get(None, Decimal(0)) + amount
        return billed
