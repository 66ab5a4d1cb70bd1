"""`fetch_video` against a real HTTP(S) server on loopback, and its address classifier.

The server is on 127.0.0.1, so the download tests use `OPEN` (http, private addresses, any
port); the refusal tests use the default policy, mostly with hosts refused before any socket
opens. The one fake is a resolver (`FakeDns`, a real `Resolver` with fixed answers), which lets
a made-up name like `video.test` lead to the server, and lets a test change the answer between
lookups the way a rebinding DNS server would.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foleyserve.api import fetch
from foleyserve.api.fetch import (
    FetchedFile,
    FetchPolicy,
    IPAddress,
    Resolver,
    fetch_video,
    is_public_address,
    system_resolve,
)
from foleyserve.errors import InvalidInput

pytestmark = pytest.mark.timeout(20)

OPEN = FetchPolicy(allow_http=True, allow_private=True, allowed_ports=None)
SMALL = bytes(range(256)) * 40  # 10,240 bytes
BIG_BYTES = 8 * 1024 * 1024
_CHUNK = b"v" * 65536
_STALL_S = 10.0  # how long stalling routes hold the connection: far past every deadline here


# -- the server -------------------------------------------------------------------------------
class VideoServer(ThreadingHTTPServer):
    """Serves the routes of `_Handler` on 127.0.0.1, over TLS when given a context, and keeps
    what it saw: each request's path and Host header, and each TLS client's SNI name."""

    daemon_threads = True
    block_on_close = False  # stalled handlers end at `stop`, not when the test's client gives up

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []
        self.sni_names: list[str | None] = []
        self.errors: list[BaseException | None] = []
        self.stop = threading.Event()
        if tls is not None:
            tls.sni_callback = self._record_sni
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def url(self, path: str, *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that refuses an answer may reset the connection while the handler waits for
        # its next request on the kept-alive connection: that is the client's right, not a
        # failure of this server.
        if not isinstance(error, ConnectionError):
            self.errors.append(error)

    def _record_sni(
        self, _sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext
    ) -> None:
        self.sni_names.append(name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VideoServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        path, _, query = self.path.partition("?")
        route, _, argument = path[1:].partition("/")
        params = {key: values[0] for key, values in parse_qs(query).items()}
        try:
            getattr(self, f"_{route.replace('-', '_')}", self._not_found)(argument, params)
        except OSError:  # the client hung up, as clients under test do
            self.close_connection = True

    def _reply(self, status: int, body: bytes = b"", *headers: tuple[str, str]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(404, b"no such route")

    def _small(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(200, SMALL, ("Content-Type", "video/mp4"))

    def _echo_host(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(200, (self.headers.get("Host") or "").encode())

    def _status(self, argument: str, _params: dict[str, str]) -> None:
        self._reply(int(argument), b"an error page")

    def _big(self, _argument: str, _params: dict[str, str]) -> None:
        """BIG_BYTES with a Content-Length, streamed."""
        self.send_response(200)
        self.send_header("Content-Length", str(BIG_BYTES))
        self.end_headers()
        for _ in range(BIG_BYTES // len(_CHUNK)):
            self.wfile.write(_CHUNK)

    def _endless(self, _argument: str, _params: dict[str, str]) -> None:
        """No Content-Length, and bytes until the client hangs up (or 1 GiB)."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(1024**3 // len(_CHUNK)):
            if self.server.stop.is_set():
                break
            self.wfile.write(_CHUNK)
        self.close_connection = True

    def _no_length(self, _argument: str, _params: dict[str, str]) -> None:
        """SMALL, delimited by closing the connection."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(SMALL)
        self.close_connection = True

    def _short(self, _argument: str, _params: dict[str, str]) -> None:
        """Promises 1,000,000 bytes, sends 1,000 and hangs up."""
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(SMALL[:1000])
        self.close_connection = True

    def _huge_claim(self, _argument: str, _params: dict[str, str]) -> None:
        """Claims a terabyte, then sends nothing: only refusing on the header ends this fast."""
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self.server.stop.wait(_STALL_S)

    def _silent(self, _argument: str, _params: dict[str, str]) -> None:
        """Not even a status line."""
        self.server.stop.wait(_STALL_S)

    def _stall(self, _argument: str, _params: dict[str, str]) -> None:
        """Headers, then silence."""
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.server.stop.wait(_STALL_S)

    def _slow(self, _argument: str, params: dict[str, str]) -> None:
        """`chunks` times 1,000 bytes, `delay_s` apart; with `stall`, a last chunk never comes."""
        chunks, delay_s = int(params["chunks"]), float(params["delay_s"])
        self.send_response(200)
        self.send_header("Content-Length", str((chunks + ("stall" in params)) * 1000))
        self.end_headers()
        for _ in range(chunks):
            self.wfile.write(SMALL[:1000])
            if self.server.stop.wait(delay_s):
                break
        if "stall" in params:
            self.server.stop.wait(_STALL_S)

    def _redirect(self, argument: str, _params: dict[str, str]) -> None:
        """A chain: /redirect/N leads to /redirect/N-1, /redirect/0 to /small."""
        left = int(argument)
        self._reply(302, b"", ("Location", f"/redirect/{left - 1}" if left else "/small"))

    def _loop(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(301, b"", ("Location", "/loop"))

    def _relative(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(307, b"", ("Location", "small"))

    def _to(self, _argument: str, params: dict[str, str]) -> None:
        self._reply(302, b"", ("Location", params["url"]))

    def _no_location(self, _argument: str, _params: dict[str, str]) -> None:
        self._reply(302)


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[VideoServer]:
    server = VideoServer(tls)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()
    assert server.errors == [], "the test server itself failed"


@pytest.fixture
def server() -> Iterator[VideoServer]:
    with serving() as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for the name video.test."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(
            "openssl is not installed; the TLS tests make their certificate with it. "
            "Install it (apt-get install openssl).",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    arguments = shlex.split(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=video.test -addext subjectAltName=DNS:video.test"
    )
    subprocess.run(
        [openssl, *arguments, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[VideoServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with serving(context) as running:
        yield running


class FakeDns:
    """A `Resolver` with fixed answers: the nth lookup gets the nth answer (the last one
    repeats). `lookups` lists the names asked for."""

    def __init__(self, *answers: list[str]) -> None:
        self._answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self._answers[min(len(self.lookups), len(self._answers)) - 1]


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host!r} should have been refused before it was looked up")


def fetched(url: str, folder: Path, policy: FetchPolicy = OPEN, **kwargs: Any) -> FetchedFile:
    """Fetch `url` to `folder`/video.mp4 and check that nothing else was left there."""
    result = fetch_video(url, folder / "video.mp4", policy=policy, **kwargs)
    assert sorted(path.name for path in folder.iterdir()) == ["video.mp4"]
    assert result.path.stat().st_size == result.size_bytes
    return result


def refused(
    url: str,
    folder: Path,
    policy: FetchPolicy = OPEN,
    *,
    resolve: Resolver = system_resolve,
    ssl_context: ssl.SSLContext | None = None,
) -> InvalidInput:
    """The error fetching `url` into `folder` raises, after checking that `folder` is as it
    was: no partial file, and an existing video.mp4 untouched."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / "video.mp4"
    dest.write_bytes(b"the previous video")
    with pytest.raises(InvalidInput) as caught:
        fetch_video(url, dest, policy=policy, resolve=resolve, ssl_context=ssl_context)
    assert [path.name for path in folder.iterdir()] == ["video.mp4"]
    assert dest.read_bytes() == b"the previous video"
    return caught.value


# -- downloads --------------------------------------------------------------------------------
def test_a_small_video_downloads(server: VideoServer, tmp_path: Path) -> None:
    result = fetched(server.url("/small"), tmp_path)
    assert result == FetchedFile(
        path=tmp_path / "video.mp4",
        size_bytes=len(SMALL),
        content_type="video/mp4",
        final_url=server.url("/small"),
    )
    assert result.path.read_bytes() == SMALL


def test_a_video_replaces_the_file_at_dest(server: VideoServer, tmp_path: Path) -> None:
    (tmp_path / "video.mp4").write_bytes(b"older")
    assert fetched(server.url("/small"), tmp_path).path.read_bytes() == SMALL


def test_a_body_without_content_length_downloads(server: VideoServer, tmp_path: Path) -> None:
    result = fetched(server.url("/no-length"), tmp_path)
    assert (result.size_bytes, result.content_type) == (len(SMALL), None)


def test_a_video_of_exactly_max_bytes_downloads(server: VideoServer, tmp_path: Path) -> None:
    policy = replace(OPEN, max_bytes=BIG_BYTES)
    assert fetched(server.url("/big"), tmp_path, policy).size_bytes == BIG_BYTES


def test_a_slow_server_within_the_deadline_is_fine(server: VideoServer, tmp_path: Path) -> None:
    result = fetched(server.url("/slow?chunks=4&delay_s=0.05"), tmp_path)
    assert result.size_bytes == 4000


def test_redirects_are_followed_up_to_the_limit(server: VideoServer, tmp_path: Path) -> None:
    result = fetched(server.url("/redirect/2"), tmp_path)  # 3 redirects: the default limit
    assert (result.final_url, result.path.read_bytes()) == (server.url("/small"), SMALL)
    assert server.paths == ["/redirect/2", "/redirect/1", "/redirect/0", "/small"]


def test_a_relative_redirect_is_resolved_against_its_url(
    server: VideoServer, tmp_path: Path
) -> None:
    assert fetched(server.url("/relative"), tmp_path).final_url == server.url("/small")


# -- refusals while downloading ---------------------------------------------------------------
def test_too_many_redirects_are_refused(server: VideoServer, tmp_path: Path) -> None:
    error = refused(server.url("/redirect/3"), tmp_path)
    assert error.code == "url_too_many_redirects"
    assert server.paths == ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]


def test_a_redirect_loop_ends(server: VideoServer, tmp_path: Path) -> None:
    policy = replace(OPEN, max_redirects=5)
    assert refused(server.url("/loop"), tmp_path, policy).code == "url_too_many_redirects"
    assert server.paths == ["/loop"] * 6


def test_no_redirects_allowed_means_none_followed(server: VideoServer, tmp_path: Path) -> None:
    policy = replace(OPEN, max_redirects=0)
    assert refused(server.url("/redirect/0"), tmp_path, policy).code == "url_too_many_redirects"
    assert fetched(server.url("/small"), tmp_path, policy).size_bytes == len(SMALL)


@pytest.mark.parametrize("status", [404, 500, 304])  # 304: a 3xx that is no redirect
def test_an_error_status_is_refused_with_its_number(
    server: VideoServer, tmp_path: Path, status: int
) -> None:
    error = refused(server.url(f"/status/{status}"), tmp_path)
    assert error.code == "url_http_error"
    assert f"HTTP {status}" in error.message


def test_a_redirect_without_location_is_an_http_error(server: VideoServer, tmp_path: Path) -> None:
    error = refused(server.url("/no-location"), tmp_path)
    assert error.code == "url_http_error"
    assert "Location" in error.message


def test_a_large_content_length_is_refused_before_the_body(
    server: VideoServer, tmp_path: Path
) -> None:
    policy = replace(OPEN, max_bytes=1024**2, total_timeout_s=5.0)
    started = time.monotonic()
    error = refused(server.url("/huge-claim"), tmp_path, policy)
    assert (error.code, time.monotonic() - started < 2.0) == ("url_too_large", True)
    assert "1,048,576 byte limit" in error.message


def test_a_body_over_max_bytes_is_refused(server: VideoServer, tmp_path: Path) -> None:
    policy = replace(OPEN, max_bytes=BIG_BYTES - 1)
    assert refused(server.url("/big"), tmp_path, policy).code == "url_too_large"


def test_an_endless_body_is_cut_off_at_max_bytes(server: VideoServer, tmp_path: Path) -> None:
    policy = replace(OPEN, max_bytes=1024**2)
    assert refused(server.url("/endless"), tmp_path, policy).code == "url_too_large"


def test_a_body_shorter_than_its_content_length_is_refused(
    server: VideoServer, tmp_path: Path
) -> None:
    error = refused(server.url("/short"), tmp_path)
    assert error.code == "url_unreachable"
    assert "before the whole video arrived" in error.message


@pytest.mark.parametrize(
    "path",
    ["/slow?chunks=100&delay_s=0.05", "/stall", "/silent", "/slow?chunks=4&delay_s=0.25&stall=1"],
    ids=["trickling-body", "stalled-body", "no-response", "stall-late-in-the-body"],
)
def test_the_total_timeout_covers_the_whole_download(
    server: VideoServer, tmp_path: Path, path: str
) -> None:
    """The last case stalls 0.75 s in: a read timeout of its own (1 s) would end at 1.75 s."""
    policy = replace(OPEN, total_timeout_s=1.0)
    started = time.monotonic()
    error = refused(server.url(path), tmp_path, policy)
    elapsed_s = time.monotonic() - started
    assert (error.code, 1.0 <= elapsed_s < 1.5) == ("url_timeout", True), elapsed_s
    assert "1 s limit" in error.message


def test_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused(f"http://127.0.0.1:{port}/small", tmp_path)
    assert error.code == "url_unreachable"


# -- pinning and TLS --------------------------------------------------------------------------
def test_the_connection_goes_to_the_checked_address(
    server: VideoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding DNS server answers the check with the test server and any later lookup with
    an address where nothing listens: the download must use the first answer, and nothing may
    look the name up again behind our back (the system resolver does not know video.test)."""
    dns = FakeDns(["127.0.0.1"], ["192.0.2.1"])
    system_lookups: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        system_lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    result = fetched(server.url("/echo-host", host="video.test"), tmp_path, resolve=dns)
    assert result.path.read_bytes() == f"video.test:{server.port}".encode()
    assert dns.lookups == ["video.test"]
    assert "video.test" not in system_lookups


def test_every_resolved_address_is_tried_in_order(server: VideoServer, tmp_path: Path) -> None:
    # Nothing listens on ::1 at the server's port (or IPv6 is off): the next address answers.
    dns = FakeDns(["::1", "127.0.0.1"])
    assert fetched(server.url("/small", host="video.test"), tmp_path, resolve=dns).size_bytes


def test_tls_is_checked_against_the_hostname_not_the_address(
    tls_server: VideoServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    dns = FakeDns(["127.0.0.1"])
    url = tls_server.url("/echo-host", host="video.test", scheme="https")
    result = fetched(url, tmp_path / "ok", resolve=dns, ssl_context=trusting)
    assert result.path.read_bytes() == f"video.test:{tls_server.port}".encode()
    assert tls_server.sni_names == ["video.test"]

    other = tls_server.url("/small", host="other.test", scheme="https")
    error = refused(other, tmp_path / "other", resolve=dns, ssl_context=trusting)
    assert error.code == "url_unreachable"
    assert "certificate" in error.message
    assert tls_server.paths == ["/echo-host"]


def test_an_untrusted_certificate_is_refused(tls_server: VideoServer, tmp_path: Path) -> None:
    url = tls_server.url("/small", host="video.test", scheme="https")
    error = refused(url, tmp_path, resolve=FakeDns(["127.0.0.1"]))
    assert (error.code, tls_server.paths) == ("url_unreachable", [])


# -- refusals before any connection -----------------------------------------------------------
_ONLY_THE_HOST = re.compile(
    r"the video URL points to '[^']+', which is not a public internet host; "
    r"give the URL of a publicly reachable server"
)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "//example.com/video.mp4",
        "https://",
        "https:///video.mp4",
        "https://exa mple.com/video.mp4",
        "https://user:secret@example.com/video.mp4",
        "https://user@example.com/video.mp4",
        "https://example.com\\@169.254.169.254/",
        "https://[::1",
        "https://[fe80::1%25eth0]/",
        "https://-example.com/",
        "https://example.com:99999/",
        "https://example.com:0/",
        "https://example.com/\r\nX-Injected: yes",
        "https://example.com/" + "a" * 2030,
    ],
)
def test_unusable_urls_are_invalid(url: str, tmp_path: Path) -> None:
    error = refused(url, tmp_path, FetchPolicy(), resolve=no_dns)
    assert error.code == "invalid_url"
    assert "give a URL such as https://" in error.message


def test_the_longest_url_allowed_is_2048_characters(tmp_path: Path) -> None:
    url = "https://127.0.0.1/"
    assert refused(url + "a" * (2048 - len(url)), tmp_path, FetchPolicy()).code == (
        "url_host_not_allowed"
    )


@pytest.mark.parametrize(
    "url", ["http://example.com/video.mp4", "ftp://example.com/video.mp4", "file:///etc/passwd"]
)
def test_schemes_other_than_https_are_refused_by_default(url: str, tmp_path: Path) -> None:
    error = refused(url, tmp_path, FetchPolicy(), resolve=no_dns)
    assert error.code == "url_scheme_not_allowed"
    assert "give an https URL" in error.message


@pytest.mark.parametrize("url", ["https://example.com:8443/v.mp4", "https://example.com:22/"])
def test_ports_outside_the_allowed_set_are_refused(url: str, tmp_path: Path) -> None:
    error = refused(url, tmp_path, FetchPolicy(), resolve=no_dns)
    assert error.code == "url_port_not_allowed"
    assert "80, 443" in error.message


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "[::1]",
        "0.0.0.0",
        "[::]",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # CGNAT
        "169.254.169.254",  # cloud metadata, link-local
        "[fe80::1]",
        "[fd12:3456::1]",  # IPv6 unique local
        "[fd00:ec2::254]",  # AWS metadata over IPv6
        "224.0.0.1",
        "[ff02::1]",
        "240.0.0.1",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:10.0.0.1]",
        "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 around 169.254.169.254
        "localhost",  # a name: refused after resolving
        "2130706433",  # 127.0.0.1, written as one number
        "0x7f.1",
        "metadata.google.internal",  # refused before resolving
        "METADATA.Google.Internal.",
    ],
)
def test_non_public_hosts_are_refused(host: str, tmp_path: Path) -> None:
    error = refused(f"https://{host}/video.mp4", tmp_path, FetchPolicy())
    assert error.code == "url_host_not_allowed"
    assert _ONLY_THE_HOST.fullmatch(error.message), error.message  # no address, no reason


def test_one_private_address_among_public_ones_refuses_the_host(tmp_path: Path) -> None:
    dns = FakeDns(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.0.0.7"])
    error = refused("https://video.example/v.mp4", tmp_path, FetchPolicy(), resolve=dns)
    assert error.code == "url_host_not_allowed"
    assert _ONLY_THE_HOST.fullmatch(error.message), error.message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_cloud_metadata_is_refused_even_when_private_addresses_are_allowed(
    url: str, tmp_path: Path
) -> None:
    assert refused(url, tmp_path, OPEN, resolve=no_dns).code == "url_host_not_allowed"


def test_a_name_resolving_to_metadata_is_refused_when_private_is_allowed(tmp_path: Path) -> None:
    dns = FakeDns(["169.254.169.254"])
    assert refused("http://innocent.test/", tmp_path, resolve=dns).code == "url_host_not_allowed"


@pytest.mark.parametrize(
    "answer",
    [socket.gaierror(socket.EAI_NONAME, "Name or service not known"), [], ["not-an-address"]],
    ids=["gaierror", "no-addresses", "garbage"],
)
def test_a_name_that_does_not_resolve_is_refused(answer: object, tmp_path: Path) -> None:
    def resolve(host: str, port: int) -> list[str]:
        if isinstance(answer, OSError):
            raise answer
        assert isinstance(answer, list)
        return answer

    error = refused("https://no-such-host.test/v.mp4", tmp_path, FetchPolicy(), resolve=resolve)
    assert error.code == "url_unresolvable"
    assert "'no-such-host.test'" in error.message


# -- every redirect is checked again ----------------------------------------------------------
def test_a_redirect_to_a_private_address_is_refused(
    server: VideoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server is itself on loopback, so the address check passes the first hop's one
    address (and only that): the redirect's target must then be refused by the real check."""
    checked: list[IPAddress] = []

    def first_address_passes(address: IPAddress) -> bool:
        checked.append(address)
        return len(checked) == 1 or is_public_address(address)

    monkeypatch.setattr(fetch, "is_public_address", first_address_passes)
    policy = FetchPolicy(allow_http=True, allowed_ports=None)  # allow_private=False
    target = server.url("/small", host="localhost")
    error = refused(server.url(f"/to?url={quote(target)}"), tmp_path, policy)
    assert error.code == "url_host_not_allowed"
    assert "the video URL's redirect 1 points to 'localhost'" in error.message
    assert server.paths == [f"/to?url={quote(target)}"]
    assert len(checked) >= 2


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("ftp://127.0.0.1/video.mp4", "url_scheme_not_allowed"),
        ("http://127.0.0.1:1/video.mp4", "url_port_not_allowed"),
        ("http://user:pw@127.0.0.1/video.mp4", "invalid_url"),
        ("http://169.254.169.254/latest/meta-data/", "url_host_not_allowed"),
    ],
)
def test_a_redirect_is_checked_like_the_first_url(
    server: VideoServer, tmp_path: Path, target: str, code: str
) -> None:
    policy = replace(OPEN, allowed_ports=frozenset({server.port, 80}))
    error = refused(server.url(f"/to?url={quote(target)}"), tmp_path, policy)
    assert error.code == code
    assert "redirect 1" in error.message


# -- the policy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field",
    [
        {"max_bytes": 0},
        {"max_redirects": -1},
        {"connect_timeout_s": 0.0},
        {"total_timeout_s": float("inf")},
        {"total_timeout_s": float("nan")},
    ],
)
def test_a_policy_without_limits_is_a_bug(field: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        FetchPolicy(**field)


# -- the address classifier -------------------------------------------------------------------
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SPECIAL_V4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
               "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15",
               "224.0.0.0/4", "240.0.0.0/4"]  # fmt: skip
_SPECIAL_V6 = ["::/120", "::ffff:0:0/96", "64:ff9b::/96", "2001::/32", "2002::/16", "fc00::/7",
               "fe80::/10", "ff00::/8"]  # fmt: skip

ipv4s = st.one_of(
    st.ip_addresses(v=4),
    st.sampled_from(_SPECIAL_V4).flatmap(lambda net: st.ip_addresses(network=net)),
)
ipv6s = st.one_of(
    st.ip_addresses(v=6),
    st.sampled_from(_SPECIAL_V6).flatmap(lambda net: st.ip_addresses(network=net)),
)


def _special(address: IPAddress) -> bool:
    """The brief's list, straight from `ipaddress`."""
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT)
    )


def _wrappings(ipv4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    """`ipv4` inside IPv6 addresses that translators deliver to it, built by hand."""
    teredo_server = ipaddress.IPv4Address("65.54.227.120")
    return [
        ipaddress.IPv6Address(0xFFFF << 32 | int(ipv4)),  # IPv4-mapped
        ipaddress.IPv6Address(0x2002 << 112 | int(ipv4) << 80),  # 6to4
        ipaddress.IPv6Address(int(_NAT64.network_address) | int(ipv4)),  # NAT64
        ipaddress.IPv6Address(  # Teredo keeps the client address inverted
            0x20010000 << 96 | int(teredo_server) << 64 | (int(ipv4) ^ 0xFFFFFFFF)
        ),
    ]


@given(ipv4s)
def test_an_ipv4_address_is_public_unless_ipaddress_says_otherwise(
    address: ipaddress.IPv4Address,
) -> None:
    assert is_public_address(address) == (not _special(address))
    if is_public_address(address):
        assert address.is_global


@given(ipv6s)
def test_an_ipv6_address_is_public_unless_it_or_an_ipv4_inside_is_special(
    address: ipaddress.IPv6Address,
) -> None:
    inside = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        inside.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    expected = not _special(address) and not any(_special(v4) for v4 in inside if v4)
    assert is_public_address(address) == expected
    if is_public_address(address):
        assert address.is_global


@given(ipv4s)
def test_an_ipv4_address_wrapped_in_ipv6_is_no_more_public(
    address: ipaddress.IPv4Address,
) -> None:
    for wrapped in _wrappings(address):
        assert not is_public_address(wrapped) or is_public_address(address), wrapped


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("100.63.255.255", True),
        ("100.64.0.0", False),
        ("100.127.255.255", False),
        ("100.128.0.0", True),
        ("2002:c0a8:101::", False),  # 6to4 around 192.168.1.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 around 169.254.169.254
    ],
)
def test_examples_of_the_classifier(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
