"""appliance/cli.py: `rcoder-gateway`, the gateway's command."""

from __future__ import annotations

from appliance import cli


def test_the_gateway_prints_its_config(capsys):
    cli.main(["--print-config", "--port", "9123", "--stack", "printed"])
    out = capsys.readouterr().out
    assert "port: 9123" in out
    assert "engine_config:\n  host: ''\n  stack: printed\n" in out and "docker_config" not in out
