"""A publisher sending at a steady rate, for the freshness benchmark.

It sends pre-encoded records at ``--rate`` per second for ``--seconds`` (the
schedule is kept from the start, so a slow moment is caught up, never
dropped), with the idempotent acks=all producer the contract asks for and a
short linger, as a latency-minded publisher would. For one record in
``--sample-every`` it notes the monotonic time just before the send and the
partition and offset of the broker's acknowledgement. CLOCK_MONOTONIC is one
clock for every process of the machine, so the watcher in the harness can
compare its own readings with these.

Run: ``python -m bench.paced_publisher --rate 5000 --seconds 10 --out samples.json``
with BILLING_KAFKA_BOOTSTRAP and BILLING_TOPIC set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import streams
from services import kafka
from services.settings import Settings

TICK_SECONDS = 0.002


async def publish_paced(
    settings: Settings, records: list[streams.Record], rate: float, sample_every: int
) -> dict[str, Any]:
    producer = kafka.producer(settings, enable_idempotence=True, acks="all", linger_ms=1)
    await producer.start()
    sampled: list[tuple[float, asyncio.Future[Any]]] = []
    try:
        started = time.monotonic()
        sent = 0
        while sent < len(records):
            due = min(len(records), int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                record = records[sent]
                if sent % sample_every == 0:
                    before = time.monotonic()
                    sampled.append((before, await producer.send(settings.topic, record.value, key=record.key)))
                else:
                    await producer.send(settings.topic, record.value, key=record.key)
                sent += 1
            await asyncio.sleep(TICK_SECONDS)
        await producer.flush()
        elapsed = time.monotonic() - started
        samples = []
        for before, ack in sampled:
            meta = await ack
            samples.append([before, meta.partition, meta.offset])
    finally:
        await producer.stop()
    return {"sent": sent, "seconds": elapsed, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    records = streams.records(int(args.rate * args.seconds), args.seed, late=0.0, duplicates=0.0)
    # The harness waits for this line: generating the records is not timed.
    print("ready", flush=True)
    result = asyncio.run(publish_paced(settings, records, args.rate, args.sample_every))
    args.out.write_text(json.dumps(result))
    print(f"sent {result['sent']} in {result['seconds']:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
