"""`billing topics ensure|check` and the worker's start-up check, on the real
broker with topics of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiokafka.admin import NewTopic

from services import kafka, topics
from services.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def unique(service_env: dict[str, str]) -> AsyncIterator[Settings]:
    """Settings naming topics that do not exist yet; deleted afterwards."""
    suffix = uuid.uuid4().hex[:10]
    settings = Settings.from_env(
        {},
        kafka_bootstrap=service_env["BILLING_KAFKA_BOOTSTRAP"],
        topic=f"topics-{suffix}",
        dlq_topic=f"topics-{suffix}.dlq",
        topic_partitions=3,
        topic_retention_ms=3_600_000,
    )
    yield settings
    admin = kafka.admin(settings)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic, settings.dlq_topic])
    finally:
        await admin.close()


def billing(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def shape(reports: list[topics.TopicReport]) -> list[tuple[str, str, int | None, int | None, int | None]]:
    return [(r.name, r.state, r.partitions, r.replication_factor, r.retention_ms) for r in reports]


async def test_ensure_creates_both_topics_as_configured_then_finds_them(unique: Settings) -> None:
    missing = billing(unique, "topics", "check", "--json")
    assert missing.returncode == 1
    assert [(t["state"], t["problems"]) for t in json.loads(missing.stdout)["topics"]] == [
        ("missing", ["does not exist: `billing topics ensure` creates it"])
    ] * 2

    created = billing(unique, "topics", "ensure")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].split() == ["topic", "role", "state", "partitions", "replication", "retention.ms"]
    assert lines[1].split() == [
        unique.topic,
        "events",
        "created",
        "3",
        "/",
        "3",
        "1",
        "/",
        "1",
        "3600000",
        "/",
        "3600000",
    ]

    again = await topics.ensure(unique)
    assert shape(again) == [
        (unique.topic, "exists", 3, 1, 3_600_000),
        (unique.dlq_topic, "exists", 3, 1, 3_600_000),
    ]
    assert all(not r.problems and not r.notes for r in again)


async def test_an_existing_topic_short_of_the_settings_is_reported_and_left_alone(unique: Settings) -> None:
    admin = kafka.admin(unique)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(unique.topic, 2, 1, topic_configs={"retention.ms": "60000"})])
    finally:
        await admin.close()

    result = billing(unique, "topics", "ensure", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    events, dead_letters = report["topics"]
    assert (events["state"], events["partitions"], events["configuredPartitions"]) == ("exists", 2, 3)
    assert events["problems"] == [
        "2 partition(s), 3 configured (BILLING_TOPIC_PARTITIONS): at most 2 worker(s) do work. Not changed here:"
        " adding partitions moves invoices to other partitions (see docs/scaling.md)",
        "retention.ms 60000, 3600000 configured (BILLING_TOPIC_RETENTION_MS): records may be deleted before a"
        " stopped worker reads them; not changed here",
    ]
    assert (dead_letters["state"], dead_letters["problems"]) == ("created", [])
    # Never changed: the topic still has its two partitions.
    assert shape(await topics.ensure(unique, create=False))[0] == (unique.topic, "exists", 2, 1, 60_000)
    # More than configured is a note, not a problem.
    fewer = msgspec.structs.replace(unique, topic_partitions=1, topic_retention_ms=60_000)
    noted = await topics.ensure(fewer, create=False)
    assert noted[0].problems == []
    assert noted[0].notes == [
        "2 partitions, 1 configured: up to 2 workers can do work; set BILLING_TOPIC_PARTITIONS=2 to match"
    ]


async def test_a_worker_creates_missing_topics_only_when_auto_creation_is_on(unique: Settings) -> None:
    off = msgspec.structs.replace(unique, topic_auto_create=False)
    with pytest.raises(topics.TopicError) as refused:
        await topics.prepare_for_worker(off)
    assert str(refused.value) == (
        f"topics {unique.topic} and {unique.dlq_topic} are missing and BILLING_TOPIC_AUTO_CREATE is off:"
        " create them with `billing topics ensure`"
    )
    assert [r.state for r in await topics.ensure(off, create=False)] == ["missing", "missing"]

    reports = await topics.prepare_for_worker(unique)
    assert shape(reports) == [
        (unique.topic, "created", 3, 1, 3_600_000),
        (unique.dlq_topic, "created", 3, 1, 3_600_000),
    ]
    assert [r.state for r in await topics.prepare_for_worker(off)] == ["exists", "exists"]


async def test_the_worker_command_refuses_to_start_without_its_topic(unique: Settings) -> None:
    off = msgspec.structs.replace(unique, topic_auto_create=False, worker_metrics_port=0)
    result = billing(off, "worker")
    assert result.returncode == 5
    assert result.stderr.strip().splitlines() == [
        f"billing worker: topics {unique.topic} and {unique.dlq_topic} are missing and BILLING_TOPIC_AUTO_CREATE"
        " is off: create them with `billing topics ensure`"
    ]
