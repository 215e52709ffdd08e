"""The batch fold: a batch of decoded records + the states they touch -> everything
one transaction must write (pure, no I/O).

Per invoice, events apply strictly in ``sequence`` order and exactly once:
- sequence <= last applied: a duplicate (same event id) or a conflict (another id);
- sequence == last + 1: applied, or quarantined if the state machine forbids it,
  after which any held successors are released in order;
- sequence > last + 1: held until the gap fills.
A quarantined event does not consume its sequence: the invoice waits for a good
event at that position (a corrected one, or the same one retried), and the open
gap is reported.

Held events are bounded: an event that would be held while its tenant already
holds ``held_cap`` events is quarantined instead (reason ``gap_timeout``), and
``expire`` moves a held event to the quarantine (the periodic age check, an
operator); either can be retried from there once its gap has filled.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping

import msgspec

from contracts import ContractError, Decoded, InvoiceEvent, InvoicePaid, Position, Reason, event_type
from projections.figures import Figures
from projections.invoice import InvoiceState, advance, check_transition, first_state, opens_history
from projections.timeline import difference, event_day, snapshot

InvoiceKey = tuple[str, str]  # (tenant_id, invoice_id)

APPLIED, DUPLICATE, HELD, RELEASED, QUARANTINED = (
    "applied",
    "duplicate",
    "held",
    "released",
    "quarantined",
)
GAP_TIMEOUT = str(Reason.GAP_TIMEOUT)


class Incoming(msgspec.Struct, kw_only=True):
    """One record to fold: where it came from, its bytes, and what decoding made of it."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    decoded: Decoded | None = None
    error: ContractError | None = None
    # The event as stored (structured-mode JSON); set when it must be kept.
    body: bytes | None = None
    # When this service first applied it (a rebuild replays record times);
    # None: now, the time of the transaction that writes the batch.
    recorded_at: dt.datetime | None = None


class Pending(msgspec.Struct, kw_only=True):
    """An accepted event waiting to apply: in this batch, or held from an earlier one."""

    event: InvoiceEvent
    decoded: Decoded
    position: Position
    body: bytes
    held_at: dt.datetime | None = None  # set when it was loaded from the held table
    recorded_at: dt.datetime | None = None  # see Incoming


class StoredEvent(msgspec.Struct, frozen=True):
    """One row of the append-only event store."""

    tenant_id: str
    invoice_id: str
    sequence: int
    event_id: str
    type: str
    time: dt.datetime
    position: Position
    body: bytes


class Quarantined(msgspec.Struct, frozen=True):
    """One row of the quarantine: the raw bytes, where they were, and why."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    detail: str
    event_id: str | None = None
    tenant_id: str | None = None
    invoice_id: str | None = None
    sequence: int | None = None
    event_type: str | None = None


class InvoiceChange(msgspec.Struct, frozen=True, gc=False):
    """One row of an invoice's timeline: how its contribution changes from the
    end of business ``day`` on, as recorded at ``recorded_at`` (None: by the
    transaction that writes it). projections/timeline.py says why."""

    tenant_id: str
    invoice_id: str
    customer_id: str
    currency: str
    due_date: dt.date
    partition: int
    day: dt.date
    recorded_at: dt.datetime | None
    figures: Figures


class Payment(msgspec.Struct, frozen=True, gc=False):
    """One applied payment, with its business time (``paid_at``) and record
    time (None: the transaction that writes it)."""

    tenant_id: str
    invoice_id: str
    customer_id: str
    currency: str
    payment_id: str
    paid_at: dt.datetime
    amount: int
    recorded_at: dt.datetime | None

    @classmethod
    def applied(cls, state: InvoiceState, event: InvoicePaid, recorded_at: dt.datetime | None) -> Payment:
        """The payment ``event`` made, just applied to ``state``."""
        return cls(
            state.tenant_id,
            state.invoice_id,
            state.customer_id,
            state.currency,
            event.data.payment_id,
            event.data.paid_at,
            state.payment_amounts[-1],
            recorded_at,
        )


class BatchResult(msgspec.Struct, kw_only=True):
    events: list[StoredEvent]
    invoices: list[InvoiceState]
    # The timelines: each changed invoice's dated changes. The summed tables
    # are sums of these rows (projections/store.py): an invoice's changes over
    # all its days add up to the change of its contribution, and their
    # receivable figures to that of its due date's. The filter cells come
    # from the invoice rows before and after.
    changes: list[InvoiceChange]
    payments: list[Payment]
    held_added: list[tuple[InvoiceKey, Pending]]
    held_removed: list[tuple[InvoiceKey, int]]
    quarantined: list[Quarantined]
    outcomes: Counter[tuple[str, int, str, str]]
    newest_event_time: dict[tuple[str, int], dt.datetime]


def event_key(event: InvoiceEvent) -> InvoiceKey:
    return event.tenantid, event.subject


class BatchFold:
    """Folds one batch. ``states`` holds every invoice the batch touches that
    exists; ``held`` the held events of those invoices (by sequence);
    ``held_counts`` how many events each tenant of the batch holds in all
    (any invoice), and ``held_cap`` how many a tenant may hold (None: no cap)."""

    def __init__(
        self,
        states: dict[InvoiceKey, InvoiceState],
        held: Mapping[InvoiceKey, Mapping[int, Pending]] | None = None,
        held_counts: Mapping[str, int] | None = None,
        held_cap: int | None = None,
    ) -> None:
        self.states = states
        self.held: dict[InvoiceKey, dict[int, Pending]] = defaultdict(dict)
        for key, by_sequence in (held or {}).items():
            self.held[key].update(by_sequence)
        # Per tenant: events held now, as this batch leaves them.
        self.held_counts: Counter[str] = Counter(held_counts or {})
        self.held_cap = held_cap
        # The invoices the batch changes, in the order it first did.
        self._changed: dict[InvoiceKey, None] = {}
        # Per invoice changed since its timeline was last written: the state
        # then, the first business day an event since counts from, and the
        # record time of those events.
        self._timeline_before: dict[InvoiceKey, InvoiceState | None] = {}
        self._first_day: dict[InvoiceKey, dt.date] = {}
        self._recorded_at: dict[InvoiceKey, dt.datetime | None] = {}
        self._changes: list[InvoiceChange] = []
        self._payments: list[Payment] = []
        self._partition: dict[InvoiceKey, int] = {}
        self._events: list[StoredEvent] = []
        self._held_added: dict[tuple[InvoiceKey, int], Pending] = {}
        self._held_removed: list[tuple[InvoiceKey, int]] = []
        self._quarantined: list[Quarantined] = []
        self._outcomes: Counter[tuple[str, int, str, str]] = Counter()
        self._newest: dict[tuple[str, int], dt.datetime] = {}

    # -- intake ---------------------------------------------------------------

    def add(self, item: Incoming) -> str:
        """Fold one record; returns its outcome."""
        if item.error is not None or item.decoded is None:
            error = item.error or ContractError(Reason.MALFORMED, "record could not be decoded")
            return self._quarantine_record(item, error)
        event = item.decoded.event
        if item.key is not None and item.key != event.subject.encode():
            error = ContractError(
                Reason.SUBJECT_MISMATCH,
                f"subject {event.subject!r} differs from the Kafka key {item.key!r}",
            )
            return self._quarantine_record(item, error)
        if item.body is None:
            raise ValueError("an accepted record needs its stored body")
        pending = Pending(
            event=event, decoded=item.decoded, position=item.position, body=item.body, recorded_at=item.recorded_at
        )
        return self._offer(event_key(event), pending)

    def _offer(self, key: InvoiceKey, pending: Pending) -> str:
        event = pending.event
        state = self.states.get(key)
        last = 0 if state is None else state.last_sequence
        sequence = event.sequence
        if sequence != 1 and opens_history(event):
            return self._quarantine_pending(
                pending,
                ContractError(
                    Reason.INVALID_SEQUENCE,
                    f"{event_type(event)} must have sequence 1, not {sequence}",
                ),
            )
        if sequence <= last:
            assert state is not None
            if state.event_ids[sequence - 1] == event.id:
                return self._count(pending.position, DUPLICATE)
            return self._conflict(pending, state.event_ids[sequence - 1])
        if sequence > last + 1:
            waiting = self.held[key].get(sequence)
            if waiting is None:
                tenant = key[0]
                if self.held_cap is not None and self.held_counts[tenant] >= self.held_cap:
                    return self._quarantine_event(
                        pending,
                        GAP_TIMEOUT,
                        f"tenant {tenant} already holds {self.held_counts[tenant]} events, its cap"
                        f" (BILLING_HELD_MAX_PER_TENANT={self.held_cap}): sequence {sequence} of invoice"
                        f" {event.subject} would wait for sequence {last + 1}",
                    )
                self.held[key][sequence] = pending
                self._held_added[(key, sequence)] = pending
                self.held_counts[tenant] += 1
                return self._count(pending.position, HELD)
            if waiting.event.id == event.id:
                return self._count(pending.position, DUPLICATE)
            return self._conflict(pending, waiting.event.id)
        outcome = self._apply(key, pending)
        if outcome == APPLIED:
            self._release(key)
        return outcome

    def _release(self, key: InvoiceKey) -> None:
        """Apply held successors whose gap has just filled, in order."""
        waiting = self.held.get(key)
        while waiting:
            state = self.states[key]
            pending = waiting.pop(state.last_sequence + 1, None)
            if pending is None:
                return
            self._unhold(key, pending)
            if self._apply(key, pending) != APPLIED:
                return

    def _unhold(self, key: InvoiceKey, pending: Pending) -> None:
        """``pending`` (out of ``self.held`` already) is held no longer."""
        if self._held_added.pop((key, pending.event.sequence), None) is None:
            # It was held by an earlier batch: its row goes away.
            self._held_removed.append((key, pending.event.sequence))
        self.held_counts[key[0]] -= 1
        self._count(pending.position, RELEASED)

    def expire(self, key: InvoiceKey, sequence: int, detail: str) -> bool:
        """Move a held event whose gap is still open to the quarantine
        (``gap_timeout``, with ``detail``): counted released, then
        quarantined. False if it is not held or its gap has closed (the batch
        or the stranded check applies it)."""
        state = self.states.get(key)
        waiting = self.held.get(key)
        if not waiting or sequence not in waiting:
            return False
        if sequence <= (0 if state is None else state.last_sequence) + 1:
            return False
        pending = waiting.pop(sequence)
        self._unhold(key, pending)
        self._quarantine_event(pending, GAP_TIMEOUT, detail)
        return True

    # -- application ------------------------------------------------------------

    def _apply(self, key: InvoiceKey, pending: Pending) -> str:
        event = pending.event
        state = self.states.get(key)
        if key in self._timeline_before and self._recorded_at[key] != pending.recorded_at:
            # A rebuild met an event recorded later than the ones before it:
            # their timeline rows keep their own record time.
            self._write_timeline(key)
        try:
            if state is None:
                state = first_state(event, pending.decoded.amounts, pending.position.partition)
                self._timeline_before.setdefault(key, None)
                self.states[key] = state
            else:
                amount = check_transition(state, event)
                if key not in self._timeline_before:
                    self._timeline_before[key] = snapshot(state)
                advance(state, event, amount, pending.recorded_at)
        except ContractError as error:
            return self._quarantine_pending(pending, error)
        if isinstance(event, InvoicePaid):
            self._payments.append(Payment.applied(state, event, pending.recorded_at))
        self._changed[key] = None
        day = event_day(event)
        first = self._first_day.get(key)
        self._first_day[key] = day if first is None or day < first else first
        self._recorded_at[key] = pending.recorded_at
        position = pending.position
        self._partition[key] = position.partition
        self._events.append(
            StoredEvent(
                tenant_id=key[0],
                invoice_id=key[1],
                sequence=event.sequence,
                event_id=event.id,
                type=event_type(event),
                time=event.time,
                position=position,
                body=pending.body,
            )
        )
        newest_key = (position.topic, position.partition)
        newest = self._newest.get(newest_key)
        if newest is None or event.time > newest:
            self._newest[newest_key] = event.time
        return self._count(position, APPLIED)

    def _write_timeline(self, key: InvoiceKey) -> None:
        """The timeline rows of the invoice's events applied since the last
        ones were written."""
        before = self._timeline_before.pop(key)
        first_day = self._first_day.pop(key)
        recorded_at = self._recorded_at.pop(key)
        state = self.states[key]
        partition = self._partition[key]
        tenant, invoice, customer, currency = state.tenant_id, state.invoice_id, state.customer_id, state.currency
        due_date = state.due_date
        self._changes.extend(
            InvoiceChange(tenant, invoice, customer, currency, due_date, partition, day, recorded_at, delta)
            for day, delta in difference(before, state, first_day).items()
        )

    # -- outcomes ---------------------------------------------------------------

    def _count(self, position: Position, outcome: str, reason: str = "") -> str:
        self._outcomes[(position.topic, position.partition, outcome, reason)] += 1
        return outcome

    def _conflict(self, pending: Pending, other_id: str) -> str:
        return self._quarantine_pending(
            pending,
            ContractError(
                Reason.SEQUENCE_CONFLICT,
                f"sequence {pending.event.sequence} of invoice {pending.event.subject} "
                f"is already taken by event {other_id}",
            ),
        )

    def _quarantine_pending(self, pending: Pending, error: ContractError) -> str:
        return self._quarantine_event(pending, str(error.reason), error.detail)

    def _quarantine_event(self, pending: Pending, reason: str, detail: str) -> str:
        event = pending.event
        self._quarantined.append(
            Quarantined(
                position=pending.position,
                key=event.subject.encode(),
                value=pending.body,
                headers=(),
                reason=reason,
                detail=detail,
                event_id=event.id,
                tenant_id=event.tenantid,
                invoice_id=event.subject,
                sequence=event.sequence,
                event_type=event_type(event),
            )
        )
        return self._count(pending.position, QUARANTINED, reason)

    def _quarantine_record(self, item: Incoming, error: ContractError) -> str:
        event = item.decoded.event if item.decoded is not None else None
        self._quarantined.append(
            Quarantined(
                position=item.position,
                key=item.key,
                value=item.value,
                headers=item.headers,
                reason=str(error.reason),
                detail=error.detail,
                event_id=None if event is None else event.id,
                tenant_id=None if event is None else event.tenantid,
                invoice_id=None if event is None else event.subject,
                sequence=None if event is None else event.sequence,
                event_type=None if event is None else event_type(event),
            )
        )
        return self._count(item.position, QUARANTINED, str(error.reason))

    # -- result -----------------------------------------------------------------

    def finish(self) -> BatchResult:
        for key in list(self._timeline_before):
            self._write_timeline(key)
        return BatchResult(
            events=self._events,
            invoices=[self.states[key] for key in self._changed],
            changes=self._changes,
            payments=self._payments,
            held_added=[(key, pending) for (key, _), pending in self._held_added.items()],
            held_removed=self._held_removed,
            quarantined=self._quarantined,
            outcomes=self._outcomes,
            newest_event_time=self._newest,
        )
