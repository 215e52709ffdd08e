"""A bounded coverage-guided fuzzing run of the decoder (the long one:
`make fuzz`). A crash — any exception but ContractError — fails the test with
libFuzzer's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.faults.fuzz_decoder import seed_corpus


def test_the_decoder_survives_coverage_guided_fuzzing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    seed_corpus(str(corpus))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.faults.fuzz_decoder",
            "-runs=20000",
            "-max_len=4096",
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr
