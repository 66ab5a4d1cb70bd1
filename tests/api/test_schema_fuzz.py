"""schemathesis over the app's OpenAPI spec: no generated request, valid or not, gets a 5xx.

Bounded (`MAX_EXAMPLES` per operation, about 200 requests) to stay under a minute. Generated
URLs are dropped from bodies: the address gate would look their made-up host names up in DNS,
and tests reach nothing beyond loopback (the gate has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from foleyserve.engines.null import NullEngine

from .test_app import open_rig

MAX_EXAMPLES = 15
URL_FIELDS = ("video_url", "webhook_url")


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    for rig in open_rig(tmp_path, NullEngine()):
        rig.client.post(
            "/v1/jobs", json={"prompt": "rain", "duration_s": 1.0, "output_format": "wav"}
        )
        yield schemathesis.openapi.from_asgi("/openapi.json", rig.client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_server_error(case: Any) -> None:
    # Without a key the app runs the request as tenant `local` (no keys on loopback), so the
    # generated bodies get past authentication; bad keys have tests of their own.
    if case.headers:
        case.headers.pop("authorization", None)
    if isinstance(case.body, dict):
        for field in URL_FIELDS:
            case.body.pop(field, None)
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
