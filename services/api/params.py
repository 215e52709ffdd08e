"""Query parameter validation, shared by every route.

Handlers declare parameters as plain strings (so that a bad value is ours to
report) and turn them into typed values here. Every failure is a
``BadParameter`` naming the parameter: a 400 problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.params import QueryParameter

from contracts import CURRENCIES
from services.api.problems import ApiProblem, BadParameter
from services.settings import Settings

# Statuses our model produces, and the ones the seed pages document but our
# model never produces: accepted, matching nothing.
STATUSES = ("DRAFT", "SENT", "VOIDED")
NEVER_STATUSES = ("IN_PROGRESS", "FINAL")
PAYMENT_STATUSES = ("UNPAID", "PARTIALLY_PAID", "PAID")
NEVER_PAYMENT_STATUSES = ("UNCOLLECTIBLE",)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Decimal exponents accepted in amounts (netTotal): far beyond any total.
MAX_EXPONENT = 40
SORT_ORDERS = ("ASC", "DESC")

MinPosition = Annotated[
    str | None,
    QueryParameter(
        name="minPosition",
        description="Read-your-writes: wait (bounded) until the projections have applied these "
        "Kafka positions, `partition:offset[,partition:offset…]` as a publisher got them back. "
        "The `X-Min-Position` header does the same.",
    ),
]
AsOf = Annotated[
    str | None,
    QueryParameter(
        name="asOf",
        format="date",
        description="Overdue as of this date (YYYY-MM-DD): receivable invoices with a due date "
        "before it. Default: today in UTC.",
    ),
]


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


def as_of(value: str | None, parameter: str = "asOf") -> dt.date:
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


def limit(value: str | None, parameter: str = "limit") -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadParameter(parameter, f"expected an integer from 1 to {MAX_LIMIT}, got {value!r}")
    return int(value)


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


# Cursors ---------------------------------------------------------------------


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    """Keyset position in a sorted list: the sort, and the sort key of an item
    (its last element the invoice id). ``inclusive`` makes the item itself part
    of the page it points to (used when a page came back empty)."""

    sort_by: str
    sort_order: str
    key: tuple[Any, ...]
    inclusive: bool = False


_CURSOR_VERSION = 1


def encode_cursor(cursor: Cursor) -> str:
    raw = msgspec.json.encode((_CURSOR_VERSION, cursor))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(parameter: str, value: str, sort_by: str, sort_order: str, key_types: tuple[type, ...]) -> Cursor:
    """The cursor in ``value``, checked against the request's sort."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, cursor = msgspec.json.decode(raw, type=tuple[int, Cursor])
        if version != _CURSOR_VERSION:
            raise ValueError(version)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page") from None
    if (cursor.sort_by, cursor.sort_order) != (sort_by, sort_order):
        raise BadParameter(
            parameter,
            f"this cursor belongs to sortBy={cursor.sort_by}&sortOrder={cursor.sort_order}, "
            f"not sortBy={sort_by}&sortOrder={sort_order}",
        )
    try:
        key = msgspec.convert(list(cursor.key), tuple[key_types])  # type: ignore[valid-type]
    except msgspec.ValidationError:
        raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page") from None
    # A forged cursor must not reach the database with what it cannot take:
    # NUL characters in text, integers beyond bigint.
    for value in key:
        if (isinstance(value, str) and "\x00" in value) or (isinstance(value, int) and not -(2**63) <= value < 2**63):
            raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page")
    return Cursor(cursor.sort_by, cursor.sort_order, key, cursor.inclusive)


# Request limits ----------------------------------------------------------------

# Parameters that take a comma list, and the opaque cursors (allowed longer).
LIST_PARAMETERS = frozenset(
    {
        "invoiceStatus",
        "excludeInvoiceStatus",
        "invoicePaymentStatus",
        "excludeInvoicePaymentStatus",
        "invoiceCurrency",
        "excludeInvoiceCurrency",
        "minPosition",
    }
)
CURSOR_PARAMETERS = frozenset({"before", "after"})
CURSOR_LENGTH_FACTOR = 4


def check_value(parameter: str, value: str, settings: Settings) -> None:
    """What every query and path parameter must satisfy before any handler
    sees it: no NUL (PostgreSQL text cannot hold it), bounded length and list size."""
    if "\x00" in value:
        raise BadParameter(parameter, "must not contain NUL characters")
    longest = settings.max_parameter_length * (CURSOR_LENGTH_FACTOR if parameter in CURSOR_PARAMETERS else 1)
    if len(value) > longest:
        raise BadParameter(parameter, f"is {len(value)} characters long; at most {longest} are accepted")
    if parameter in LIST_PARAMETERS and value.count(",") >= settings.max_list_values:
        raise BadParameter(parameter, f"lists at most {settings.max_list_values} values")


def check_position(parameter: str, value: str | None) -> None:
    """``partition:offset`` lists take ASCII digits only (``²`` is a digit to Python)."""
    if value and not value.isascii():
        raise BadParameter(parameter, f"expected partition:offset[,partition:offset…], got {value!r}")


async def check_request(request: Request[Any, Any, Any]) -> None:
    """(async so that Litestar runs it inline: a sync hook goes to a thread
    pool on every request.) Request limits, before any handler runs: 414 for a query string over
    ``max_query_length`` bytes, 431 for headers over ``max_header_bytes``, 413
    for any body (the API only reads), 400 naming the parameter for a
    parameter given twice, too many parameters, or a value ``check_value`` refuses."""
    settings: Settings = request.app.state.settings
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    if len(query) > settings.max_query_length:
        raise ApiProblem(
            414,
            "URI too long",
            f"the query string is {len(query)} bytes; at most {settings.max_query_length} are accepted",
        )
    header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
    if header_bytes > settings.max_header_bytes:
        raise ApiProblem(
            431,
            "Request headers too large",
            f"the request headers are {header_bytes} bytes; at most {settings.max_header_bytes} are accepted",
        )
    headers = request.headers
    if headers.get("transfer-encoding") or headers.get("content-length", "0").strip() not in ("", "0"):
        raise ApiProblem(413, "Request too large", "this API takes no request body")
    items = list(request.query_params.multi_items())
    if len(items) > settings.max_query_parameters:
        raise ApiProblem(
            400,
            "Bad parameter",
            f"{len(items)} query parameters; at most {settings.max_query_parameters} are accepted",
        )
    seen: set[str] = set()
    for name, value in items:
        if name in seen:
            raise BadParameter(name, "is given more than once (lists are comma-separated)")
        seen.add(name)
        check_value(name, value, settings)
    for name, value in scope.get("path_params", {}).items():
        if isinstance(value, str):
            check_value(name, value, settings)
    check_position("minPosition", request.query_params.get("minPosition"))
    check_position("X-Min-Position", headers.get("x-min-position"))


# OpenAPI ---------------------------------------------------------------------

_STATUS_TOKENS = "|".join((*STATUSES, *NEVER_STATUSES))
_PAYMENT_TOKENS = "|".join((*PAYMENT_STATUSES, *NEVER_PAYMENT_STATUSES))
_DATE_PARAMETERS = (
    "dueBefore",
    "dueAfter",
    "sentBefore",
    "sentAfter",
    "invoiceBefore",
    "invoiceAfter",
    "asOf",
    "start_date",
    "end_date",
)
_TEXT_PARAMETERS = (
    "customerId",
    "excludeCustomerId",
    "billingScheduleId",
    "excludeBillingScheduleId",
    "search",
    "excludeSearch",
    "invoiceNumber",
    "excludeInvoiceNumber",
    "client_id",
    "series_id",
    "id",
    "invoiceId",
)


def _comma_list(token: str) -> str:
    return f"^({token})(,({token}))*$"


def parameter_schema(name: str, settings: Settings) -> dict[str, Any]:
    """What the OpenAPI document says a query or path parameter takes (every
    value travels as a string; this is what the handlers and ``check_request``
    accept)."""
    longest = settings.max_parameter_length * (CURSOR_LENGTH_FACTOR if name in CURSOR_PARAMETERS else 1)
    schema: dict[str, Any] = {"type": "string", "maxLength": longest}
    if name in _DATE_PARAMETERS:
        schema.update(format="date")
    elif name in _TEXT_PARAMETERS:
        schema.update(minLength=1)
    elif name in ("invoiceStatus", "excludeInvoiceStatus"):
        schema.update(pattern=_comma_list(_STATUS_TOKENS))
    elif name in ("invoicePaymentStatus", "excludeInvoicePaymentStatus"):
        schema.update(pattern=_comma_list(_PAYMENT_TOKENS))
    elif name in ("invoiceCurrency", "excludeInvoiceCurrency"):
        schema.update(pattern=_comma_list("[A-Z]{3}"))
    elif name in ("currency", "reporting_currency"):
        schema.update(pattern="^[A-Z]{3}$")
    elif name in ("minPosition",):
        schema.update(pattern=_comma_list("[0-9]+:[0-9]+"))
    return schema
