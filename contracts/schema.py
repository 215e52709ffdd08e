"""JSON Schemas of every event type, generated from ``contracts.events``.

The checked-in files under ``contracts/schemas/`` are what publishers read and
what ``dataschema`` may point at (the payload alone is the ``$defs`` entry
named ``<Type>Data``, e.g. ``invoice.created.json#/$defs/InvoiceCreatedData``).
A test fails when they drift from the code; regenerate them with::

    python -m contracts.schema

msgspec describes each field from its type; ``sequence`` is an integer in the
events but the codec also accepts it as a string of ASCII digits, so its
schema is widened here to say both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from contracts.events import EVENT_CLASSES, MAX_SEQUENCE

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event type, keyed by type (``invoice.created`` ...)."""
    schemas = {}
    for event_type, cls in EVENT_CLASSES.items():
        schema = msgspec.json.schema(cls)
        for definition in schema["$defs"].values():
            sequence = definition.get("properties", {}).get("sequence")
            if sequence is not None:
                definition["properties"]["sequence"] = _integer_or_digits(sequence)
        schemas[event_type] = {"$schema": JSON_SCHEMA_DIALECT, "title": event_type, **schema}
    return schemas


def _integer_or_digits(integer: dict[str, Any]) -> dict[str, Any]:
    """An integer property's schema widened to the same values spelled as ASCII digits."""
    bounds = {key: integer[key] for key in ("minimum", "maximum")}
    assert bounds == {"minimum": 1, "maximum": MAX_SEQUENCE}, bounds
    return {
        "description": integer["description"],
        "anyOf": [
            {"type": "integer", **bounds},
            {"type": "string", "pattern": digits_pattern(MAX_SEQUENCE)},
        ],
    }


def digits_pattern(maximum: int) -> str:
    """A regular expression matching the decimal spellings of 1 ... ``maximum``
    (leading zeros allowed, nothing but ASCII digits)."""
    digits = str(maximum)
    width = len(digits)
    # Every number with fewer digits, then those with as many that stay at or
    # below the maximum: its first i digits, a smaller digit, any digits after.
    branches = [f"[1-9][0-9]{{0,{width - 2}}}"] if width > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        high = int(digit) - 1
        if high >= low:
            rest = width - i - 1
            tail = f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" if rest == 1 else ""
            span = str(low) if low == high else f"[{low}-{high}]"
            branches.append(f"{digits[:i]}{span}{tail}")
    branches.append(digits)
    return f"^0*({'|'.join(branches)})$"


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
