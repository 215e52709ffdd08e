"""Request metrics of the API: count, duration and errors by method, route
template and status, and requests in progress by method — the series
Litestar's Prometheus plugin exports, under the same names.

Recorded by the plain ASGI wrapper around the whole application
(services/api/edge.py), so that they count every status a client gets, the
401s and problems the exception handlers write included. Each label
combination's metric children are kept: looking them up on every request cost
about a tenth of a summary request's CPU."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

APP_NAME = "invoice-summaries"
# Requests that match no route share one label (never the raw path: unbounded).
NO_ROUTE = "(no route)"
_LABELS = ["method", "path", "status_code", "app_name"]

REQUESTS = Counter("billing_api_requests_total", "Total requests", _LABELS)
ERRORS = Counter("billing_api_requests_error_total", "Total errors in requests", _LABELS)
DURATION = Histogram("billing_api_request_duration_seconds", "Request duration, in seconds", _LABELS)
# The route is known only once the request is routed, so not while it waits.
IN_PROGRESS = Gauge(
    "billing_api_requests_in_progress",
    "Total requests currently in progress",
    ["method", "app_name"],
    multiprocess_mode="livesum",
)

# Paths whose requests are not counted (scraping must not measure itself).
EXCLUDED = frozenset({"/metrics"})


class RequestMetrics:
    def __init__(self) -> None:
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}
        self._running: dict[str, Any] = {}

    def running(self, method: str) -> Any:
        """The in-progress gauge of ``method``: inc() when a request starts, dec() when it ends."""
        gauge = self._running.get(method)
        if gauge is None:
            gauge = self._running[method] = IN_PROGRESS.labels(method, APP_NAME)
        return gauge

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        """A request answered: its route template ``path`` (NO_ROUTE for none), status and duration."""
        key = (method, path, status)
        children = self._done.get(key)
        if children is None:
            values = (method, path, str(status), APP_NAME)
            children = (
                REQUESTS.labels(*values),
                DURATION.labels(*values),
                ERRORS.labels(*values) if status >= 500 else None,
            )
            self._done[key] = children
        count, duration, errors = children
        count.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()
