"""Every operation of the OpenAPI document, fuzzed by schemathesis against a real gateway of its own: no input
gets a 5xx, and every 4xx carries the error shape ``{"error": {"code", "description"}}``.

Seeded and bounded (``derandomize``, 25 examples an operation), so a run is repeatable and its time fixed. The
gateway runs without its worker: no webhook is delivered, so a generated webhook URL is never connected to.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from gatekit import AUTH, start_gateway
from hypothesis import HealthCheck, settings

from api.main import create_app
from paygate.settings import Settings

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_dict(
    create_app(Settings(_env_file=None), "redis://127.0.0.1:1/0", lambda: None).openapi()  # type: ignore[call-arg, arg-type, return-value]
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, private_redis: Any) -> Iterator[Any]:
    gw = start_gateway(tmp_path_factory.mktemp("schemathesis"), fresh_database(), private_redis())
    gw.stop("worker")
    with requests.Session() as session:
        gw.session = session
        yield gw
    gw.close()


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_5xx_or_an_undocumented_error(case: Any, fuzzed: Any) -> None:
    response = case.call(base_url=fuzzed.url, session=fuzzed.session, headers=AUTH, timeout=30)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error"}, where
        error = body["error"]
        assert isinstance(error.get("code"), str) and isinstance(error.get("description"), str), where
