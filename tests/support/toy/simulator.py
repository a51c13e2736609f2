"""The toy upstream's simulated route: two people a day, one per page."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

router = APIRouter()
PEOPLE = ("ada@example.com", "grace@example.com")


def events(person: str, day: date) -> int:
    return 10 * (PEOPLE.index(person) + 1) + day.day


@router.get("/toy/v1/usage")
async def usage(date: date, page: int = 1) -> dict[str, object]:
    person = PEOPLE[page - 1]
    return {
        "data": [{"email": person, "events": events(person, date)}],
        "next_page": page + 1 if page < len(PEOPLE) else None,
    }
