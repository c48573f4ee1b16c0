"""`rcoder-runner --files`: the files API beside gRPC health and a status that counts its requests."""

from __future__ import annotations

import asyncio
import threading

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import FILES_PORT
from runner.server import parse_args, start_files


def test_files_mode_needs_a_root():
    args = parse_args(["--files", "--root", "/srv/ws", "--folder", "t/s/p"])
    assert (args.files, args.root, args.folder, args.files_port) == (True, "/srv/ws", "t/s/p", FILES_PORT)
    with pytest.raises(SystemExit):
        parse_args(["--files"])


async def test_files_mode_serves_files_health_and_status(tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"hello")
    args = parse_args(
        ["--files", "--root", str(tmp_path), "--host", "127.0.0.1", "--port", "0", "--files-port", "0"]
    )
    files, server, port, _ = await start_files(args)
    url = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            idle = await stub.GetContainerStatus(agent_pb2.GetContainerStatusRequest())
            assert (idle.is_active, idle.active_tasks, idle.status) == (False, 0, "Idle")

            release = threading.Event()

            def upload() -> None:
                def body():
                    yield b"part"
                    release.wait(5)

                httpx.put(f"{url}/raw", params={"path": "up.txt"}, content=body())

            uploading = asyncio.create_task(asyncio.to_thread(upload))
            try:
                for _ in range(100):
                    busy = await stub.GetContainerStatus(agent_pb2.GetContainerStatusRequest())
                    if busy.active_tasks:
                        break
                    await asyncio.sleep(0.02)
                assert (busy.is_active, busy.active_tasks, busy.status) == (True, 1, "Processing")
            finally:
                release.set()
                await uploading

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetStatus(agent_pb2.GetStatusRequest(project_id="p"))
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        reply = await asyncio.to_thread(httpx.get, f"{url}/raw", params={"path": "hello.txt"})
        assert reply.content == b"hello"
    finally:
        files.shutdown()
        files.server_close()
        await server.stop(grace=None)
