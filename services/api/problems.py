"""RFC 9457 problem details: every error the API returns is one of these."""

from __future__ import annotations

import traceback
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from services.logging import get_logger

log = get_logger("api")

PROBLEM_JSON = "application/problem+json"

# Failures of the database rather than of the request: answered 503.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,  # no pooled connection free in time
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InterfaceError,  # connection lost or pool closing
    # A pooled connection left in a broken state when its server process was
    # terminated under it; the pool replaces it.
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, statement timeout
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, out of memory or disk
    asyncpg.ObjectNotInPrerequisiteStateError,  # database not accepting connections
)


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    # The offending query/path parameter, when there is one.
    parameter: str | None = None


class ApiProblem(HTTPException):
    """Raised by handlers: rendered as problem+json with its status."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.title = title
        self.parameter = parameter


class BadParameter(ApiProblem):
    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(400, "Bad parameter", f"{parameter}: {detail}", parameter=parameter)


def customer_not_found(customer_id: str) -> ApiProblem:
    """The 404 of a customer the tenant has no invoice for (whether another
    tenant has or not)."""
    return ApiProblem(404, "Not found", f"no invoices for customer {customer_id!r}")


def _slug(title: str) -> str:
    return "/problems/" + title.lower().replace(" ", "-")


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if isinstance(exc, ApiProblem):
        status, title, parameter = exc.status_code, exc.title, exc.parameter
        detail, headers = exc.detail, exc.headers
    elif isinstance(exc, HTTPException):
        status, parameter, headers = exc.status_code, None, exc.headers
        title = {
            401: "Unauthorized",
            404: "Not found",
            405: "Method not allowed",
            413: "Request too large",
            414: "URI too long",
            429: "Too many requests",
            431: "Request headers too large",
        }.get(status, "Bad request" if status < 500 else "Server error")
        detail = exc.detail
        if isinstance(exc, NotFoundException) and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        if isinstance(exc, NotAuthorizedException):
            headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="invoices"'}
        if status == 400 and isinstance(exc.extra, list) and exc.extra:
            # Litestar's own validation of typed parameters: name the parameter.
            first = exc.extra[0]
            if isinstance(first, dict) and first.get("key"):
                parameter = str(first["key"])
                detail = f"{parameter}: {first.get('message', detail)}"
        if status == HTTP_429_TOO_MANY_REQUESTS:
            # The rate limiter states when the window resets; say it the standard way too.
            reset = (headers or {}).get("RateLimit-Reset", "1")
            headers = {**(headers or {}), "Retry-After": str(max(1, int(reset) if reset.isdigit() else 1))}
            detail = "too many requests for this API key: slow down and retry after the Retry-After seconds"
    elif isinstance(exc, DATABASE_UNAVAILABLE):
        # Expected while PostgreSQL restarts or is saturated: a clear, retryable
        # answer and one log line, not a traceback per request.
        log.warning("database unavailable", path=request.url.path, error=repr(exc))
        status, title, parameter = HTTP_503_SERVICE_UNAVAILABLE, "Database unavailable", None
        headers = {"Retry-After": "1"}
        detail = "the database cannot answer right now; retry shortly"
    else:
        # The traceback as plain text: a renderer given the exception itself may
        # show each frame's locals, and those hold the request's headers (its API key).
        trace = "".join(traceback.format_exception(exc))
        log.error("unhandled error", path=request.url.path, error=repr(exc), traceback=trace)
        status, title, parameter, headers = HTTP_500_INTERNAL_SERVER_ERROR, "Server error", None, None
        detail = "the server could not answer this request"
    body = Problem(
        type=_slug(title),
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        parameter=parameter,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_RESPONSE_DESCRIPTIONS = {
    400: "A bad parameter: `parameter` names it",
    401: "No API key, or one that is malformed, unknown or revoked",
    404: "No such resource for this API key's tenant (the same answer whether it exists for another tenant or not)",
    413: "A request body was sent: this API takes none",
    414: "The query string is longer than the limit",
    429: "Too many requests for this API key; retry after `Retry-After` seconds",
    431: "The request headers are larger than the limit",
    503: "The projections did not reach the requested position in time, or the database is unavailable (`Retry-After`)",
}
# Every data endpoint can answer these.
COMMON_PROBLEMS = (400, 401, 413, 414, 429, 431, 503)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem responses a route can give:
    ``COMMON_PROBLEMS`` and ``statuses`` (e.g. 404)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_RESPONSE_DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted({*COMMON_PROBLEMS, *statuses})
    }
