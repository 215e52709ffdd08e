"""Query and path parameters, shared by every family.

Each parameter is declared once, next to the handler or dependency that takes
it, as a ``Param``: its name and description, what the OpenAPI document says
it takes (``schema``) and the limits ``check_request`` holds every request to
(``comma_list``, ``length_factor``). Handlers take the values as plain strings
(so that a bad value is ours to report) and turn them into typed values with
the parsers below. Every failure is a ``BadParameter`` naming the parameter:
a 400 problem, never a 500.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.params import HeaderParameter, ParameterKwarg, PathParameter, QueryParameter
from litestar.routes import BaseRoute, HTTPRoute

from contracts import CURRENCIES
from services.api.problems import ApiProblem, BadParameter
from services.settings import Settings

# Decimal exponents accepted in amounts (netTotal): far beyond any total.
MAX_EXPONENT = 40

# Document schemas shared by many parameters.
DATE: Mapping[str, Any] = {"format": "date"}
NON_EMPTY: Mapping[str, Any] = {"minLength": 1}
CURRENCY_CODE: Mapping[str, Any] = {"pattern": "^[A-Z]{3}$"}


def list_pattern(token: str) -> Mapping[str, Any]:
    """The document schema of a comma list of ``token`` (a regular expression)."""
    return {"pattern": f"^({token})(,({token}))*$"}


@dataclass(frozen=True)
class Limits:
    """What a parameter's values are held to, and what the OpenAPI document
    says of them. A value is always a string of at most ``max_parameter_length
    × length_factor`` characters; ``schema`` adds to that (``format``,
    ``minLength``, ``pattern``, ``enum``; or another ``type``, with
    ``minimum``/``maximum``, where the string limits are not stated)."""

    schema: Mapping[str, Any] = field(default_factory=dict)
    # A comma list: at most ``max_list_values`` values.
    comma_list: bool = False
    # Values up to this many times ``max_parameter_length`` (opaque cursors).
    length_factor: int = 1

    def longest(self, settings: Settings) -> int:
        return settings.max_parameter_length * self.length_factor

    def document_schema(self, settings: Settings) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.longest(settings), **self.schema}
        if schema["type"] != "string":
            for key in ("maxLength", "minLength", "pattern"):
                schema.pop(key, None)
        return schema

    def check(self, parameter: str, value: str, settings: Settings) -> None:
        """What every value must satisfy before any handler sees it: no NUL
        (PostgreSQL text cannot hold it), bounded length and list size."""
        if "\x00" in value:
            raise BadParameter(parameter, "must not contain NUL characters")
        longest = self.longest(settings)
        if len(value) > longest:
            raise BadParameter(parameter, f"is {len(value)} characters long; at most {longest} are accepted")
        if self.comma_list and value.count(",") >= settings.max_list_values:
            raise BadParameter(parameter, f"lists at most {settings.max_list_values} values")


# The limits of a parameter no route declares.
PLAIN = Limits()
# The limits of every declared parameter, by name: a name means the same
# wherever it is taken (requests are checked before any handler is chosen).
_DECLARED: dict[str, Limits] = {}


def limits(name: str) -> Limits:
    return _DECLARED.get(name, PLAIN)


def is_declared(name: str) -> bool:
    return name in _DECLARED


@dataclass(frozen=True)
class Param:
    """One query or path parameter, declared where it is taken:
    ``Annotated[str | None, PARAM.query()]`` in a handler's or dependency's
    signature. Declaring it is all the OpenAPI document and the request
    checks need (``limits``)."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    comma_list: bool = False
    length_factor: int = 1
    required: bool = False

    def __post_init__(self) -> None:
        own = Limits(dict(self.schema), self.comma_list, self.length_factor)
        if _DECLARED.setdefault(self.name, own) != own:
            raise ValueError(f"parameter {self.name!r} is declared twice with different limits")

    def query(self) -> ParameterKwarg:
        return QueryParameter(name=self.name, description=self.description, required=self.required or None)

    def path(self) -> ParameterKwarg:
        return PathParameter(name=self.name, description=self.description)

    def header(self) -> ParameterKwarg:
        return HeaderParameter(name=self.name, description=self.description, required=self.required or None)


MIN_POSITION = Param(
    "minPosition",
    "Read-your-writes: wait (bounded) until the projections have reached these Kafka positions, "
    "comma-separated: `partition:offset` (a publisher's offset, applied) or `topic:partition=next_offset` "
    "(the `X-Projection-Position` header of any answer, or the publisher helper's token, passed back as it is). "
    "The `X-Min-Position` header does the same.",
    list_pattern("[0-9]+:[0-9]+|[A-Za-z0-9._-]+:[0-9]+=[0-9]+"),
    comma_list=True,
)
MinPosition = Annotated[str | None, MIN_POSITION.query()]

AS_OF = Param(
    "asOf",
    "The figures as they stood at the end of this date (YYYY-MM-DD, UTC) by the events' own dates: "
    "invoices created by then, SENT or VOIDED by then, payments made by then; overdue and aging as of it. "
    "Default: the current figures, overdue as of today in UTC.",
    DATE,
)
AsOf = Annotated[str | None, AS_OF.query()]


# Parsers ----------------------------------------------------------------------


def date(parameter: str, value: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` date, or None when absent."""
    if value is None or value == "":
        return None
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise BadParameter(parameter, f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadParameter(parameter, f"{value!r} is not a valid calendar date") from None


def required_date(parameter: str, value: str | None) -> dt.date:
    parsed = date(parameter, value)
    if parsed is None:
        raise BadParameter(parameter, "is required (YYYY-MM-DD)")
    return parsed


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def as_of(value: str | None, parameter: str = AS_OF.name) -> dt.date:
    """The overdue cut-off: the given date, or today in UTC."""
    return date(parameter, value) or today()


def enum_list(parameter: str, value: str | None, allowed: Sequence[str], never: Sequence[str] = ()) -> list[str] | None:
    """A comma list of enum values: None when absent; the values our model
    produces otherwise (possibly empty: only never-produced values given)."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise BadParameter(parameter, f"expected a comma-separated list of {', '.join(allowed)}")
    for item in items:
        if item not in allowed and item not in never:
            raise BadParameter(parameter, f"{item!r} is not one of {', '.join((*allowed, *never))}")
    return [item for item in dict.fromkeys(items) if item in allowed]


def currency_code(parameter: str, value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip()
    if code not in CURRENCIES:
        raise BadParameter(parameter, f"{value!r} is not an ISO 4217 currency code (e.g. EUR)")
    return code


def currency_list(parameter: str, value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise BadParameter(parameter, "expected a comma-separated list of ISO 4217 codes")
    return list(dict.fromkeys(currency_code(parameter, item) or "" for item in items))


def boolean(parameter: str, value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadParameter(parameter, f"expected true or false, got {value!r}")


def choice(parameter: str, value: str | None, allowed: Iterable[str], default: str) -> str:
    if value is None or value == "":
        return default
    options = tuple(allowed)
    if value not in options:
        raise BadParameter(parameter, f"{value!r} is not one of {', '.join(options)}")
    return value


def decimal_number(parameter: str, value: str | None) -> Decimal | None:
    """An exact decimal number (``1250.5``, ``-3``, ``1e3``), or None when absent."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise BadParameter(parameter, f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise BadParameter(parameter, f"expected a finite number, got {value!r}")
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        # Beyond any amount, and beyond what decimal arithmetic handles.
        raise BadParameter(parameter, f"{value!r} is out of range (up to 1e{MAX_EXPONENT})")
    return number


def text(parameter: str, value: str | None) -> str | None:
    """A non-empty string filter, or None when absent."""
    if value is None:
        return None
    if value == "":
        raise BadParameter(parameter, "must not be empty")
    return value


# Request limits ----------------------------------------------------------------


def check_position(parameter: str, value: str | None) -> None:
    """``partition:offset`` lists take ASCII digits only (``²`` is a digit to Python)."""
    if value and not value.isascii():
        raise BadParameter(parameter, f"expected partition:offset[,partition:offset…], got {value!r}")


def accepted_query_parameters(routes: Iterable[BaseRoute], exempt: str) -> dict[int, frozenset[str]]:
    """The query parameters each route handler takes (its own and its
    dependencies'), by ``id(handler)``; CORS preflights and the routes under
    ``exempt`` (the OpenAPI pages) are not held to theirs."""
    accepted: dict[int, frozenset[str]] = {}
    for route in routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(exempt):
            continue
        for method, (handler, model) in route.route_handler_map.items():
            if method != "OPTIONS":
                taken = {p.field_alias for p in model.expected_query_params}
                # Read-your-writes is every endpoint's (those without data ignore it).
                accepted[id(handler)] = frozenset({*taken, MIN_POSITION.name})
    return accepted


def check_known(names: Sequence[str], accepted: frozenset[str]) -> None:
    """A 400 naming every query parameter the endpoint does not take: a
    misspelt filter must not be ignored (its answer would be the unfiltered one)."""
    unknown = list(dict.fromkeys(name for name in names if name not in accepted))
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(accepted), n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    plural = "s" if len(unknown) > 1 else ""
    raise ApiProblem(
        400,
        "Bad parameter",
        f"unknown query parameter{plural} {', '.join(named)}: this endpoint takes "
        + (", ".join(sorted(accepted)) if accepted else "no query parameters"),
        parameter=unknown[0],
    )


async def check_request(request: Request[Any, Any, Any]) -> None:
    """(async so that Litestar runs it inline: a sync hook goes to a thread
    pool on every request.) Request limits, before any handler runs: 414 for a query string over
    ``max_query_length`` bytes, 431 for headers over ``max_header_bytes``, 413
    for any body (the API only reads), 400 naming the parameter for a
    parameter given twice, too many parameters, a value its ``Limits`` refuse,
    or a parameter the endpoint does not take (``app.state.query_parameters``,
    made by ``accepted_query_parameters``)."""
    settings: Settings = request.app.state.settings
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    if len(query) > settings.max_query_length:
        raise ApiProblem(
            414,
            "URI too long",
            f"the query string is {len(query)} bytes; at most {settings.max_query_length} are accepted",
        )
    # One pass over the raw headers (the first of repeated ones counts, as in
    # Litestar's Headers, which most requests then need no more).
    header_bytes = 0
    transfer_encoding = content_length = min_position = None
    for header, raw in scope["headers"]:
        header_bytes += len(header) + len(raw)
        if header == b"transfer-encoding":
            transfer_encoding = raw if transfer_encoding is None else transfer_encoding
        elif header == b"content-length":
            content_length = raw if content_length is None else content_length
        elif header == b"x-min-position" and min_position is None:
            min_position = raw
    if header_bytes > settings.max_header_bytes:
        raise ApiProblem(
            431,
            "Request headers too large",
            f"the request headers are {header_bytes} bytes; at most {settings.max_header_bytes} are accepted",
        )
    if transfer_encoding or (content_length is not None and latin1(content_length).strip() not in ("", "0")):
        raise ApiProblem(413, "Request too large", "this API takes no request body")
    # Most reads have no query string: nothing to parse then.
    items = list(request.query_params.multi_items()) if query else []
    if len(items) > settings.max_query_parameters:
        raise ApiProblem(
            400,
            "Bad parameter",
            f"{len(items)} query parameters; at most {settings.max_query_parameters} are accepted",
        )
    seen: dict[str, None] = {}
    for name, value in items:
        if name in seen:
            raise BadParameter(name, "is given more than once (lists are comma-separated)")
        seen[name] = None
        limits(name).check(name, value, settings)
    handler = scope.get("route_handler")
    accepted: frozenset[str] | None = None
    if handler is not None:
        accepted = request.app.state.query_parameters.get(id(handler))
    if accepted is not None and not accepted.issuperset(seen):
        # In the order the query string gives them (the parsed mapping's order may differ).
        names = dict.fromkeys(name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        check_known([*names, *seen], accepted)
    for name, value in scope.get("path_params", {}).items():
        if isinstance(value, str):
            limits(name).check(name, value, settings)
    if query:
        check_position(MIN_POSITION.name, request.query_params.get(MIN_POSITION.name))
    check_position("X-Min-Position", None if min_position is None else latin1(min_position))


def latin1(value: bytes) -> str:
    """A raw header value as Litestar's Headers decode it."""
    return value.decode("latin-1")
