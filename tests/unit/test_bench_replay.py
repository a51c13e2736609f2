"""The bench's replay upstream answers what was recorded, and today's usage events across an
hour boundary (their `endDate` is the last full hour, so the request changes when one passes)."""

from pathlib import Path

from app.simulator.plumbing import record
from app.simulator.rate_limits import RateLimits
from bench.replay import HOUR_MS, _Replay

EVENTS = "/teams/filtered-usage-events"


def _events_body(end_ms: int) -> bytes:
    return b'{"startDate":1796342400000,"endDate":%d,"page":1,"pageSize":1000}' % end_ms


def test_a_recorded_request_is_answered_with_its_page(tmp_path: Path) -> None:
    record(tmp_path, "POST", EVENTS, "", _events_body(HOUR_MS * 10), b'{"usageEvents":[]}')
    replay = _Replay(tmp_path, RateLimits(None))

    status, _, payload = replay.answer("POST", EVENTS, _events_body(HOUR_MS * 10))

    assert (status, payload) == ("200 OK", b'{"usageEvents":[]}')
    assert replay.requests == {"filtered-usage-events": 1}


def test_todays_events_an_hour_later_get_the_page_recorded_an_hour_earlier(
    tmp_path: Path,
) -> None:
    record(tmp_path, "POST", EVENTS, "", _events_body(HOUR_MS * 10), b'{"usageEvents":[1]}')
    replay = _Replay(tmp_path, RateLimits(None))

    assert replay.answer("POST", EVENTS, _events_body(HOUR_MS * 11))[2] == b'{"usageEvents":[1]}'
    assert replay.answer("POST", EVENTS, _events_body(HOUR_MS * 12))[2] == b'{"usageEvents":[1]}'
    # Three hours on is another answer altogether: not recorded, and said so.
    status, _, payload = replay.answer("POST", EVENTS, _events_body(HOUR_MS * 13))
    assert status == "404 Not Found"
    assert payload.startswith(b"not recorded: POST /teams/filtered-usage-events")


def test_a_later_end_is_never_served_for_an_earlier_request(tmp_path: Path) -> None:
    record(tmp_path, "POST", EVENTS, "", _events_body(HOUR_MS * 11), b'{"usageEvents":[1]}')
    replay = _Replay(tmp_path, RateLimits(None))

    assert replay.answer("POST", EVENTS, _events_body(HOUR_MS * 10))[0] == "404 Not Found"


def test_only_usage_events_are_answered_from_an_earlier_hour(tmp_path: Path) -> None:
    # Daily usage also sends an `endDate`, but a whole day's: a miss there is a real miss.
    daily = "/teams/daily-usage-data"
    record(tmp_path, "POST", daily, "", _events_body(HOUR_MS * 10), b'{"data":[]}')
    replay = _Replay(tmp_path, RateLimits(None))

    assert replay.answer("POST", daily, _events_body(HOUR_MS * 11))[0] == "404 Not Found"
