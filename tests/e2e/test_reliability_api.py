"""Fault matrix, API abuse row: schemathesis over the whole OpenAPI schema of a running
service, with and without the token, valid and invalid data — no 5xx, every response as
documented (status code, content type, headers, body schema), invalid data rejected."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import AUTH

pytestmark = pytest.mark.reliability

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}


@pytest.mark.parametrize("with_token", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
def test_every_operation(services: Any, with_token: bool, mode: GenerationMode) -> None:
    service = services()
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /runs", "GET /runs", "GET /runs/{run_id}", "POST /runs/{run_id}/cancel",
        "GET /livez", "GET /readyz", "GET /metrics",
    }  # fmt: skip
    # A body or query string past the service's limits (413, 414) is a rejection too.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413", "414"]
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    tested = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            database=None,
        )
        def exercise(case: Any) -> None:
            nonlocal tested
            # The token replaces whatever Authorization was generated; a negative case that
            # dropped the header (every route declares it) is sent without one.
            send_token = with_token and (
                mode is GenerationMode.POSITIVE or "authorization" in {
                    name.lower() for name in case.headers or {}
                }
            )  # fmt: skip
            response = case.call_and_validate(
                base_url=service.url, headers=AUTH if send_token else None, checks=checks
            )
            tested += 1
            if not with_token and case.path not in ("/livez", "/readyz"):
                # Every route but the probes needs a token; a body or query past its limit
                # is refused before anyone is asked who they are.
                assert response.status_code in (401, 413, 414), response.text

        try:
            exercise()
        except Exception as exc:  # an operation whose schema cannot produce invalid data
            if "unsatisfiable" not in type(exc).__name__.lower() and "Unsatisfiable" not in repr(
                exc
            ):
                raise
    assert tested > 0
