"""Hostile inputs: records a careless or malicious publisher might send, each
with the outcome the service owes it. Mixed into a valid stream, every hostile
record must be quarantined with its reason (or, where noted, applied as the
harmless thing it is), and the valid events must apply exactly as without them.

Hostile records never touch the valid invoices: they use invoices of their
own, so the valid stream's expected tables do not depend on them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts import InvoiceEvent, encode, encode_binary
from contracts.amounts import LATEST_DUE_DATE
from tests.factories import InvoiceBuilder, line

Record = tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]  # value, key, headers


@dataclass(frozen=True)
class Hostile:
    name: str
    records: list[Record]
    # The expected outcome of each record: a quarantine reason, or "applied".
    expected: list[str]


def _doc(event: InvoiceEvent) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode(event))
    return document


def _raw(document: Any, key: str) -> Record:
    return (json.dumps(document).encode(), key.encode(), ())


def _mutated(
    name: str, reason: str, mutate: Callable[[dict[str, Any]], None], rng: random.Random, event: str = "created"
) -> Hostile:
    inv = InvoiceBuilder(
        f"hostile-{name}-{rng.getrandbits(40):x}",
        tenant="hostile",
        lines=[line(net=rng.randint(1, 10**6), tax=rng.randint(0, 10**5))],
    )
    created = inv.created()
    document = _doc(created if event == "created" else inv.paid("10.00", sequence=2))
    mutate(document)
    if event == "created":
        return Hostile(name, [_raw(document, inv.invoice_id)], [reason])
    return Hostile(
        name, [(encode(created), inv.invoice_id.encode(), ()), _raw(document, inv.invoice_id)], ["applied", reason]
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = document
        for part in parents:
            target = target[part]
        del target[last]

    return mutate


def _history(
    name: str,
    rng: random.Random,
    steps: Callable[[InvoiceBuilder], list[InvoiceEvent]],
    expected: list[str],
    tenant: str = "hostile",
    invoice_id: str | None = None,
    currency: str = "EUR",
) -> Hostile:
    inv = InvoiceBuilder(
        invoice_id or f"hostile-{name}-{rng.getrandbits(40):x}",
        tenant=tenant,
        currency=currency,
        lines=[line(net=10000, tax=0)],
    )
    return Hostile(name, [(encode(e), e.subject.encode(), ()) for e in steps(inv)], expected)


def catalogue(rng: random.Random) -> list[Hostile]:
    """One of each kind (randomised values)."""
    created = InvoiceBuilder("hostile-template", tenant="hostile").created()
    valid = encode(created)
    cut = rng.randint(1, len(valid) - 2)
    deep = rng.randint(2_000, 20_000)
    shared_id = f"hostile-shared-{rng.getrandbits(40):x}"
    binary_headers, binary_value = encode_binary(InvoiceBuilder("hostile-binary", tenant="hostile").created())
    bad_sequence_headers = tuple((k, b"abc" if k == "ce_sequence" else v) for k, v in binary_headers)
    invalid_utf8 = valid[:cut] + b"\xff\xfe" + valid[cut:]
    return [
        Hostile("truncated JSON", [(valid[:cut], b"hostile-template", ())], ["malformed"]),
        Hostile("empty value", [(b"", b"k", ())], ["malformed"]),
        Hostile("no value at all", [(None, b"k", ())], ["malformed"]),
        Hostile("invalid UTF-8", [(invalid_utf8, b"hostile-template", ())], ["malformed"]),
        Hostile("a JSON array", [(b"[1, 2, 3]", b"k", ())], ["malformed"]),
        Hostile("deep nesting", [(b'{"a":' * deep + b"1" + b"}" * deep, b"k", ())], ["malformed"]),
        Hostile(
            "binary mode with a non-numeric sequence",
            [(binary_value, b"hostile-binary", bad_sequence_headers)],
            ["schema_violation"],
        ),
        _mutated(
            "huge description",
            "schema_violation",
            _set("data.lines.0.description", "x" * rng.randint(2_000, 400_000)),
            rng,
        ),
        _mutated(
            "too many lines",
            "schema_violation",
            lambda d: d["data"].__setitem__("lines", d["data"]["lines"] * 1001),
            rng,
        ),
        _mutated("amount as a JSON number", "schema_violation", _set("data.net_total", 12.5), rng),
        _mutated(
            "sequence as a string that is not plain digits",
            "schema_violation",
            _set("sequence", rng.choice(["+1", "-1", " 1", "1.0", "1e0", "", "\u0661", "0", "2147483648"])),
            rng,
        ),
        _mutated("sequence as a string of digits (valid)", "applied", _set("sequence", rng.choice(["1", "01"])), rng),
        _mutated("lines as an object", "schema_violation", _set("data.lines", {"a": 1}), rng),
        _mutated("missing tenant", "schema_violation", _drop("tenantid"), rng),
        _mutated("empty event id", "schema_violation", _set("id", ""), rng),
        _mutated("NUL in a string", "schema_violation", _set("data.customer_name", "evil\u0000name"), rng),
        _mutated("sequence zero", "schema_violation", _set("sequence", 0), rng),
        _mutated("sequence beyond 32 bits", "schema_violation", _set("sequence", 2**40), rng),
        _mutated("timestamp outside UTC", "schema_violation", _set("time", "9999-12-31T23:00:00-05:00"), rng),
        _mutated("not a date", "schema_violation", _set("data.due_date", "2026-02-30"), rng),
        _mutated(
            "unknown type", "unknown_type", _set("type", rng.choice(["invoice.refunded", "INVOICE.CREATED", ""])), rng
        ),
        _mutated("old specversion", "unsupported_specversion", _set("specversion", "0.3"), rng),
        _mutated(
            "NaN money",
            "invalid_money",
            _set("data.lines.0.tax_amount", rng.choice(["NaN", "nan", "Infinity", "-Infinity"])),
            rng,
        ),
        _mutated(
            "exponent money",
            "invalid_money",
            _set("data.lines.0.net_amount", rng.choice(["1e3", "1E-2", "0x10", " 5", "5 "])),
            rng,
        ),
        _mutated("negative money", "negative_amount", _set("data.lines.0.net_amount", "-5.00"), rng),
        _mutated("too many decimals", "money_precision", _set("data.net_total", "1.001"), rng),
        _mutated(
            "absurd amount", "amount_out_of_range", _set("data.lines.0.net_amount", "9" * rng.randint(18, 40)), rng
        ),
        _mutated(
            "unknown currency", "unknown_currency", _set("data.currency", rng.choice(["XYZ", "eur", "EURO", ""])), rng
        ),
        _mutated("totals that do not add up", "totals_mismatch", _set("data.gross_total", "0.01"), rng),
        _mutated("due before issue", "invalid_dates", _set("data.due_date", "2000-01-01"), rng),
        _mutated("payment of zero", "negative_amount", _set("data.amount", "0"), rng, event="paid"),
        _mutated("payment with NaN", "invalid_money", _set("data.amount", "NaN"), rng, event="paid"),
        _mutated(
            "ancient and far-future dates (valid)",
            "applied",
            lambda d: d["data"].update(issue_date="0001-01-01", due_date=LATEST_DUE_DATE.isoformat()),
            rng,
        ),
        _mutated(
            "due so late that its aging buckets leave the calendar",
            "invalid_dates",
            lambda d: d["data"].update(due_date="9999-12-31"),
            rng,
        ),
        _mutated(
            "unknown extra fields (ignored)",
            "applied",
            lambda d: d.update(evil={"$where": "1=1"}, data={**d["data"], "drop": "table"}),
            rng,
        ),
        Hostile("subject differs from the key", [(valid, b"some-other-invoice", ())], ["subject_mismatch"]),
        _history("created at sequence 2", rng, lambda i: [i.created(sequence=2)], ["invalid_sequence"]),
        _history("first event is not created", rng, lambda i: [i.sent(sequence=1)], ["invalid_sequence"]),
        _history(
            "sequence conflict", rng, lambda i: [i.created(), i.created(sequence=1)], ["applied", "sequence_conflict"]
        ),
        _history(
            "paid after void",
            rng,
            lambda i: [i.created(), i.voided(), i.paid("1.00")],
            ["applied", "applied", "paid_after_void"],
        ),
        _history(
            "void after paid",
            rng,
            lambda i: [i.created(), i.sent(), i.paid("100.00"), i.voided()],
            ["applied", "applied", "applied", "void_after_paid"],
        ),
        _history("sent twice", rng, lambda i: [i.created(), i.sent(), i.sent()], ["applied", "applied", "sent_twice"]),
        _history(
            "voided twice", rng, lambda i: [i.created(), i.voided(), i.voided()], ["applied", "applied", "voided_twice"]
        ),
        _history(
            "sent after void",
            rng,
            lambda i: [i.created(), i.voided(), i.sent()],
            ["applied", "applied", "sent_after_void"],
        ),
        _history(
            "payment id reused",
            rng,
            lambda i: [i.created(), i.paid("1.00", "p"), i.paid("2.00", "p")],
            ["applied", "applied", "duplicate_payment"],
        ),
        _history(
            "payment too precise for JPY",
            rng,
            lambda i: [i.created(), i.paid("1.5")],
            ["applied", "money_precision"],
            currency="JPY",
        ),
        _history(
            "cross-tenant reuse of an invoice id (tenant a)",
            rng,
            lambda i: [i.created(), i.sent()],
            ["applied", "applied"],
            tenant="hostile-a",
            invoice_id=shared_id,
        ),
        _history(
            "cross-tenant reuse of an invoice id (tenant b)",
            rng,
            lambda i: [i.created(), i.voided()],
            ["applied", "applied"],
            tenant="hostile-b",
            invoice_id=shared_id,
        ),
    ]


def hostile_inputs(count: int, seed: int) -> list[Hostile]:
    """``count`` hostile cases: the whole catalogue, then random picks from
    fresh catalogues (new values, new invoices)."""
    rng = random.Random(seed)
    cases: list[Hostile] = []
    while len(cases) < count:
        fresh = catalogue(rng)
        cases.extend(fresh if not cases else rng.sample(fresh, min(len(fresh), count - len(cases))))
    return cases[:count]


def mixed(valid: list[InvoiceEvent], hostile: list[Hostile], seed: int) -> list[tuple[Record, str | None]]:
    """The valid events (expected None: judged by the clean tables) with the
    hostile records spread among them, each case's records kept in order."""
    rng = random.Random(seed)
    stream: list[tuple[Record, str | None]] = [((encode(e), e.subject.encode(), ()), None) for e in valid]
    for case in hostile:
        at = rng.randrange(len(stream) + 1)
        for offset, (record, expected) in enumerate(zip(case.records, case.expected, strict=True)):
            stream.insert(min(at + offset, len(stream)), (record, expected))
    return stream
