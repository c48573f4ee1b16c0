"""The checked-in gRPC modules match proto/*.proto (regenerate with scripts/codegen)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_modules_are_up_to_date():
    result = subprocess.run(
        ["bash", "scripts/codegen", "--check"],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_progress_event_carries_a_sequence_number():
    from rcoder_rpc import agent_pb2

    fields = agent_pb2.ProgressEvent.DESCRIPTOR.fields_by_name
    assert fields["sequence"].number == 12
    assert agent_pb2.ProgressRequest.DESCRIPTOR.fields_by_name["after_sequence"].number == 2
    # The seed's service name, so that its clients keep working.
    assert agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name == "agent.AgentService"
