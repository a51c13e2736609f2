"""The answers' pure rules: month-end forecasts, seat statuses and prices, the teams CSV, the
webhook targets."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import SettingsError, load_settings
from app.config_answers import WebhookFormat, parse_webhooks
from app.people_csv import ALWAYS, AliasFileError, format_teams, parse_teams
from app.processing.forecast import backtest, forecast_month, weekday_means
from app.processing.seats import SeatStatus, seat_price, seat_status

AUGUST = date(2026, 8, 1)


def _weekly(
    weekday_usd: Decimal, weekend_usd: Decimal, start: date, end: date
) -> dict[date, Decimal]:
    days = {}
    day = start
    while day <= end:
        days[day] = weekend_usd if day.weekday() >= 5 else weekday_usd
        day += timedelta(days=1)
    return days


def test_a_steady_weekly_pattern_is_projected_exactly() -> None:
    daily = _weekly(Decimal("10.00"), Decimal("1.00"), date(2026, 7, 1), date(2026, 8, 31))
    known = {day: value for day, value in daily.items() if day <= date(2026, 8, 14)}
    outlook = forecast_month(known, AUGUST, date(2026, 8, 14), budget=Decimal(200))
    assert outlook.projected == sum(v for d, v in daily.items() if d >= AUGUST)  # weekday-aware
    assert outlook.low == outlook.high == outlook.projected  # no spread: no range
    assert outlook.month_to_date == sum(v for d, v in known.items() if d >= AUGUST)
    # 104 by the 14th; then 1 a weekend day, 10 a weekday: 198 by the 27th, 208 on the 28th.
    assert outlook.exhausted_on == date(2026, 8, 28)


@given(st.lists(st.integers(min_value=0, max_value=5_000), min_size=28, max_size=28))
def test_the_range_holds_the_projection_and_never_goes_below_what_is_spent(
    cents: list[int],
) -> None:
    start = date(2026, 7, 18)
    daily = {start + timedelta(days=n): Decimal(c) / 100 for n, c in enumerate(cents)}
    outlook = forecast_month(daily, AUGUST, date(2026, 8, 14))
    assert outlook.month_to_date <= outlook.low <= outlook.projected <= outlook.high


def test_weekday_means_count_a_day_without_spend_as_zero() -> None:
    means, _ = weekday_means({date(2026, 8, 3): Decimal(28)}, date(2026, 8, 16))
    assert means[0] == Decimal(7)  # four Mondays, one with 28


def test_backtest_of_a_steady_pattern_has_no_error() -> None:
    daily = _weekly(Decimal(3), Decimal(0), date(2026, 6, 1), date(2026, 8, 31))
    points = backtest(daily, [date(2026, 7, 1), AUGUST])
    assert points and all(point.error == 0 and point.within_range for point in points)


@pytest.mark.parametrize(
    ("fetched", "since", "active", "status"),
    [
        (0, None, 0, SeatStatus.NO_DATA),  # nobody read its use: not idle
        (0, None, 5, SeatStatus.NO_DATA),
        (30, date(2026, 8, 10), 0, SeatStatus.NEW),
        (30, date(2026, 1, 1), 0, SeatStatus.IDLE),
        (30, None, 0, SeatStatus.IDLE),
        (30, None, 2, SeatStatus.LIGHT),
        (30, None, 3, SeatStatus.ACTIVE),
    ],
)
def test_seat_status(fetched: int, since: date | None, active: int, status: SeatStatus) -> None:
    assert seat_status(fetched_days=fetched, since=since, active_days=active,
                       as_of=date(2026, 8, 17), window_days=30, light_days=2) is status  # fmt: skip


def test_a_seat_without_a_price_saves_an_unknown_amount() -> None:
    prices = {"copilot:business": Decimal(19), "cursor": Decimal(40)}
    assert seat_price(prices, "copilot", "business") == 19
    assert seat_price(prices, "copilot", "enterprise") is None
    assert seat_price(prices, "cursor", None) == 40


def test_the_teams_csv_round_trips_and_names_the_bad_row() -> None:
    text = "email,team,effective_from\nAna@Acme.dev,platform,\nana@acme.dev,data,2026-08-10\n"
    members = parse_teams(text)
    assert [(m.email, m.team, m.effective_from) for m in members] == [
        ("ana@acme.dev", "platform", ALWAYS), ("ana@acme.dev", "data", date(2026, 8, 10)),
    ]  # fmt: skip
    assert parse_teams(format_teams(members)) == members
    for bad, message in (
        ("email,team\nnobody,platform\n", "line 2: invalid email 'nobody'"),
        ("email,team,effective_from\na@b.dev,x,2026-13-01\n", "line 2: invalid effective_from"),
        ("email,team,squad\na@b.dev,x,y\n", "line 1: unknown column(s) squad"),
        ("email,team\na@b.dev,x\na@b.dev,y\n", "line 3: a@b.dev is listed twice"),
    ):
        with pytest.raises(AliasFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_teams(bad)


def test_webhook_targets_are_checked_and_their_urls_stay_secret() -> None:
    (target,) = parse_webhooks(
        '[{"name": "fin", "format": "slack", "url": "https://hooks.acme.test/T1"}]'
    )
    assert target.format is WebhookFormat.SLACK and "T1" not in repr(target)
    with pytest.raises(SettingsError, match=r"^invalid setting WEBHOOK_URLS: target 'fin': url"):
        load_settings(webhook_urls='[{"name": "fin", "url": "ftp://x"}]')
    with pytest.raises(SettingsError, match="url is a placeholder"):
        load_settings(webhook_urls='[{"name": "fin", "url": "https://hooks/CHANGE-ME"}]')
    settings = load_settings(webhook_urls='[{"name": "fin", "url": "https://hooks.acme.test/T1"}]')
    assert "https://hooks.acme.test/T1" in settings.secret_values()  # masked in every log line


@pytest.mark.parametrize("text", ["email,team\na@b.dev,x\x00\n", 'email,team\n"a@b.dev,x\n'])
def test_a_file_the_csv_module_cannot_read_is_an_error_naming_the_line(text: str) -> None:
    with pytest.raises(AliasFileError, match=r"^line \d+: "):
        parse_teams(text)
