"""RFC 9457 problem details: every error the API returns is one of these.

A family whose vendor publishes an error model of its own adds that model's
members to the document: its routes carry a ``ProblemStyle`` under
``opt[PROBLEM_STYLE]`` (the family's Router sets it), which turns the plain
``Problem`` into the vendor's shape and may add response headers. The
document goes out as ``application/problem+json``, or as ``application/json``
to a client whose ``Accept`` prefers that (as vendors' SDKs send it: they
parse only ``application/json`` error bodies).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
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
JSON = "application/json"
# The key of a route's ``opt`` that holds its family's ProblemStyle.
PROBLEM_STYLE = "problem_style"

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


# A family's error model: the problem in the vendor's shape (a subclass of
# Problem with the vendor's members) and the headers to add to the response.
ProblemStyle = Callable[[Request[Any, Any, Any], Problem], tuple[Problem, dict[str, str]]]


def _acceptance(accept: str, media_type: str) -> tuple[float, int]:
    """(quality, specificity) ``accept`` gives ``media_type``, by its most
    specific matching range: ``type/subtype`` (2), ``type/*`` (1), ``*/*`` (0);
    (0, -1) when none matches."""
    kind = media_type.split("/")[0]
    best_rank, quality = -1, 0.0
    for item in accept.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        rank = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(media_range.lower(), -1)
        if rank <= best_rank:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best_rank, quality = rank, q
    return quality, best_rank


def problem_media_type(accept: str | None) -> str:
    """``application/problem+json`` unless ``accept`` prefers ``application/json``:
    gives it a higher quality, or the same one by naming it where problem+json
    only falls under a wildcard (``Accept: application/json``, as the vendors'
    SDKs send; ``application/json, text/plain, */*``)."""
    if not accept:
        return PROBLEM_JSON
    json_quality, json_rank = _acceptance(accept, JSON)
    problem_quality, problem_rank = _acceptance(accept, PROBLEM_JSON)
    if json_quality > 0 and (json_quality, json_rank) > (problem_quality, problem_rank):
        return JSON
    return PROBLEM_JSON


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
    handler = request.scope.get("route_handler")
    style: ProblemStyle | None = handler.opt.get(PROBLEM_STYLE) if handler is not None else None
    if style is not None:
        body, extra = style(request, body)
        headers = {**(headers or {}), **extra}
    media_type = problem_media_type(request.headers.get("accept"))
    return Response(body, status_code=status, media_type=media_type, headers=headers)


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


def problem_responses(*statuses: int, shape: type[Problem] = Problem) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem responses a route can give:
    ``COMMON_PROBLEMS`` and ``statuses`` (e.g. 404), in ``shape`` (a family's
    error model). The document also states ``application/json`` for each
    (services/api/openapi.py): the same body, for clients that ask for it."""
    return {
        status: ResponseSpec(
            data_container=shape,
            description=_RESPONSE_DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted({*COMMON_PROBLEMS, *statuses})
    }
