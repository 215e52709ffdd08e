"""The event topic and its dead-letter topic: what exists against what the
settings configure, and creating what is missing.

``billing topics ensure`` creates a missing topic with the configured
partitions (``BILLING_TOPIC_PARTITIONS``), replication factor
(``BILLING_TOPIC_REPLICATION_FACTOR``) and retention
(``BILLING_TOPIC_RETENTION_MS``) and reports an existing one as it is; it
never changes an existing topic. ``billing topics check`` only reports.
A worker runs the same ensure before it consumes, creating missing topics
only when ``BILLING_TOPIC_AUTO_CREATE`` is on (``prepare_for_worker``).

What differs from the settings is a *problem* when the topic does less than
configured (fewer partitions of the event topic, fewer replicas, a shorter
retention) and a *note* when it does more. Metadata is read for listed topics
only: asking a broker that auto-creates topics about a missing one would
create it with the broker's defaults.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import msgspec
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services import kafka
from services.logging import get_logger
from services.settings import Settings, variable

log = get_logger("topics")

RETENTION = "retention.ms"
TOPIC_ALREADY_EXISTS = 36

State = Literal["exists", "created", "missing"]
Role = Literal["events", "dead letters"]
# After creating topics, how long their metadata may take to show.
CREATED_VISIBLE_SECONDS = 10.0


class TopicError(Exception):
    """A topic cannot be created or is missing where it must exist."""


class TopicReport(msgspec.Struct, kw_only=True, rename="camel"):
    """One topic: what the broker has, what the settings configure."""

    name: str
    role: Role
    state: State
    partitions: int | None
    replication_factor: int | None
    # -1: no time limit.
    retention_ms: int | None
    configured_partitions: int
    configured_replication_factor: int
    configured_retention_ms: int
    problems: list[str] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)


async def inspect(admin: AIOKafkaAdminClient, settings: Settings) -> list[TopicReport]:
    """Both topics as the broker has them, compared with the settings; creates nothing."""
    wanted: dict[str, Role] = {settings.topic: "events", settings.dlq_topic: "dead letters"}
    listed = set(await admin.list_topics())
    existing = [name for name in wanted if name in listed]
    described = {t["topic"]: t for t in await admin.describe_topics(existing)} if existing else {}
    retention = await _retention(admin, existing)
    reports = []
    for name, role in wanted.items():
        topic = described.get(name)
        partitions = replicas = None
        if topic is not None and topic["error_code"] == 0:
            partitions = len(topic["partitions"])
            replicas = min((len(p["replicas"]) for p in topic["partitions"]), default=0)
        report = TopicReport(
            name=name,
            role=role,
            state="exists" if name in listed else "missing",
            partitions=partitions,
            replication_factor=replicas,
            retention_ms=retention.get(name),
            configured_partitions=settings.topic_partitions,
            configured_replication_factor=settings.topic_replication_factor,
            configured_retention_ms=settings.topic_retention_ms,
        )
        _compare(report)
        reports.append(report)
    return reports


async def _retention(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {RETENTION: None}) for name in topics]
    found: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == RETENTION and entry["config_value"] is not None:
                    found[resource["resource_name"]] = int(entry["config_value"])
    return found


def _longer(a: int, b: int) -> bool:
    """Whether retention ``a`` keeps records longer than ``b`` (-1: forever)."""
    return a != b and (a == -1 or (b != -1 and a > b))


def _compare(report: TopicReport) -> None:
    """Fill the report's problems and notes."""
    if report.state == "missing":
        report.problems.append("does not exist: `billing topics ensure` creates it")
        return
    have, want = report.partitions, report.configured_partitions
    if have is not None and have < want:
        if report.role == "events":
            report.problems.append(
                f"{have} partition(s), {want} configured ({variable('topic_partitions')}): at most {have} worker(s)"
                " do work. Not changed here: adding partitions moves invoices to other partitions (see"
                " docs/scaling.md)"
            )
        else:
            report.notes.append(f"{have} partition(s), {want} configured: enough for dead letters")
    elif have is not None and have > want:
        report.notes.append(
            f"{have} partitions, {want} configured: up to {have} workers can do work; set"
            f" {variable('topic_partitions')}={have} to match"
        )
    have, want = report.replication_factor, report.configured_replication_factor
    if have is not None and have < want:
        report.problems.append(
            f"replication factor {have}, {want} configured ({variable('topic_replication_factor')}); not changed here"
        )
    elif have is not None and have > want:
        report.notes.append(f"replication factor {have}, {want} configured")
    kept, want = report.retention_ms, report.configured_retention_ms
    if kept is not None and _longer(want, kept):
        report.problems.append(
            f"retention.ms {kept}, {want} configured ({variable('topic_retention_ms')}): records may be deleted"
            " before a stopped worker reads them; not changed here"
        )
    elif kept is not None and _longer(kept, want):
        report.notes.append(f"retention.ms {kept}, {want} configured")


def new_topic(settings: Settings, name: str) -> NewTopic:
    """A topic as the settings configure it."""
    return NewTopic(
        name,
        settings.topic_partitions,
        settings.topic_replication_factor,
        topic_configs={RETENTION: str(settings.topic_retention_ms)},
    )


async def ensure(settings: Settings, create: bool = True) -> list[TopicReport]:
    """Create whichever of the two topics is missing (when ``create``) and
    report both. Raises TopicError when the broker refuses to create one."""
    admin = kafka.admin(settings)
    await admin.start()
    try:
        reports = await inspect(admin, settings)
        missing = [r.name for r in reports if r.state == "missing"]
        if not create or not missing:
            return reports
        response: Any = await admin.create_topics([new_topic(settings, name) for name in missing])
        refused = [
            f"{t['topic']}: {t['error_message'] or 'error code ' + str(t['error_code'])}"
            for t in response.to_object()["topic_errors"]
            # Another process may have created it meanwhile: the report says what it is.
            if t["error_code"] not in (0, TOPIC_ALREADY_EXISTS)
        ]
        if refused:
            raise TopicError("the broker refused to create " + "; ".join(refused))
        deadline = time.monotonic() + CREATED_VISIBLE_SECONDS
        reports = await inspect(admin, settings)
        while time.monotonic() < deadline and any(r.state == "missing" or r.partitions is None for r in reports):
            await asyncio.sleep(0.2)
            reports = await inspect(admin, settings)
        for report in reports:
            if report.name in missing and report.state == "exists":
                report.state = "created"
        return reports
    finally:
        await admin.close()


async def ensure_topics(settings: Settings) -> list[TopicReport]:
    """Create the missing topics (``billing demo`` and the worker with auto-creation on)."""
    return await ensure(settings, create=True)


async def prepare_for_worker(settings: Settings) -> list[TopicReport]:
    """What a worker does before it consumes: its topics must exist. Missing
    ones are created when BILLING_TOPIC_AUTO_CREATE is on; otherwise a
    TopicError says how to create them. Differences from the settings are
    logged, never changed."""
    reports = await ensure(settings, create=settings.topic_auto_create)
    missing = [r.name for r in reports if r.state == "missing"]
    if missing:
        named = f"topics {' and '.join(missing)} are" if len(missing) > 1 else f"topic {missing[0]} is"
        raise TopicError(
            f"{named} missing and {variable('topic_auto_create')} is off:"
            f" create {'them' if len(missing) > 1 else 'it'} with `billing topics ensure`"
        )
    for report in reports:
        if report.state == "created":
            log.info(
                "topic created",
                topic=report.name,
                partitions=report.partitions,
                replication_factor=report.replication_factor,
                retention_ms=report.retention_ms,
            )
        for problem in report.problems:
            log.warning("topic differs from the settings", topic=report.name, problem=problem)
    return reports


def render(reports: list[TopicReport]) -> list[str]:
    """A terminal table of the reports, then each problem and note."""
    lines = [
        f"{'topic':<32} {'role':<12} {'state':<8} {'partitions':>14} {'replication':>12} {'retention.ms':>26}",
    ]
    for r in reports:
        lines.append(
            f"{r.name:<32} {r.role:<12} {r.state:<8} {_pair(r.partitions, r.configured_partitions):>14}"
            f" {_pair(r.replication_factor, r.configured_replication_factor):>12}"
            f" {_pair(r.retention_ms, r.configured_retention_ms):>26}"
        )
    lines.append("(each figure: what the broker has / what is configured)")
    for r in reports:
        lines += [f"PROBLEM {r.name}: {p}" for p in r.problems]
        lines += [f"note {r.name}: {n}" for n in r.notes]
    return lines


def _pair(have: int | None, want: int) -> str:
    return f"{'-' if have is None else have} / {want}"
