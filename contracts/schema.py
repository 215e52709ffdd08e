"""JSON Schemas of every event type, generated from ``contracts.events``.

The checked-in files under ``contracts/schemas/`` are what publishers read and
what ``dataschema`` may point at (the payload alone is the ``$defs`` entry
named ``<Type>Data``, e.g. ``invoice.created.json#/$defs/InvoiceCreatedData``).
A test fails when they drift from the code; regenerate them with::

    python -m contracts.schema
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from contracts.events import EVENT_CLASSES

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event type, keyed by type (``invoice.created`` ...)."""
    return {
        event_type: {"$schema": JSON_SCHEMA_DIALECT, "title": event_type, **msgspec.json.schema(cls)}
        for event_type, cls in EVENT_CLASSES.items()
    }


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """File name -> text of every schema file, as the code defines them."""
    return {f"{name}.json": render(schema) for name, schema in event_schemas().items()}


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write every schema file into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    for path in write_schemas():
        print(path)


if __name__ == "__main__":
    main()
