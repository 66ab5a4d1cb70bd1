"""Real processes for the deployment tests: nginx run from the shipped site template (rendered
by envsubst, as in production) in front of `foleyserve api` processes, all on loopback.

nginx runs unprivileged-style: its own prefix, pid, logs and temp folders under a tmp folder,
one process (`master_process off`, so no user switching when the tests run as root), in the
foreground (`daemon off`), on a free port.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from foleyserve.api.routes import FORM_OVERHEAD_BYTES

REPO = Path(__file__).resolve().parents[2]
SITE_TEMPLATE = REPO / "deploy" / "nginx" / "foleyserve.conf.template"
TEMPLATE_VARIABLES = (
    "FOLEY_LISTEN",
    "FOLEY_SERVER_NAME",
    "FOLEY_UPSTREAM_SERVERS",
    "FOLEY_CLIENT_MAX_BODY_SIZE",
    "FOLEY_ACCESS_LOG",
)
START_TIMEOUT_S = 90.0
"""Generous: the tests share 2 cores with everything else, and an API start imports a lot."""


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(
            f"{binary} is not installed; the deployment tests run it. Install it "
            f"(apt-get install {package}), or run scripts/test, which does.",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def body_limit_bytes(max_file_bytes: int) -> int:
    """What nginx must accept: the API's file limit plus its multipart allowance."""
    return max_file_bytes + FORM_OVERHEAD_BYTES


def upstream_servers(addresses: Sequence[str]) -> str:
    """`FOLEY_UPSTREAM_SERVERS` for these `host:port`s, as docs/deploy.md writes it."""
    return " ".join(f"server {a} max_fails=3 fail_timeout=10s;" for a in addresses)


def render_site(values: Mapping[str, str]) -> str:
    """The shipped template through envsubst, replacing only its own variables."""
    missing = set(TEMPLATE_VARIABLES) - set(values)
    assert not missing, f"no value for {sorted(missing)}"
    names = " ".join(f"${name}" for name in TEMPLATE_VARIABLES)
    done = subprocess.run(
        [require("envsubst", "gettext-base"), names],
        input=SITE_TEMPLATE.read_text(),
        env={"PATH": os.environ.get("PATH", "")} | dict(values),
        capture_output=True,
        text=True,
        check=True,
        timeout=START_TIMEOUT_S,
    )
    assert "${FOLEY_" not in done.stdout
    return done.stdout


def main_conf(prefix: Path, site: Path) -> str:
    """The process-level wrapper around the site file: everything under `prefix`."""
    temp = {name: prefix / "temp" / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    return f"""
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            require("openssl", "openssl"),
            *[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
            ],
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=START_TIMEOUT_S,
    )
    return cert, key


def enable_tls(site: str, cert: Path, key: Path) -> str:
    """The template's TLS example switched on as its comments say: the ssl_* lines (and
    `http2 on` where this nginx has it) uncommented, pointing at `cert` and `key`."""
    version = subprocess.run(
        [require("nginx", "nginx"), "-v"], capture_output=True, text=True, check=True
    ).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    assert found, version
    has_http2_on = tuple(int(part) for part in found.groups()) >= (1, 25, 1)
    lines = []
    for line in site.splitlines():
        body = line.strip().removeprefix("# ")
        wanted = body.startswith(("ssl_", "add_header Strict-Transport-Security")) or (
            has_http2_on and body.startswith("http2 on;")
        )
        if line.strip().startswith("# ") and wanted and line.startswith("    #"):
            line = "    " + body.split("    #")[0]
        lines.append(line)
    text = "\n".join(lines)
    text = text.replace("/etc/nginx/tls/fullchain.pem", str(cert))
    return text.replace("/etc/nginx/tls/privkey.pem", str(key))


def nginx_command(prefix: Path) -> list[str]:
    binary = require("nginx", "nginx")
    conf = prefix / "nginx.conf"
    return [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]


def write_nginx_conf(
    prefix: Path, values: Mapping[str, str], *, tls: tuple[Path, Path] | None = None
) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "foleyserve.conf"
    text = render_site(values)
    site.write_text(enable_tls(text, *tls) if tls else text)
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site))
    return conf


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > give_up:
            stop(process)
            pytest.fail(f"{what} did not start:\n{log.read_text()}", pytrace=False)
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Api:
    """One `foleyserve api` process; its uvicorn access log goes to `log`."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_api(folder: Path, env: Mapping[str, str]) -> Api:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "foleyserve", "api", "--port", str(port)],
            env=os.environ | {"FOLEYSERVE_DATA_DIR": str(folder)} | dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Api(port, log, process)


@dataclass
class Nginx:
    prefix: Path
    port: int
    process: subprocess.Popen[bytes]
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams(self) -> list[list[str]]:
        """The backends tried for every logged request, in order (`["-"]`: nginx answered
        itself; several when one failed and the next was tried)."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        fields = [line.split(" upstream=")[1].split(" ust=")[0] for line in lines]
        return [[hop.strip() for hop in tried.split(",")] for tried in fields]

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text()

    def logged_since(self, before: int, count: int) -> list[list[str]]:
        """`upstreams()` after the first `before`, once `count` more have been logged (nginx
        writes a line when it finalizes a request, which may be after the client has its
        answer, e.g. while it discards the rest of a refused body)."""
        give_up = time.monotonic() + START_TIMEOUT_S
        while len(served := self.upstreams()[before:]) < count:
            assert time.monotonic() < give_up, f"nginx logged {served}, not {count} requests"
            time.sleep(0.02)
        return served


def start_nginx(
    prefix: Path,
    backends: Sequence[Api],
    max_file_bytes: int,
    *,
    tls: tuple[Path, Path] | None = None,
) -> Nginx:
    """nginx on a free port in front of `backends`; with `tls` (certificate, key), the
    template's TLS example switched on (`enable_tls`)."""
    port = free_port()
    access_log = prefix / "access.log"
    write_nginx_conf(
        prefix,
        {
            "FOLEY_LISTEN": f"127.0.0.1:{port}" + (" ssl" if tls else ""),
            "FOLEY_SERVER_NAME": "_",
            "FOLEY_UPSTREAM_SERVERS": upstream_servers([b.address for b in backends]),
            "FOLEY_CLIENT_MAX_BODY_SIZE": str(body_limit_bytes(max_file_bytes)),
            "FOLEY_ACCESS_LOG": str(access_log),
        },
        tls=tls,
    )
    process = subprocess.Popen(
        [*nginx_command(prefix), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port, process, prefix / "error.log", "nginx")
    return Nginx(prefix, port, process, access_log)


def wait_until_ready(api: Api) -> None:
    _wait_for_port(api.port, api.process, api.log, "foleyserve api")
    give_up = time.monotonic() + START_TIMEOUT_S
    while httpx.get(f"http://{api.address}/readyz", timeout=5.0).status_code != 200:
        assert time.monotonic() < give_up, api.log.read_text()
        time.sleep(0.05)


@dataclass
class Fleet:
    """nginx in front of two API servers sharing one Redis store and one storage folder."""

    nginx: Nginx
    apis: list[Api]
    objects: Path
    """The storage folder the API servers share."""
    keys: list[str] = field(default_factory=list)
    """Plaintext API keys, one per submission a test makes (so only per-address limits
    can refuse)."""

    def client(self, source_address: str) -> httpx.Client:
        """A client whose connections come from `source_address` (any 127.x.y.z)."""
        transport = httpx.HTTPTransport(local_address=source_address)
        return httpx.Client(base_url=self.nginx.url, transport=transport, timeout=60.0)

    def take_key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.pop()}"}
