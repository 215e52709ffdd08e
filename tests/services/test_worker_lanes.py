"""Batch lanes (services/worker/lanes.py): a batch split by partition into
transactions that run at the same time ends with the tables one lane makes,
and a lane that fails is read again while the others' commits stand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import msgspec
import pytest

from contracts import Position
from projections.batch import Incoming
from projections.verify import verify
from services.settings import Settings
from services.worker import lanes
from tests.services.workers import (
    caught_up,
    clean_pass,
    ends,
    messy_stream,
    publish,
    snapshot,
    spawn_worker,
    stop_worker,
)


def at(partition: int, offset: int) -> Incoming:
    return Incoming(position=Position("t", partition, offset), key=None, value=None)


def test_lanes_hold_whole_partitions_keep_their_order_and_even_out_the_records() -> None:
    partitions = [0, 1, 2, 3, 0, 0, 1, 2, 0, 3]  # records: 0 -> 4, 1, 2 and 3 -> 2 each
    items = [at(p, offset) for offset, p in enumerate(partitions)]
    split = lanes.split(items, 2)
    held = [{i.position.partition for i in lane} for lane in split]
    assert held[0].isdisjoint(held[1]) and held[0] | held[1] == {0, 1, 2, 3}
    for lane, partitions_of_lane in zip(split, held, strict=True):
        assert lane == [i for i in items if i.position.partition in partitions_of_lane]
    assert sorted(len(lane) for lane in split) == [4, 6]


def test_no_more_lanes_than_partitions_and_one_lane_is_the_batch() -> None:
    items = [at(5, 0), at(5, 1), at(7, 2)]
    assert [len(lane) for lane in lanes.split(items, 4)] == [2, 1]
    assert lanes.split(items, 1) == [items]


# The first event-store row of partition 1 fails its transaction, once: a
# sequence counts the attempts (it is not rolled back with the transaction).
FAIL_ONCE = """
CREATE SEQUENCE partition_1_writes;
CREATE FUNCTION fail_partition_1_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.partition = 1 THEN
        IF nextval('partition_1_writes') = 1 THEN
            RAISE EXCEPTION 'the first write of partition 1 fails';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_partition_1_once BEFORE INSERT ON billing.event_store
    FOR EACH ROW EXECUTE FUNCTION fail_partition_1_once();
"""


@pytest.mark.integration
async def test_two_lanes_end_as_one_lane_does_after_a_lane_failed_and_was_read_again(
    settings: Settings, conn: asyncpg.Connection, make_database: Callable[[], Awaitable[str]]
) -> None:
    await conn.execute(FAIL_ONCE)
    positions = await publish(settings, messy_stream(invoices=1500, seed=11))
    assert {p.partition for p in positions} >= {0, 1, 2, 3}
    worker = spawn_worker(settings, batch_max_records=400, batch_lanes=2)
    try:
        await caught_up(conn, settings.topic, ends(positions))
    finally:
        assert stop_worker(worker) == 0
    # Partition 1 failed once and was written again.
    assert await conn.fetchval("SELECT last_value FROM partition_1_writes") > 1
    assert await verify(conn, "proj_1") == []
    one_lane = msgspec.structs.replace(settings, batch_lanes=1)
    assert await snapshot(conn) == await clean_pass(one_lane, make_database, ends(positions))
