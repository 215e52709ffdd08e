"""Bytes <-> events, with every check that needs no invoice history.

``decode`` takes a Kafka message value (and its headers) and returns a
``Decoded`` event or raises ``ContractError`` with the reason to quarantine it.
It never raises anything else, whatever the bytes.

Both CloudEvents Kafka protocol binding modes are accepted:

- structured (the default, what ``encode`` writes): the value is the whole
  event as JSON, content-type ``application/cloudevents+json``;
- binary (when a ``ce_specversion`` header is present): attributes in
  ``ce_<name>`` headers as UTF-8 strings (``ce_sequence`` a decimal string),
  ``content-type`` is ``datacontenttype``, the value is ``data`` as JSON.

A binary message is turned into the structured JSON document and decoded by the
same decoder, so both modes have exactly the same rules and error paths.
``sequence`` may be a string of ASCII digits in either mode; the decoded event
holds the integer.

A ``ContractError`` from ``decode`` carries the message's ``identity`` when it
says who it belongs to (``identify``): the headers of a binary-mode message,
or the attributes of a structured body that parses but breaks a rule.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Sequence
from typing import Any, assert_never

import msgspec

from contracts.amounts import InvoiceAmounts, invoice_amounts
from contracts.errors import ContractError, EventIdentity, Reason, quoted
from contracts.events import (
    EVENT_TYPES,
    MAX_SEQUENCE,
    InvoiceCreated,
    InvoiceEvent,
    InvoicePaid,
    InvoiceSent,
    InvoiceVoided,
    event_type,
)
from contracts.money import decimal_sign

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SPECVERSION = "1.0"

_decoder = msgspec.json.Decoder(InvoiceEvent)
# Only on the error path: tells malformed JSON from a schema violation.
_untyped_decoder = msgspec.json.Decoder()
# Checks that a binary-mode value is exactly one JSON value before it is
# spliced into a document.
_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
_encoder = msgspec.json.Encoder()

_HEADER_PREFIX = "ce_"
_BINARY_MARKER = "ce_specversion"
_CONTENT_TYPE_HEADER = "content-type"
# msgspec reports a tag value that names no event type as
# "Invalid value 'x' - at `$.type`" (other bad values say "Invalid enum value").
_UNKNOWN_TAG_SUFFIX = " - at `$.type`"
# ... and a sequence of another JSON type as "Expected `int`, got `str` - at `$.sequence`".
_SEQUENCE_TYPE_PREFIX = "Expected `int`, got `"
_SEQUENCE_SUFFIX = " - at `$.sequence`"
# The attributes an identity is made of, and the longest text kept of each.
_IDENTITY_TEXTS = ("tenantid", "id", "subject", "type")
_IDENTITY_MAX_LENGTH = 200


class Decoded(msgspec.Struct, frozen=True):
    """A valid event; ``amounts`` is set for invoice.created only."""

    event: InvoiceEvent
    amounts: InvoiceAmounts | None


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes | None]] = ()) -> Decoded:
    """Decode and validate one Kafka message; ContractError if it can never
    apply, with the message's identity when it gives one."""
    try:
        return _decode(value, headers)
    except ContractError as error:
        if error.identity is None and _is_binary(headers):
            # A header or the data broke a rule before the attributes were
            # read as a document: the headers still say whose event it is.
            error.identity = _identity(_header_attributes(headers))
        raise


def identify(value: bytes | None, headers: Sequence[tuple[str, bytes | None]] = ()) -> EventIdentity | None:
    """What a message says of its tenant, id, subject, type and sequence,
    valid or not: from the ``ce_*`` headers in binary mode, from the JSON
    object in structured mode. Each attribute only when it is given once with
    the contract's type and bounds (see ``EventIdentity``); None when none is.
    Never raises."""
    if _is_binary(headers):
        return _identity(_header_attributes(headers))
    if value is None:
        return None
    try:
        parsed = _untyped_decoder.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return _identity(parsed) if isinstance(parsed, dict) else None


def _decode(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> Decoded:
    document = _binary_document(value, headers) if headers else None
    if document is None:
        if value is None:
            raise ContractError(Reason.MALFORMED, "the message has no value")
        document = value
    try:
        # msgspec skips unknown fields without reading them, invalid UTF-8
        # included; the whole message must be UTF-8 (an ASCII scan is cheap).
        if not document.isascii():
            document.decode()
        event = _decoder.decode(document)
    except msgspec.ValidationError as exc:
        event, document = _decode_again(document, exc)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _malformed(exc) from exc
    try:
        amounts = _validate(event, document)
    except ContractError as error:
        error.identity = _identity(
            {
                "tenantid": event.tenantid,
                "id": event.id,
                "subject": event.subject,
                "type": event_type(event),
                "sequence": event.sequence,
            }
        )
        raise
    return Decoded(event=event, amounts=amounts)


def decode_stored(body: bytes) -> Decoded:
    """Decode an event-store body: structured JSON that ``decode`` accepted
    when it was appended, so only the amounts are worked out again (a replay
    spent a sixth of its time re-checking the rest)."""
    try:
        event = _decoder.decode(body)
    except msgspec.ValidationError:
        # Stored as it arrived with its sequence spelled as digits ("3").
        return decode(body)
    match event:
        case InvoiceCreated():
            return Decoded(event=event, amounts=invoice_amounts(event.data))
        case InvoiceSent() | InvoicePaid() | InvoiceVoided():
            return Decoded(event=event, amounts=None)
        case _:
            assert_never(event)


def encode(event: InvoiceEvent) -> bytes:
    """The structured-mode JSON of ``event`` (the Kafka message value)."""
    return _encoder.encode(event)


def encode_binary(event: InvoiceEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    """Binary mode: ``ce_*`` headers plus ``content-type``, and ``data`` as JSON."""
    attributes = msgspec.to_builtins(event)
    del attributes["data"]
    content_type = attributes.pop("datacontenttype", DATA_CONTENT_TYPE)
    headers = [(_HEADER_PREFIX + name, str(attribute).encode()) for name, attribute in attributes.items()]
    headers.append((_CONTENT_TYPE_HEADER, content_type.encode()))
    return headers, _encoder.encode(event.data)


def _binary_document(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> bytes | None:
    """The structured JSON of a binary-mode message; None if it is not one."""
    # Attribute headers are only read once ce_specversion says the message is
    # in binary mode: a structured message's stray ce_* headers are ignored.
    if not _is_binary(headers):
        return None
    found: list[tuple[str, str, bytes | None]] = []
    for key, raw in headers:
        if key.startswith(_HEADER_PREFIX):
            found.append((key[len(_HEADER_PREFIX) :], key, raw))
        elif key.lower() == _CONTENT_TYPE_HEADER:
            found.append(("datacontenttype", key, raw))
    attributes: dict[str, str | int] = {}
    for name, key, raw in found:
        if name in attributes:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"header {key}: given more than once")
        if raw is None:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"header {key}: has no value")
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise ContractError(Reason.MALFORMED, f"header {key}: not UTF-8 ({exc.reason})") from exc
        attributes[name] = _header_sequence(text) if name == "sequence" else text
    # The value is the data; a ce_data header cannot replace it.
    attributes.pop("data", None)
    document = _encoder.encode(attributes)
    if value is None:
        return document  # decoding reports the missing data
    try:
        _raw_decoder.decode(value)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ContractError(Reason.MALFORMED, f"data: the message value is not one JSON value ({exc})") from exc
    return b"".join((document[:-1], b',"data":', value, b"}"))


def _is_binary(headers: Sequence[tuple[str, bytes | None]]) -> bool:
    return any(key == _BINARY_MARKER for key, _ in headers)


def _header_sequence(text: str) -> int:
    try:
        return digit_sequence(text)
    except ValueError as exc:
        raise ContractError(Reason.SCHEMA_VIOLATION, f"header ce_sequence: {exc}") from None


def digit_sequence(text: str) -> int:
    """The value of a sequence spelled as a string: ASCII digits only (no
    sign, space, decimal point or exponent; leading zeros are fine), 1 to
    2147483647 like the integer. ValueError saying why otherwise."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{quoted(text)} is not a string of ASCII digits (no sign, space, decimal point or exponent)")
    significant = text.lstrip("0")
    # The length first: int() of a very long string is slow.
    if not significant or len(significant) > len(str(MAX_SEQUENCE)) or int(significant) > MAX_SEQUENCE:
        raise ValueError(f"{quoted(text)} is out of range: 1 to {MAX_SEQUENCE}")
    return int(significant)


def _decode_again(document: bytes, exc: msgspec.ValidationError) -> tuple[InvoiceEvent, bytes]:
    """After a typed-decoding failure: the event and its document once a
    sequence spelled as digits is the integer it spells, or the ContractError
    that says what is wrong (with what the document says of its identity).

    The typed decoder stops at the first problem, which may come before a
    syntax error further on, so a full untyped parse decides whether the
    document is JSON at all.
    """
    try:
        parsed = _untyped_decoder.decode(document)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as malformed:
        raise _malformed(malformed) from exc
    if not isinstance(parsed, dict):
        raise ContractError(Reason.MALFORMED, f"not a JSON object but a {type(parsed).__name__}") from exc
    identity = _identity(parsed)
    message = str(exc)
    if message.startswith(_SEQUENCE_TYPE_PREFIX) and message.endswith(_SEQUENCE_SUFFIX):
        sequence = parsed.get("sequence")
        if not isinstance(sequence, str):
            got = message[len(_SEQUENCE_TYPE_PREFIX) : -len(_SEQUENCE_SUFFIX)]
            raise ContractError(
                Reason.SCHEMA_VIOLATION,
                f"Expected `int` or a string of ASCII digits, got `{got}{_SEQUENCE_SUFFIX}",
                identity,
            ) from exc
        try:
            parsed["sequence"] = digit_sequence(sequence)
        except ValueError as bad:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"sequence: {bad}", identity) from exc
        document = _encoder.encode(parsed)
        try:
            return _decoder.decode(document), document
        except msgspec.ValidationError as again:
            raise _classify(str(again), identity) from again
    raise _classify(message, identity) from exc


def _classify(message: str, identity: EventIdentity | None) -> ContractError:
    """The reason for a typed-decoding failure of a JSON object."""
    if message.startswith("Invalid value ") and message.endswith(_UNKNOWN_TAG_SUFFIX):
        return ContractError(
            Reason.UNKNOWN_TYPE,
            f"{message}; known types: {', '.join(EVENT_TYPES)}",
            identity,
        )
    return ContractError(Reason.SCHEMA_VIOLATION, message, identity)


def _header_attributes(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The ``ce_*`` attributes given exactly once, as UTF-8 text."""
    given: dict[str, bytes | None] = {}
    repeated: set[str] = set()
    for key, raw in headers:
        if key.startswith(_HEADER_PREFIX):
            name = key[len(_HEADER_PREFIX) :]
            if name in given:
                repeated.add(name)
            given[name] = raw
    attributes: dict[str, str] = {}
    for name, raw in given.items():
        if raw is not None and name not in repeated:
            try:
                attributes[name] = raw.decode()
            except UnicodeDecodeError:
                continue
    return attributes


def _identity(attributes: dict[str, Any]) -> EventIdentity | None:
    """The identity attributes that have the contract's type and bounds."""
    found: dict[str, Any] = {}
    for name in _IDENTITY_TEXTS:
        text = attributes.get(name)
        # Stored in indexed text columns: bounded, and without NUL.
        if isinstance(text, str) and 0 < len(text) <= _IDENTITY_MAX_LENGTH and "\x00" not in text:
            found[name] = text
    sequence = attributes.get("sequence")
    if isinstance(sequence, str):
        with contextlib.suppress(ValueError):
            found["sequence"] = digit_sequence(sequence)
    elif type(sequence) is int and 1 <= sequence <= MAX_SEQUENCE:
        found["sequence"] = sequence
    return EventIdentity(**found) if found else None


def _malformed(exc: Exception) -> ContractError:
    if isinstance(exc, UnicodeDecodeError):
        return ContractError(Reason.MALFORMED, f"not UTF-8 ({exc.reason})")
    if isinstance(exc, RecursionError):
        return ContractError(Reason.MALFORMED, "JSON nested too deeply")
    return ContractError(Reason.MALFORMED, str(exc))


def _validate(event: InvoiceEvent, document: bytes) -> InvoiceAmounts | None:
    """The checks msgspec's types cannot express; amounts of a created invoice."""
    if event.specversion != SPECVERSION:
        raise ContractError(
            Reason.UNSUPPORTED_SPECVERSION,
            f"specversion: {quoted(event.specversion)}, only {SPECVERSION!r} is supported",
        )
    content_type = event.datacontenttype
    if content_type is not None and not _is_json(content_type):
        raise ContractError(
            Reason.SCHEMA_VIOLATION,
            f"datacontenttype: {quoted(content_type)}, data must be {DATA_CONTENT_TYPE}",
        )
    # JSON may spell NUL as \u0000, which no PostgreSQL text column stores. The
    # byte search is cheap; the walk runs only when an escape is there.
    if b"\\u0000" in document:
        _reject_nul(event, "")
    _check_utc(event.time, "time")
    match event:
        case InvoiceCreated():
            return invoice_amounts(event.data)
        case InvoiceSent():
            _check_utc(event.data.sent_at, "data.sent_at")
        case InvoicePaid():
            # The currency lives on the created event, so the fold converts the
            # amount; its grammar and sign need no history.
            if decimal_sign(event.data.amount, field="data.amount") <= 0:
                raise ContractError(
                    Reason.NEGATIVE_AMOUNT,
                    f"data.amount: {quoted(event.data.amount)} must be > 0",
                )
            _check_utc(event.data.paid_at, "data.paid_at")
        case InvoiceVoided():
            _check_utc(event.data.voided_at, "data.voided_at")
        case _:
            assert_never(event)
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == DATA_CONTENT_TYPE or media_type.endswith("+json")


def _check_utc(moment: datetime.datetime, field: str) -> None:
    """A timestamp must have a UTC instant: 0001-01-01T00:00+01:00 has none."""
    if 1 < moment.year < 9999:
        return
    try:
        moment.astimezone(datetime.UTC)
    except OverflowError as exc:
        raise ContractError(
            Reason.SCHEMA_VIOLATION,
            f"{field}: {moment.isoformat()} is out of range in UTC",
        ) from exc


def _reject_nul(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"{path}: contains a NUL character")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _reject_nul(getattr(value, name), f"{path}.{name}" if path else name)
