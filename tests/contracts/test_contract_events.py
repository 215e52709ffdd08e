"""The event types: one list, the tagged union, and everything derived from it."""

from __future__ import annotations

import typing

import msgspec

from contracts import EVENT_CLASSES, EVENT_TYPES, InvoiceEvent, event_type, type_name
from contracts.examples import EXAMPLES


def test_the_event_types_are_the_tags_of_the_union_members_in_order() -> None:
    members = typing.get_args(InvoiceEvent)
    assert list(EVENT_CLASSES.values()) == list(members)
    assert tuple(cls.__struct_config__.tag for cls in members) == EVENT_TYPES


def test_the_published_event_types_are_the_four_lifecycle_events() -> None:
    assert EVENT_TYPES == ("invoice.created", "invoice.sent", "invoice.paid", "invoice.voided")


def test_an_event_and_its_class_name_the_same_type() -> None:
    for event in EXAMPLES:
        assert event_type(event) == type_name(type(event)) == msgspec.to_builtins(event)["type"]


def test_there_is_one_example_of_every_event_type_in_order() -> None:
    assert tuple(event_type(event) for event in EXAMPLES) == EVENT_TYPES
