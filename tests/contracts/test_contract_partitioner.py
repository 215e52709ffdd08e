"""The contract's partitioner is murmur2 of the key, the Java client's default
(`Utils.toPositive(Utils.murmur2(key)) % partitions`). The publisher helper
relies on aiokafka's default partitioner for it: these tests hold it to
Kafka's own murmur2 test vectors, to the Java client itself when the local
stack's Kafka jars and a JVM are there, and to where the broker stores what
the publisher sends."""

from __future__ import annotations

import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from deploy.local.config import layout
from services.settings import Settings
from tests.factories import InvoiceBuilder

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit results).
KAFKA_MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}

JAVA_PARTITIONS = """
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

public class Partitions {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader keys = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String key;
        while ((key = keys.readLine()) != null) {
            System.out.println(BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions));
        }
    }
}
"""


def java_partition(key: bytes, partitions: int) -> int:
    """The Java client's partition of a keyed record, written out."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def invoice_ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_:/.é€日"
    ids = [f"inv_{n}" for n in range(count // 2)]
    ids += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64))) for _ in range(count - len(ids))]
    return ids


def test_aiokafka_murmur2_gives_kafkas_own_test_vectors() -> None:
    for key, signed in KAFKA_MURMUR2_VECTORS.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 12, 50, 64])
def test_aiokafka_default_partitioner_is_the_java_formula_whatever_partitions_are_available(partitions: int) -> None:
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    for invoice_id in invoice_ids(400, seed=partitions):
        key = invoice_id.encode()
        expected = java_partition(key, partitions)
        assert partitioner(key, every, every) == expected
        # A keyed record never moves to another partition because its own is
        # unavailable (Java's partitionForKey ignores availability too).
        assert partitioner(key, every, [p for p in every if p != expected] or every) == expected


def test_aiokafka_default_partitioner_agrees_with_the_java_client(tmp_path: Path) -> None:
    java = shutil.which("java")
    libs = layout().kafka / "libs"
    if java is None or not any(libs.glob("kafka-clients-*.jar")):
        pytest.skip("needs a JVM and the local stack's Kafka jars (python -m deploy.local start)")
    source = tmp_path / "Partitions.java"
    source.write_text(JAVA_PARTITIONS, encoding="utf-8")
    keys = invoice_ids(2000, seed=7)
    partitioner = DefaultPartitioner()
    for partitions in (4, 7, 12):
        result = subprocess.run(
            [java, "-cp", str(libs / "*"), str(source), str(partitions)],
            input="\n".join(keys) + "\n",
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
            timeout=120,
        )
        every = list(range(partitions))
        assert [int(line) for line in result.stdout.split()] == [partitioner(k.encode(), every, every) for k in keys]


@pytest.mark.integration
async def test_the_publisher_puts_each_invoice_on_its_murmur2_partition(settings: Settings) -> None:
    from contracts import InvoiceEventPublisher

    invoices = [InvoiceBuilder(invoice_id, tenant="acme") for invoice_id in invoice_ids(40, seed=3)]
    events = [event for invoice in invoices for event in (invoice.created(), invoice.sent())]
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        positions = await publisher.publish_many(events)
    for event, position in zip(events, positions, strict=True):
        assert position.partition == java_partition(event.subject.encode(), settings.topic_partitions), event.subject
    assert len({p.partition for p in positions}) == settings.topic_partitions
