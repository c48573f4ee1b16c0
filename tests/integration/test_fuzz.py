"""Schemathesis against a running appliance, through its proxy and with the API key: every operation
with every check (no server error, no schema-valid request refused, no schema-violating one accepted,
every response as documented, 405 with Allow for undeclared methods, and so on), including the ones
that start and stop containers. The stack may run 4 containers at once, so that starting them is
quick to refuse (429) rather than slow to do.

The seed is printed; RCODER_FUZZ_SEED=<seed> replays a run, RCODER_FUZZ_EXAMPLES sets how many
examples each operation gets (default 50)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import run_appliance

pytestmark = pytest.mark.engine

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("fuzz.toml")
# A bound on the whole run, well above what it takes (about a minute on two cores).
MAX_SECONDS = 600


@pytest.mark.timeout(MAX_SECONDS + 120)
def test_fuzzing_finds_no_failure_of_any_check(engine, tmp_path):
    seed = int(os.environ.get("RCODER_FUZZ_SEED") or random.randrange(2**31))
    examples = os.environ.get("RCODER_FUZZ_EXAMPLES", "50")
    print(f"schemathesis seed {seed}: replay with RCODER_FUZZ_SEED={seed}")
    with run_appliance(engine, RCODER_WARM_POOL_SIZE="0", RCODER_MAX_CONTAINERS="4") as appliance:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                f"--config-file={CONFIG}",
                "run",
                f"{appliance.url}/api/docs/openapi.json",
                f"--header=x-api-key: {appliance.api_key}",
                "--checks=all",
                f"--max-examples={examples}",
                f"--seed={seed}",
                "--request-timeout=30",
                "--no-color",
                f"--report-dir={tmp_path}",
            ],
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS,
        )
        if run.returncode != 0:  # what the gateway made of it, for the failures below
            print(appliance.gateway(engine).logs(tail=400).decode(errors="replace"))
    print(run.stdout[-20_000:])
    assert run.returncode == 0, f"seed {seed}:\n{shortened(run.stdout)[-8000:]}{run.stderr[-2000:]}"
    assert re.search(r"✅\s+Fuzzing", run.stdout), f"the fuzzing phase did not pass:\n{run.stdout[-3000:]}"
    assert "failure" not in run.stdout.splitlines()[-1], run.stdout[-3000:]


def shortened(output: str, width: int = 400) -> str:
    """Schemathesis's output with its long lines (a fuzzed body's curl) cut, so that the response and
    the check that failed fit in the message."""
    return "\n".join(line if len(line) <= width else f"{line[:width]}…" for line in output.splitlines())
