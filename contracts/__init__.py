"""The published language of invoice events: CloudEvents envelope, payloads,
money rules, codec, JSON Schemas and a publisher helper.

Depends on msgspec only (aiokafka when the publisher is used), so any service
can depend on this package alone. See README.md beside this file.
"""

from contracts.amounts import InvoiceAmounts, invoice_amounts
from contracts.codec import (
    STRUCTURED_CONTENT_TYPE,
    Decoded,
    decode,
    decode_stored,
    encode,
    encode_binary,
    identify,
)
from contracts.errors import ContractError, EventIdentity, Reason
from contracts.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    BillingPeriod,
    Envelope,
    InvoiceCreated,
    InvoiceCreatedData,
    InvoiceEvent,
    InvoicePaid,
    InvoicePaidData,
    InvoiceSent,
    InvoiceSentData,
    InvoiceVoided,
    InvoiceVoidedData,
    Line,
    event_type,
    type_name,
)
from contracts.money import (
    CURRENCIES,
    MAX_MINOR,
    Currency,
    currency,
    format_minor,
    to_minor,
)
from contracts.publisher import InvoiceEventPublisher, Position

__all__ = [
    "CURRENCIES",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "MAX_MINOR",
    "STRUCTURED_CONTENT_TYPE",
    "BillingPeriod",
    "ContractError",
    "Currency",
    "Decoded",
    "Envelope",
    "EventIdentity",
    "InvoiceAmounts",
    "InvoiceCreated",
    "InvoiceCreatedData",
    "InvoiceEvent",
    "InvoiceEventPublisher",
    "InvoicePaid",
    "InvoicePaidData",
    "InvoiceSent",
    "InvoiceSentData",
    "InvoiceVoided",
    "InvoiceVoidedData",
    "Line",
    "Position",
    "Reason",
    "currency",
    "decode",
    "decode_stored",
    "encode",
    "encode_binary",
    "event_type",
    "format_minor",
    "identify",
    "invoice_amounts",
    "to_minor",
    "type_name",
]
