"""Figures as of a date and as known at a time: the fold's timeline rows, summed
with day <= D and recorded_at <= T, equal the figures of the events that
qualify, folded directly (docs/figures.md#as-of)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent, decode, format_minor
from projections.batch import BatchFold, BatchResult, InvoiceChange
from projections.figures import NO_FIGURES, Figures, contribution
from projections.invoice import InvoiceState, advance, check_transition, first_state
from projections.projector import incoming
from projections.timeline import AGING_THRESHOLDS, business_day, changes, sum_on
from tests.factories import BASE_TIME, InvoiceBuilder, line
from tests.projections.harness import Harness, record

DAY0 = BASE_TIME.date()


def at(days: float) -> dt.datetime:
    return BASE_TIME + dt.timedelta(days=days)


class Recorded:
    """The fold's output over batches, each batch recorded at its index."""

    def __init__(self) -> None:
        self.harness = Harness()
        self.changes: list[tuple[int, InvoiceChange]] = []
        self.applied: list[tuple[int, tuple[str, str, int]]] = []
        self.batches = 0

    def deliver(self, events: list[InvoiceEvent]) -> BatchResult:
        self.batches += 1
        result = self.harness.deliver(events)
        self._keep(result, self.batches)
        return result

    def _keep(self, result: BatchResult, batch: int) -> None:
        self.changes += [(batch, change) for change in result.changes]
        self.applied += [(batch, (e.tenant_id, e.invoice_id, e.sequence)) for e in result.events]

    def figures(self, day: dt.date, known_by: int | None = None) -> dict[tuple[str, str], Figures]:
        """Per (tenant, currency): the sum of the rows dated on or before ``day``
        and recorded by batch ``known_by``."""
        out: dict[tuple[str, str], Figures] = defaultdict(lambda: NO_FIGURES)
        for batch, change in self.changes:
            if change.day <= day and (known_by is None or batch <= known_by):
                out[(change.tenant_id, change.currency)] += change.figures
        return {key: figures for key, figures in out.items() if figures != NO_FIGURES}


def direct(events: list[InvoiceEvent], day: dt.date) -> Figures:
    """One invoice's figures at the end of ``day``: its events dated on or
    before it, folded in sequence order by the state machine itself."""
    state: InvoiceState | None = None
    for event in sorted(events, key=lambda e: e.sequence):
        if business_day(_business_time(event)) > day:
            continue
        decoded = decode(event_bytes(event))
        if state is None:
            if event.sequence != 1:
                return NO_FIGURES  # not created yet at that day
            state = first_state(decoded.event, decoded.amounts, 0)
        else:
            advance(state, decoded.event, check_transition(state, decoded.event))
    return contribution(state)


def _business_time(event: InvoiceEvent) -> dt.datetime:
    data = event.data
    for name in ("sent_at", "paid_at", "voided_at"):
        if hasattr(data, name):
            value: dt.datetime = getattr(data, name)
            return value
    return event.time


def event_bytes(event: InvoiceEvent) -> bytes:
    return record(event).value or b""


def one_invoice_figures(events: list[InvoiceEvent], day: dt.date) -> Figures:
    recorded = Recorded()
    recorded.deliver(events)
    return recorded.figures(day).get(("acme", "EUR"), NO_FIGURES)


# Edge cases ----------------------------------------------------------------------


def test_a_payment_dated_before_sending_counts_from_its_own_date() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    events = [inv.created(at=at(0)), inv.sent(at=at(5)), inv.paid("40.00", at=at(2))]
    before_sending = one_invoice_figures(events, DAY0 + dt.timedelta(days=3))
    assert (before_sending.draft_count, before_sending.sent_count, before_sending.collected) == (1, 0, 4000)
    assert before_sending.receivable_balance == 0
    after = one_invoice_figures(events, DAY0 + dt.timedelta(days=5))
    assert (after.sent_count, after.partially_paid_count, after.receivable_balance) == (1, 1, 6000)


def test_payments_on_an_invoice_voided_later_count_until_the_void() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    events = [inv.created(at=at(0)), inv.sent(at=at(1)), inv.paid("30.00", at=at(2)), inv.voided(at=at(4))]
    before_void = one_invoice_figures(events, DAY0 + dt.timedelta(days=3))
    assert (before_void.sent_count, before_void.collected, before_void.receivable_balance) == (1, 3000, 7000)
    after_void = one_invoice_figures(events, DAY0 + dt.timedelta(days=4))
    assert (after_void.voided_count, after_void.collected, after_void.receivable_balance) == (1, 0, 0)


def test_an_invoice_created_after_the_date_is_absent() -> None:
    inv = InvoiceBuilder()
    events = [inv.created(at=at(10)), inv.sent(at=at(11))]
    assert one_invoice_figures(events, DAY0 + dt.timedelta(days=9)) == NO_FIGURES
    assert one_invoice_figures(events, DAY0 + dt.timedelta(days=10)).draft_count == 1


def test_a_void_dated_after_the_date_leaves_the_invoice_sent() -> None:
    inv = InvoiceBuilder(lines=[line(net=5000, tax=1000)])
    events = [inv.created(at=at(0)), inv.sent(at=at(1)), inv.voided(at=at(20))]
    on_day = one_invoice_figures(events, DAY0 + dt.timedelta(days=19))
    assert (on_day.sent_count, on_day.voided_count, on_day.receivable_balance) == (1, 0, 6000)


def test_an_overpayment_made_after_the_date_is_not_overpaid_yet() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    events = [inv.created(at=at(0)), inv.sent(at=at(1)), inv.paid("60.00", at=at(2)), inv.paid("70.00", at=at(6))]
    before = one_invoice_figures(events, DAY0 + dt.timedelta(days=5))
    assert (before.overpaid, before.partially_paid_count, before.receivable_balance) == (0, 1, 4000)
    after = one_invoice_figures(events, DAY0 + dt.timedelta(days=6))
    assert (after.overpaid, after.paid_count, after.receivable_balance, after.collected) == (3000, 1, 0, 13000)


def test_a_zero_total_invoice_is_paid_from_the_day_it_is_sent() -> None:
    inv = InvoiceBuilder(lines=[line(net=0, tax=0)])
    events = [inv.created(at=at(0)), inv.sent(at=at(3))]
    draft = one_invoice_figures(events, DAY0 + dt.timedelta(days=2))
    assert (draft.draft_count, draft.unpaid_count, draft.paid_count) == (1, 0, 0)
    sent = one_invoice_figures(events, DAY0 + dt.timedelta(days=3))
    assert (sent.sent_count, sent.paid_count, sent.receivable_count) == (1, 1, 0)


def test_a_leap_day_is_a_day_like_any_other() -> None:
    leap = dt.datetime(2028, 2, 29, 23, 59, 59, tzinfo=dt.UTC)
    inv = InvoiceBuilder(lines=[line(net=1000, tax=0)])
    events = [inv.created(at=leap - dt.timedelta(days=1)), inv.sent(at=leap), inv.paid("10.00", at=leap)]
    assert one_invoice_figures(events, dt.date(2028, 2, 28)).draft_count == 1
    assert one_invoice_figures(events, dt.date(2028, 2, 29)).paid_count == 1


def test_a_date_after_every_event_gives_the_current_figures() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    recorded = Recorded()
    recorded.deliver([inv.created(at=at(0)), inv.sent(at=at(1)), inv.paid("25.00", at=at(3))])
    state = recorded.harness.states[("acme", inv.invoice_id)]
    assert recorded.figures(dt.date(2999, 1, 1))[("acme", "EUR")] == contribution(state)
    assert sum_on(changes(state), dt.date(2999, 1, 1)) == contribution(state)


def test_a_held_event_counts_as_known_from_the_batch_that_releases_it() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    created, sent, paid = inv.created(at=at(0)), inv.sent(at=at(1)), inv.paid("10.00", at=at(2))
    recorded = Recorded()
    recorded.deliver([created, paid])  # batch 1: the payment waits for sequence 2
    recorded.deliver([sent])  # batch 2: sent, and the payment released
    late = DAY0 + dt.timedelta(days=30)
    assert recorded.figures(late, known_by=1)[("acme", "EUR")].draft_count == 1
    assert recorded.figures(late, known_by=1)[("acme", "EUR")].collected == 0
    known = recorded.figures(late, known_by=2)[("acme", "EUR")]
    assert (known.sent_count, known.collected, known.receivable_balance) == (1, 1000, 9000)


def test_a_rebuild_keeps_each_event_s_record_time() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    events = [inv.created(at=at(0)), inv.sent(at=at(1)), inv.paid("10.00", at=at(0.5))]
    harness = Harness()
    fold = BatchFold(harness.states)
    times = [at(100), at(100), at(200)]
    for offset, (event, recorded_at) in enumerate(zip(events, times, strict=True)):
        fold.add(msgspec.structs.replace(incoming(record(event, offset)), recorded_at=recorded_at))
    result = fold.finish()
    by_time: dict[dt.datetime | None, Figures] = defaultdict(lambda: NO_FIGURES)
    for change in result.changes:
        if change.day <= DAY0:
            by_time[change.recorded_at] += change.figures
    # Known at 100: a draft on day 0; at 200 the backdated payment counts on day 0.
    assert by_time[at(100)].draft_count == 1 and by_time[at(100)].collected == 0
    assert by_time[at(200)].collected == 1000


# The property ------------------------------------------------------------------------

CURRENCIES = ("EUR", "JPY")


@st.composite
def dated_history(draw: st.DrawFn, index: int) -> list[InvoiceEvent]:
    """A valid history whose business times wander: payments before sending,
    voids dated anywhere, several events on one day."""
    inv = InvoiceBuilder(
        f"inv-{index}",
        tenant=draw(st.sampled_from(("t1", "t2"))),
        currency=draw(st.sampled_from(CURRENCIES)),
        lines=draw(
            st.lists(
                st.tuples(
                    st.sampled_from(("fixed", "usage")),
                    st.sampled_from(("recurring", "one_time")),
                    st.integers(0, 100_000),
                    st.integers(0, 20_000),
                    st.just("1"),
                ),
                max_size=3,
            )
        ),
        due_date=DAY0 + dt.timedelta(days=draw(st.integers(0, 40))),
    )
    when = st.floats(0, 60, allow_nan=False).map(at)
    events: list[InvoiceEvent] = [inv.created(at=draw(when))]
    gross = sum(net + tax for _, _, net, tax, _ in inv.lines)
    status, paid = "DRAFT", 0
    for _ in range(draw(st.integers(0, 5))):
        options = ["pay"] + (["send"] if status == "DRAFT" else [])
        fully_paid = paid >= gross if gross > 0 else (paid > 0 or status == "SENT")
        if not fully_paid:
            options.append("void")
        action = draw(st.sampled_from(options))
        if action == "send":
            events.append(inv.sent(at=draw(when)))
            status = "SENT"
        elif action == "void":
            events.append(inv.voided(at=draw(when)))
            break
        else:
            amount = draw(st.integers(1, max(gross, 1) * 2))
            paid += amount
            events.append(inv.paid(format_minor(amount, inv.currency), at=draw(when)))
    return events


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories=st.integers(1, 6).flatmap(lambda n: st.tuples(*(dated_history(i) for i in range(n)))),
    seed=st.integers(0, 2**32),
    days=st.lists(st.integers(-2, 65), min_size=1, max_size=5),
)
def test_figures_as_of_any_day_and_known_at_any_batch_equal_a_direct_fold(
    histories: tuple[list[InvoiceEvent], ...], seed: int, days: list[int]
) -> None:
    rng = random.Random(seed)
    stream = [event for history in histories for event in history]
    rng.shuffle(stream)  # any order: early successors are held, then released
    recorded = Recorded()
    while stream:
        size = rng.randint(1, 4)
        recorded.deliver(stream[:size])
        stream = stream[size:]
    by_key = {(e.tenantid, e.subject, e.sequence): e for history in histories for e in history}
    for offset in days:
        day = DAY0 + dt.timedelta(days=offset)
        for known_by in (rng.randint(1, recorded.batches), None):
            known = [by_key[key] for batch, key in recorded.applied if known_by is None or batch <= known_by]
            expected: dict[tuple[str, str], Figures] = defaultdict(lambda: NO_FIGURES)
            for history in histories:
                mine = [e for e in known if e.subject == history[0].subject]
                created = history[0]
                expected[(created.tenantid, created.data.currency)] += direct(mine, day)  # type: ignore[union-attr]
            assert recorded.figures(day, known_by) == {k: v for k, v in expected.items() if v != NO_FIGURES}
        # Overdue and each aging threshold, from the per-threshold sums.
        for n in AGING_THRESHOLDS:
            got: dict[tuple[str, str], Figures] = defaultdict(lambda: NO_FIGURES)
            for (tenant, currency, threshold, from_day), figures in recorded.harness.summed(
                "overdue_from", slice(0, 4)
            ).items():
                if threshold == n and from_day <= day:
                    got[(tenant, currency)] += figures
            want: dict[tuple[str, str], Figures] = defaultdict(lambda: NO_FIGURES)
            for history in histories:
                created = history[0]
                if created.data.due_date + dt.timedelta(days=n) <= day:  # type: ignore[union-attr]
                    want[(created.tenantid, created.data.currency)] += direct(history, day).receivable_part()  # type: ignore[union-attr]
            assert {k: v for k, v in got.items() if v != NO_FIGURES} == {
                k: v for k, v in want.items() if v != NO_FIGURES
            }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories=st.integers(1, 6).flatmap(lambda n: st.tuples(*(dated_history(i) for i in range(n)))),
    seed=st.integers(0, 2**32),
)
def test_the_timeline_rows_summed_over_their_days_are_the_contributions(
    histories: tuple[list[InvoiceEvent], ...], seed: int
) -> None:
    """What lets the store fill the totals and the per-due-date tables by
    grouping the timeline rows: an invoice's rows of every batch, over all
    their days, add up to its contribution, the receivable figures to its due
    date's."""
    rng = random.Random(seed)
    stream = [event for history in histories for event in history]
    rng.shuffle(stream)
    harness = Harness()
    while stream:
        size = rng.randint(1, 4)
        harness.deliver(stream[:size])
        stream = stream[size:]
    totals: dict[tuple[str, str, str], Figures] = defaultdict(lambda: NO_FIGURES)
    receivable: dict[tuple[str, str, str, dt.date], Figures] = defaultdict(lambda: NO_FIGURES)
    for state in harness.states.values():
        totals[(state.tenant_id, state.customer_id, state.currency)] += contribution(state)
        receivable[(state.tenant_id, state.customer_id, state.currency, state.due_date)] += contribution(
            state
        ).receivable_part()
    assert harness.summed("customer_totals", slice(0, 3)) == {k: v for k, v in totals.items() if v != NO_FIGURES}
    assert harness.summed("customer_receivable", slice(0, 4)) == {
        k: v for k, v in receivable.items() if v != NO_FIGURES
    }
