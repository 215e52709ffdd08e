"""The wire shapes of invoice lifecycle events (CloudEvents 1.0, JSON).

These Structs are what publishers send and what ``contracts.codec`` decodes.
Money fields are ``str`` here (decimal strings, see ``contracts.money``); the
codec checks them and ``contracts.amounts`` turns them into minor units.

Contract evolution: new fields get defaults, so older consumers ignore them and
newer consumers accept older events. Unknown fields are therefore ignored, never
rejected. A breaking change is a new event type.

The ``msgspec.Meta`` constraints below are enforced while decoding and also
documented in the generated JSON Schemas (``contracts/schemas``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal, TypeAlias, get_args

import msgspec
from msgspec import Meta

# The largest sequence: it keeps the value inside a 32-bit integer column.
MAX_SEQUENCE: Final = 2**31 - 1

# The money grammar, for the JSON Schemas only: the codec checks it itself so
# that a bad amount is reported as invalid_money rather than a schema violation.
_DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"

Id = Annotated[str, Meta(min_length=1, max_length=200)]
Name = Annotated[str, Meta(max_length=200)]
Timestamp = Annotated[
    datetime.datetime,
    Meta(tz=True, description="RFC 3339 timestamp with a time zone offset"),
]
Money = Annotated[
    str,
    Meta(
        description=("Decimal string in major units, at most as many decimals as the currency has (ISO 4217), >= 0"),
        extra_json_schema={"pattern": _DECIMAL_PATTERN, "examples": ["1250.50"]},
    ),
]
PaymentAmount = Annotated[
    str,
    Meta(
        description=(
            "Decimal string in major units of the invoice's currency, > 0, at "
            "most as many decimals as that currency has"
        ),
        extra_json_schema={"pattern": _DECIMAL_PATTERN, "examples": ["100.00"]},
    ),
]
Quantity = Annotated[
    str,
    Meta(
        max_length=64,
        description="Decimal string >= 0, any number of decimals",
        extra_json_schema={"pattern": _DECIMAL_PATTERN, "examples": ["1", "0.5"]},
    ),
]
CurrencyCode = Annotated[
    str,
    Meta(
        description="ISO 4217 code with minor units, upper case",
        extra_json_schema={"pattern": "^[A-Z]{3}$", "examples": ["EUR"]},
    ),
]


class BillingPeriod(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The service period an invoice bills, both ends inclusive."""

    start: datetime.date
    end_inclusive: datetime.date


class Line(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One invoice line. Its gross is net_amount + tax_amount."""

    id: Id
    description: Annotated[str, Meta(max_length=1000)] = ""
    charge_type: Literal["fixed", "usage"]
    recurrence: Literal["recurring", "one_time"]
    quantity: Quantity
    net_amount: Money
    tax_amount: Money


class InvoiceCreatedData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload of invoice.created: the whole invoice as issued."""

    invoice_number: Id
    customer_id: Id
    customer_name: Name | None = None
    currency: CurrencyCode
    issue_date: datetime.date
    due_date: datetime.date
    accounting_date: datetime.date | None = None
    billing_period: BillingPeriod | None = None
    billing_schedule_id: Id | None = None
    series_id: Id | None = None
    document_type: Literal["fiscal", "proforma"] = "fiscal"
    lines: Annotated[list[Line], Meta(max_length=1000)]
    net_total: Money
    tax_total: Money
    gross_total: Money


class InvoiceSentData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload of invoice.sent: the invoice is final and receivable."""

    sent_at: Timestamp


class InvoicePaidData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload of invoice.paid: one payment, in the invoice's currency."""

    payment_id: Id
    amount: PaymentAmount
    paid_at: Timestamp


class InvoiceVoidedData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload of invoice.voided."""

    voided_at: Timestamp
    reason: Annotated[str, Meta(max_length=1000)] | None = None


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """CloudEvents 1.0 attributes shared by every invoice event.

    ``type`` is the tag: it selects the payload Struct.
    """

    specversion: Annotated[str, Meta(description="CloudEvents version", extra_json_schema={"const": "1.0"})]
    id: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description="Unique event id, the idempotency key",
        ),
    ]
    source: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=500,
            description="URI-reference of the publishing service, e.g. /invoicing",
        ),
    ]
    subject: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description=(
                "The invoice id; equals the Kafka message key, which publishers partition with murmur2 "
                "(the Java client's default partitioner) so that all events of an invoice share a partition"
            ),
        ),
    ]
    time: Timestamp
    tenantid: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description="The merchant account the invoice belongs to",
        ),
    ]
    # An invoice's history is short; the upper bound keeps the value inside a
    # 32-bit integer column. On the wire it may also be a string of ASCII
    # digits ("3"): the codec turns it into the integer and the JSON Schemas
    # say so (contracts/schema.py).
    sequence: Annotated[
        int,
        Meta(
            ge=1,
            le=MAX_SEQUENCE,
            description=(
                "Position of this event in its invoice's history: created = 1, then 2, 3 ... "
                "An integer, or a string of ASCII digits with the same value (no sign)"
            ),
        ),
    ]
    datacontenttype: Annotated[str, Meta(max_length=200, description="application/json when given")] | None = None
    dataschema: Annotated[str, Meta(max_length=500, description="URI of the JSON Schema of data")] | None = None


class InvoiceCreated(Envelope, frozen=True, kw_only=True, omit_defaults=True, tag="invoice.created"):
    """An invoice was issued (sequence 1)."""

    data: InvoiceCreatedData


class InvoiceSent(Envelope, frozen=True, kw_only=True, omit_defaults=True, tag="invoice.sent"):
    """An invoice was sent to the customer and is now receivable."""

    data: InvoiceSentData


class InvoicePaid(Envelope, frozen=True, kw_only=True, omit_defaults=True, tag="invoice.paid"):
    """A payment was received for an invoice."""

    data: InvoicePaidData


class InvoiceVoided(Envelope, frozen=True, kw_only=True, omit_defaults=True, tag="invoice.voided"):
    """An invoice was voided; allowed while it is not fully paid."""

    data: InvoiceVoidedData


InvoiceEvent: TypeAlias = InvoiceCreated | InvoiceSent | InvoicePaid | InvoiceVoided
"""Every event type: the one list of them. ``EVENT_CLASSES``, ``EVENT_TYPES``,
the decoder, the JSON Schemas and every ``match`` on an event derive from it."""


def _event_classes() -> dict[str, type[InvoiceEvent]]:
    classes: dict[str, type[InvoiceEvent]] = {}
    for cls in get_args(InvoiceEvent):
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str), f"{cls.__name__} needs a string tag"
        classes[tag] = cls
    return classes


EVENT_CLASSES: Final[Mapping[str, type[InvoiceEvent]]] = MappingProxyType(_event_classes())
"""Event class by CloudEvents ``type`` (``invoice.created`` ...), in union order."""

EVENT_TYPES: Final[tuple[str, ...]] = tuple(EVENT_CLASSES)
"""The CloudEvents ``type`` of every event, in union order."""

_TYPE_OF: Final[Mapping[type[InvoiceEvent], str]] = MappingProxyType({cls: tag for tag, cls in EVENT_CLASSES.items()})


def type_name(cls: type[InvoiceEvent]) -> str:
    """The CloudEvents ``type`` of an event class (its tag)."""
    return _TYPE_OF[cls]


def event_type(event: InvoiceEvent) -> str:
    """The CloudEvents ``type`` of an event."""
    return _TYPE_OF[type(event)]
