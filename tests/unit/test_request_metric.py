"""The request-latency histogram: each (route template, method, status) series counts its own requests, through
the series ``api.metrics.observe`` keeps at hand."""

from prometheus_client import REGISTRY

from api import metrics


class Route:
    path = "/test/{thing_id}"


def count(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("paygate_http_request_duration_seconds_count", labels) or 0.0


def test_each_series_counts_its_own_requests() -> None:
    series = [
        ("/test/{thing_id}", "GET", "200"),
        ("/test/{thing_id}", "GET", "404"),
        ("/test/{thing_id}", "POST", "200"),
        ("unmatched", "GET", "200"),
    ]
    before = {s: count(*s) for s in series}
    for _ in range(3):
        metrics.observe({"route": Route(), "method": "GET"}, 200, 0.01)
    metrics.observe({"route": Route(), "method": "GET"}, 404, 0.01)
    metrics.observe({"route": Route(), "method": "POST"}, 200, 0.01)
    metrics.observe({"method": "GET"}, 200, 0.01)
    assert {s: count(*s) - before[s] for s in series} == dict(zip(series, [3.0, 1.0, 1.0, 1.0], strict=True))
