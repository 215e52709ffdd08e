"""The fold's bounds on held events: a tenant at its cap gets its next early
events quarantined (gap_timeout), releases in the batch make room again, and
``expire`` moves a held event whose gap is still open to the quarantine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from contracts import InvoiceEvent, encode
from projections.batch import GAP_TIMEOUT, BatchFold, BatchResult, InvoiceKey, Pending
from projections.invoice import InvoiceState
from projections.projector import incoming
from tests.factories import InvoiceBuilder
from tests.projections.harness import TOPIC, record


def fold(
    events: Sequence[InvoiceEvent],
    held_counts: Mapping[str, int] | None = None,
    cap: int | None = 3,
    states: dict[InvoiceKey, InvoiceState] | None = None,
    held: Mapping[InvoiceKey, Mapping[int, Pending]] | None = None,
) -> tuple[BatchFold, list[str]]:
    batch = BatchFold(states or {}, held, held_counts, cap)
    outcomes = [batch.add(incoming(record(event, offset))) for offset, event in enumerate(events, start=100)]
    return batch, outcomes


def counts(result: BatchResult) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (_, _, outcome, reason), n in result.outcomes.items():
        out[f"{outcome}:{reason}" if reason else outcome] += n
    return dict(out)


def held_earlier(event: InvoiceEvent, offset: int = 7) -> Pending:
    """``event`` as a held row of an earlier batch loads it."""
    item = incoming(record(event, offset))
    assert item.decoded is not None and item.body is not None
    return Pending(event=item.decoded.event, decoded=item.decoded, position=item.position, body=item.body)


def test_an_early_event_of_a_tenant_at_its_cap_is_quarantined_with_its_bytes_and_position() -> None:
    inv = InvoiceBuilder("inv-1")
    inv.created()
    sent = inv.sent()
    batch, outcomes = fold([sent], held_counts={"acme": 3}, cap=3)
    result = batch.finish()
    assert outcomes == ["quarantined"]
    assert counts(result) == {"quarantined:gap_timeout": 1}
    assert not result.held_added
    [row] = result.quarantined
    assert row.reason == GAP_TIMEOUT == "gap_timeout"
    assert "BILLING_HELD_MAX_PER_TENANT=3" in row.detail and "holds 3 events" in row.detail
    assert "sequence 2 of invoice inv-1 would wait for sequence 1" in row.detail
    assert (row.value, row.key) == (encode(sent), b"inv-1")
    assert (row.position.topic, row.position.partition, row.position.offset) == (TOPIC, 0, 100)
    assert (row.tenant_id, row.invoice_id, row.sequence, row.event_id) == ("acme", "inv-1", 2, sent.id)


def test_events_held_in_the_batch_count_towards_the_cap() -> None:
    early = []
    for n in range(4):
        inv = InvoiceBuilder(f"inv-{n}")
        inv.created()
        early.append(inv.sent())
    batch, outcomes = fold(early, held_counts={"acme": 1}, cap=3)
    assert outcomes == ["held", "held", "quarantined", "quarantined"]
    result = batch.finish()
    assert [p.event.subject for _, p in result.held_added] == ["inv-0", "inv-1"]
    assert batch.held_counts["acme"] == 3


def test_without_a_cap_early_events_are_always_held() -> None:
    early = []
    for n in range(5):
        inv = InvoiceBuilder(f"inv-{n}")
        inv.created()
        early.append(inv.sent())
    _, outcomes = fold(early, held_counts={"acme": 10_000}, cap=None)
    assert outcomes == ["held"] * 5


def test_the_cap_is_per_tenant() -> None:
    full, other = InvoiceBuilder("inv-a", tenant="acme"), InvoiceBuilder("inv-g", tenant="globex")
    full.created()
    other.created()
    _, outcomes = fold([full.sent(), other.sent()], held_counts={"acme": 3, "globex": 2}, cap=3)
    assert outcomes == ["quarantined", "held"]


def test_a_release_in_the_batch_makes_room_for_another_hold() -> None:
    waiting, later = InvoiceBuilder("inv-w"), InvoiceBuilder("inv-l")
    created, sent = waiting.created(), waiting.sent()
    later.created()
    held = {("acme", "inv-w"): {2: held_earlier(sent)}}
    batch, outcomes = fold([later.sent(), created, later.paid("1.00")], held_counts={"acme": 3}, cap=3, held=held)
    # At the cap: the first early event is quarantined; the created event
    # releases the held one, so the next early event is held.
    assert outcomes == ["quarantined", "applied", "held"]
    result = batch.finish()
    assert counts(result) == {"quarantined:gap_timeout": 1, "applied": 2, "released": 1, "held": 1}
    assert result.held_removed == [(("acme", "inv-w"), 2)]
    assert batch.held_counts["acme"] == 3


def test_a_held_event_delivered_again_at_the_cap_is_still_a_duplicate() -> None:
    inv = InvoiceBuilder("inv-1")
    inv.created()
    sent = inv.sent()
    held = {("acme", "inv-1"): {2: held_earlier(sent)}}
    _, outcomes = fold([sent], held_counts={"acme": 3}, cap=3, held=held)
    assert outcomes == ["duplicate"]


def test_expire_moves_a_held_event_whose_gap_is_open_to_the_quarantine() -> None:
    inv = InvoiceBuilder("inv-1")
    inv.created()
    sent, paid = inv.sent(), inv.paid("5.00")
    held = {("acme", "inv-1"): {2: held_earlier(sent, 7), 3: held_earlier(paid, 8)}}
    batch = BatchFold({}, held, {"acme": 2})
    assert batch.expire(("acme", "inv-1"), 2, "too old")
    assert not batch.expire(("acme", "inv-1"), 2, "too old")  # not held any more
    assert not batch.expire(("acme", "inv-9"), 2, "too old")  # never held
    result = batch.finish()
    # Counted held before; now released, then quarantined: one record, one net outcome.
    assert counts(result) == {"released": 1, "quarantined:gap_timeout": 1}
    assert result.held_removed == [(("acme", "inv-1"), 2)]
    [row] = result.quarantined
    assert (row.reason, row.detail, row.value, row.position.offset) == ("gap_timeout", "too old", encode(sent), 7)
    assert batch.held_counts["acme"] == 1
    assert not result.events


def test_expire_leaves_a_held_event_whose_gap_has_closed() -> None:
    inv = InvoiceBuilder("inv-1")
    created, sent = inv.created(), inv.sent()
    states, _ = fold([created], cap=None)
    held = {("acme", "inv-1"): {2: held_earlier(sent)}}
    batch = BatchFold(states.states, held)
    assert not batch.expire(("acme", "inv-1"), 2, "too old")
    assert not batch.finish().quarantined
