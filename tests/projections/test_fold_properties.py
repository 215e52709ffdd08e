"""Property tests: whatever order and repetition the log delivers a valid history
in, the fold ends with the tables of one clean, in-order pass."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent
from tests.factories import InvoiceBuilder, lifecycle
from tests.projections.harness import Harness, record, regrouped

CURRENCIES = ("EUR", "JPY", "KWD")

line_specs = st.lists(
    st.tuples(
        st.sampled_from(("fixed", "usage")),
        st.sampled_from(("recurring", "one_time")),
        st.integers(0, 10**7),
        st.integers(0, 10**6),
        st.sampled_from(("0", "1", "2.5")),
    ),
    min_size=0,
    max_size=4,
)


@st.composite
def history(draw: st.DrawFn, index: int) -> list[InvoiceEvent]:
    """One invoice's valid history: created, then actions the state machine allows."""
    inv = InvoiceBuilder(
        f"inv-{index}",
        tenant=draw(st.sampled_from(("t1", "t2"))),
        customer=draw(st.sampled_from(("c1", "c2", "c3"))),
        currency=draw(st.sampled_from(CURRENCIES)),
        lines=draw(line_specs),
    )
    gross = sum(net + tax for _, _, net, tax, _ in inv.lines)
    return lifecycle(draw, inv, gross, draw(st.integers(0, 5)))


@st.composite
def histories(draw: st.DrawFn) -> list[list[InvoiceEvent]]:
    return [draw(history(i)) for i in range(draw(st.integers(1, 6)))]


def comparable(h: Harness) -> tuple[object, ...]:
    states = {k: msgspec.structs.asdict(s) for k, s in h.states.items()}
    for s in states.values():
        s.pop("partition")
    return (
        states,
        h.summed("totals"),
        h.summed("customer_totals", slice(0, 3)),
        h.summed("receivable", slice(0, 3)),
        h.summed("customer_receivable", slice(0, 4)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), invoices=histories())
def test_any_delivery_order_with_duplicates_yields_the_tables_of_one_clean_pass(
    data: st.DataObject, invoices: list[list[InvoiceEvent]]
) -> None:
    clean = Harness()
    clean.deliver([e for events in invoices for e in events])
    everything = [e for events in invoices for e in events]

    delivery = data.draw(st.permutations(everything))
    duplicates = data.draw(st.lists(st.sampled_from(everything), max_size=len(everything)))
    for event in duplicates:
        delivery.insert(data.draw(st.integers(0, len(delivery))), event)
    messy = Harness()
    offset = 0
    while delivery:
        size = data.draw(st.integers(1, len(delivery)))
        batch, delivery = delivery[:size], delivery[size:]
        messy.fold([record(e, offset + i) for i, e in enumerate(batch)])
        offset += size

    assert comparable(messy) == comparable(clean)
    counts = messy.outcome_counts()
    assert counts.get("applied") == len(everything)
    assert counts.get("duplicate", 0) == len(duplicates)
    assert not any(k.startswith("quarantined") for k in counts)
    assert all(not waiting for waiting in messy.held.values())


@settings(max_examples=100, deadline=None)
@given(invoices=histories())
def test_per_customer_summaries_add_up_to_the_per_currency_summaries(
    invoices: list[list[InvoiceEvent]],
) -> None:
    h = Harness()
    h.deliver([e for events in invoices for e in events])
    by_customer = h.summed("customer_totals", slice(0, 3))  # (tenant, customer, currency)
    assert regrouped(by_customer, slice(0, 3, 2)) == h.summed("totals")
    by_due_date = h.summed("receivable", slice(0, 3))  # (tenant, currency, due_date)
    receivable_totals = {k: v.receivable_part() for k, v in h.summed("totals").items()}
    assert regrouped(by_due_date, slice(0, 2)) == regrouped(receivable_totals, slice(0, 2))


def test_the_history_strategy_produces_payments_sends_and_voids() -> None:
    """Guards the generator itself: the properties above are only as good as it."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None)
    @given(invoices=histories())
    def collect(invoices: list[list[InvoiceEvent]]) -> None:
        for events in invoices:
            seen.update(type(e).__name__ for e in events)

    collect()
    assert seen == {"InvoiceCreated", "InvoiceSent", "InvoicePaid", "InvoiceVoided"}
