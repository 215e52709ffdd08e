"""Coverage-guided fuzzing of the event decoder: any bytes, with or without
CloudEvents binary-mode headers, either decode or raise ContractError —
never anything else. Run: python -m tests.faults.fuzz_decoder -runs=100000
(libFuzzer flags), seeded with a valid event of each type."""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from contracts import ContractError, decode, encode, encode_binary
    from contracts.examples import EXAMPLES


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    binary = provider.ConsumeBool()
    headers: list[tuple[str, bytes]] = []
    if binary:
        for name in (
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "ce_tenantid",
            "ce_sequence",
        ):
            if provider.ConsumeBool():
                headers.append((name, provider.ConsumeBytes(provider.ConsumeIntInRange(0, 40))))
    value = provider.ConsumeBytes(provider.remaining_bytes())
    with contextlib.suppress(ContractError):
        decode(value, headers)


def seed_corpus(folder: str) -> None:
    """Valid events to start from (structured and binary values)."""
    import pathlib

    path = pathlib.Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for index, event in enumerate(EXAMPLES):
        (path / f"structured-{index}").write_bytes(b"\x00" + encode(event))
        (path / f"binary-{index}").write_bytes(b"\x01" + encode_binary(event)[1])


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
