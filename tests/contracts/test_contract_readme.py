"""The examples in contracts/README.md are real, valid events."""

from __future__ import annotations

import re
from pathlib import Path

import contracts
from contracts.codec import decode
from contracts.errors import Reason
from contracts.examples import EXAMPLES

README = (Path(contracts.__file__).parent / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_every_structured_example_in_the_readme_decodes_to_the_example_event() -> None:
    decoded = [decode(block.encode()).event for block in blocks("json")]
    assert decoded == list(EXAMPLES)


def test_every_binary_example_in_the_readme_decodes_to_the_example_event() -> None:
    decoded = []
    for block in blocks("text"):
        header_text, _, value = block.partition("\n\n")
        headers = [(name, raw.encode()) for name, _, raw in (line.partition(": ") for line in header_text.splitlines())]
        decoded.append(decode(value.encode(), headers).event)
    assert decoded == list(EXAMPLES)


def test_the_readme_lists_every_reason_code() -> None:
    listed = set(re.findall(r"^\| `([a-z_]+)` \| (?:codec|worker|fold) \|", README, re.MULTILINE))
    assert listed == {reason.value for reason in Reason}
