"""The batch fold: order, idempotency, holding, quarantine and deltas."""

from __future__ import annotations

from contracts import decode, encode_binary
from projections.figures import contribution
from projections.projector import RawRecord, incoming
from tests.factories import InvoiceBuilder, line
from tests.projections.harness import TOPIC, Harness, record, summed_changes


def test_events_of_one_invoice_apply_in_order_within_one_batch() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.deliver([inv.created(), inv.sent(), inv.paid("50.00")])
    assert h.outcome_counts() == {"applied": 3}
    assert [e[2] for e in h.events] == [1, 2, 3]


def test_a_redelivered_event_is_a_duplicate_and_changes_nothing() -> None:
    inv = InvoiceBuilder()
    created, sent = inv.created(), inv.sent()
    h = Harness()
    h.deliver([created, sent])
    before = dict(h.sums["totals"])
    h.deliver([created, sent])
    assert h.outcome_counts() == {"applied": 2, "duplicate": 2}
    assert h.sums["totals"] == before


def test_another_event_at_a_used_sequence_is_a_conflict() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.deliver([inv.created(), inv.sent()])
    h.deliver([inv.paid("10.00", sequence=2)])
    assert h.outcome_counts()["quarantined:sequence_conflict"] == 1
    assert "already taken" in h.quarantined[0].detail


def test_an_early_event_is_held_until_its_gap_fills_in_a_later_batch() -> None:
    inv = InvoiceBuilder()
    created, sent, paid = inv.created(), inv.sent(), inv.paid("10.00")
    h = Harness()
    result = h.deliver([paid, sent])
    assert h.outcome_counts() == {"held": 2}
    assert len(result.held_added) == 2 and not h.states
    result = h.deliver([created])
    assert sorted(seq for _, seq in result.held_removed) == [2, 3]
    assert h.outcome_counts() == {"held": 2, "released": 2, "applied": 3}
    assert [e[2] for e in h.events] == [1, 2, 3]
    assert h.held == {(inv.tenant, inv.invoice_id): {}}


def test_a_held_event_delivered_twice_is_a_duplicate() -> None:
    inv = InvoiceBuilder()
    inv.created()
    sent = inv.sent()
    h = Harness()
    h.deliver([sent])
    h.deliver([sent])
    assert h.outcome_counts() == {"held": 1, "duplicate": 1}


def test_a_forbidden_transition_is_quarantined_and_its_successors_wait() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.deliver([inv.created(), inv.voided(), inv.paid("10.00"), inv.sent()])
    counts = h.outcome_counts()
    assert counts == {"applied": 2, "quarantined:paid_after_void": 1, "held": 1}
    q = h.quarantined[0]
    assert (q.reason, q.sequence, q.event_type) == ("paid_after_void", 3, "invoice.paid")
    assert decode(q.value).event.data.amount == "10.00"  # raw bytes kept


def test_a_corrected_event_at_a_quarantined_sequence_applies_and_releases_the_rest() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.deliver([inv.created(), inv.sent(), inv.paid("10.001"), inv.paid("5.00")])
    assert h.outcome_counts() == {"applied": 2, "quarantined:money_precision": 1, "held": 1}
    h.deliver([inv.paid("10.00", sequence=3)])
    assert h.outcome_counts()["applied"] == 4
    assert next(iter(h.states.values())).amount_paid == 1500


def test_every_forbidden_transition_has_its_reason() -> None:
    cases = {
        "sent_twice": lambda i: [i.created(), i.sent(), i.sent()],
        "sent_after_void": lambda i: [i.created(), i.voided(), i.sent()],
        "voided_twice": lambda i: [i.created(), i.voided(), i.voided()],
        "void_after_paid": lambda i: [i.created(), i.sent(), i.paid("120.00"), i.voided()],
        "paid_after_void": lambda i: [i.created(), i.voided(), i.paid("1.00")],
        "duplicate_payment": lambda i: [i.created(), i.paid("1.00", "p1"), i.paid("1.00", "p1")],
        "invalid_sequence": lambda i: [i.sent(sequence=1)],
        "money_precision": lambda i: [i.created(), i.paid("1.001")],
    }
    for reason, events in cases.items():
        h = Harness()
        h.deliver(events(InvoiceBuilder()))
        assert h.outcome_counts().get(f"quarantined:{reason}") == 1, (reason, h.outcome_counts())


def test_a_created_event_at_a_later_sequence_is_quarantined() -> None:
    h = Harness()
    h.deliver([InvoiceBuilder().created(sequence=2)])
    assert h.outcome_counts() == {"quarantined:invalid_sequence": 1}


def test_bytes_that_are_not_json_are_quarantined_with_their_raw_bytes() -> None:
    h = Harness()
    h.fold([RawRecord(TOPIC, 3, 17, b"k", b"\xff{not json")])
    q = h.quarantined[0]
    assert (q.reason, q.value, q.key, q.position.partition, q.position.offset) == (
        "malformed",
        b"\xff{not json",
        b"k",
        3,
        17,
    )


def test_a_subject_that_differs_from_the_kafka_key_is_quarantined() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.fold([record(inv.created(), key=b"other-invoice")])
    assert h.outcome_counts() == {"quarantined:subject_mismatch": 1}


def test_binary_mode_records_are_stored_as_structured_json() -> None:
    inv = InvoiceBuilder()
    headers, data = encode_binary(inv.created())
    item = incoming(RawRecord(TOPIC, 0, 0, inv.invoice_id.encode(), data, tuple(headers)))
    assert item.error is None and item.body is not None
    assert decode(item.body).event == item.decoded.event  # type: ignore[union-attr]


def test_same_invoice_id_in_two_tenants_are_two_invoices() -> None:
    a = InvoiceBuilder("inv-shared", tenant="t1")
    b = InvoiceBuilder("inv-shared", tenant="t2")
    h = Harness()
    h.deliver([a.created(), b.created(), a.sent(), b.sent()])
    assert h.outcome_counts() == {"applied": 4}
    assert set(h.states) == {("t1", "inv-shared"), ("t2", "inv-shared")}


def test_deltas_of_a_batch_equal_the_final_contribution() -> None:
    inv = InvoiceBuilder(lines=[line("usage", "one_time", 5000, 1000), line("fixed", "recurring", 3000, 0)])
    h = Harness()
    h.deliver([inv.created(), inv.sent(), inv.paid("25.00")])
    state = next(iter(h.states.values()))
    assert h.summed("totals") == {(inv.tenant, "EUR"): contribution(state)}
    assert contribution(state).receivable_balance == 9000 - 2500
    receivable = h.summed("receivable", slice(0, 3))
    assert receivable == {(inv.tenant, "EUR", inv.due_date): contribution(state).receivable_part()}


def test_changes_that_cancel_out_within_a_batch_write_no_sum_rows() -> None:
    inv = InvoiceBuilder()
    h = Harness()
    h.deliver([inv.created()])
    result = h.deliver([inv.paid("1.00", sequence=2)])
    assert summed_changes(result)["totals"]  # collected changed
    inv2 = InvoiceBuilder()
    h2 = Harness()
    h2.deliver([inv2.created()])
    result = h2.deliver([inv2.created()])  # duplicate only
    assert summed_changes(result)["totals"] == {} and result.invoices == []
