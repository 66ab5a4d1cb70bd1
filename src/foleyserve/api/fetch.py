"""`fetch_video`: download a video from a URL a user gave us, without letting the URL reach
inside our network.

A user's URL is a server-side request forgery risk: `http://169.254.169.254/` would hand us
(and, through the job's result, the user) the cloud's credentials, and `http://10.0.0.5:6379/`
would talk to our Redis. So every hop of a download goes through the same gate:

1. The URL is parsed (httpx's parser) and checked: http(s) only, a host, no user name or
   password, an allowed port, at most `MAX_URL_CHARS` characters.
2. The host is resolved once (`resolve`, `socket.getaddrinfo` by default) and every address it
   resolves to is checked by `is_public_address`; one non-public address refuses the whole host,
   since we cannot know which one a connection would pick. Cloud metadata hosts and addresses
   are refused even when `allow_private` is on.
3. The connection goes to the checked addresses and nowhere else. Resolving again to connect
   would let a DNS server answer a public address to the check and 127.0.0.1 to the connect a
   moment later (DNS rebinding), so the hop's httpcore pool gets `PinnedBackend` as its network
   backend: its `connect_tcp`, the only place a socket is opened, ignores names and dials the
   checked addresses. The request URL keeps the user's hostname, so the Host header, the TLS
   SNI and the certificate check all use that name, exactly as for an unpinned request.
4. Redirects are followed by hand, at most `max_redirects`, and each target goes through 1-3.

Limits: `max_bytes` is checked against Content-Length before the body is read and again as it
streams (counting bytes as sent: we ask for `identity` and never decompress). `total_timeout_s`
is one monotonic deadline for all hops: `_DeadlineStream` clamps every socket connect, read and
write to the time left, and the body loop checks it per chunk, so a server that trickles bytes
cannot stretch the download. (Name lookups are bounded only by the system resolver's own
timeouts: `getaddrinfo` takes none.) The body streams into a temporary file beside `dest`,
renamed onto it only when complete; a failed download leaves no file. Proxy environment
variables are ignored: the pinned connection is the whole point.

Every refusal is `InvalidInput` with one of these codes:

    invalid_url               not a URL we can use: garbage, no host, user info, bad port number
    url_scheme_not_allowed    not https (or http when `allow_http`)
    url_port_not_allowed      port outside `allowed_ports`
    url_host_not_allowed      the host resolves to a non-public or cloud metadata address
    url_unresolvable          the host name does not resolve
    url_unreachable           connecting failed, TLS failed, or the connection broke mid-download
    url_timeout               connecting took over `connect_timeout_s` or all of it over
                              `total_timeout_s`
    url_too_many_redirects    more than `max_redirects` redirects
    url_http_error            the server answered a status outside 2xx (redirects aside)
    url_too_large             the video is over `max_bytes`

Errors writing `dest` itself (our disk, not the user's URL) propagate as `OSError`.
"""

from __future__ import annotations

import http
import ipaddress
import math
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpcore
import httpx

from foleyserve.errors import InvalidInput
from foleyserve.storage.atomic import write_atomically

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""`resolve(host, port)`: the addresses (as text) that `host` resolves to, for a TCP connection
to `port`. Raises `OSError` (such as `socket.gaierror`) when the name does not resolve."""

MAX_URL_CHARS = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HOSTNAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
    }
)
_HEADERS = [
    (b"User-Agent", b"foleyserve"),
    (b"Accept", b"*/*"),
    (b"Accept-Encoding", b"identity"),  # bytes on the wire are bytes on disk: no zip bombs
]


@dataclass(frozen=True)
class FetchPolicy:
    """What `fetch_video` may do. The defaults are for untrusted users on a cloud host."""

    allow_http: bool = False  # plain http too; https only when False
    allow_private: bool = False  # non-public addresses too (tests, on-premises); never metadata
    max_bytes: int = 2 * 1024**3  # the largest video accepted, in bytes as sent
    connect_timeout_s: float = 10.0  # per connection attempt
    total_timeout_s: float = 300.0  # the whole download, every hop and byte, not per read
    max_redirects: int = 3  # redirects followed; each target is checked like the first URL
    allowed_ports: frozenset[int] | None = frozenset({80, 443})  # None: any port

    def __post_init__(self) -> None:
        # A bad policy is our bug, not the user's: ValueError, at start.
        if self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError(f"max_bytes must be > 0 and max_redirects >= 0, not {self}")
        for timeout_s in (self.connect_timeout_s, self.total_timeout_s):
            if not (timeout_s > 0 and math.isfinite(timeout_s)):
                raise ValueError(f"timeouts must be positive and finite, not {self}")


@dataclass(frozen=True)
class FetchedFile:
    """A downloaded video: where it is, its size, its declared type and the URL that served it."""

    path: Path
    size_bytes: int
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class Hop:
    """One request's target, checked: connect only to `addresses`."""

    url: httpx.URL
    label: str  # how messages name it: "the video URL" or "the video URL's redirect 2"
    host: str  # as the user wrote it (Unicode), for messages
    port: int
    addresses: tuple[IPAddress, ...]


def system_resolve(host: str, port: int) -> list[str]:
    """The default `Resolver`: `socket.getaddrinfo`, duplicates dropped, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def fetch_video(
    url: str,
    dest: Path,
    *,
    policy: FetchPolicy,
    resolve: Resolver = system_resolve,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedFile:
    """Download `url` to `dest` (replacing it) under `policy`, or raise `InvalidInput` and leave
    `dest` as it was. `resolve` looks host names up (called once per hop; the connection goes
    to the addresses it returned). `ssl_context` defaults to httpcore's (certifi's CAs)."""
    deadline = time.monotonic() + policy.total_timeout_s
    target = url
    for hop_number in range(policy.max_redirects + 1):
        label = "the video URL" if hop_number == 0 else f"the video URL's redirect {hop_number}"
        hop = check_hop(target, label, policy, resolve)
        result = _get(hop, dest, policy, deadline, ssl_context)
        if isinstance(result, FetchedFile):
            return result
        target = result
    raise InvalidInput(
        f"the video URL redirects more than {policy.max_redirects} times (or in a loop); "
        "give the URL the video is finally served from",
        code="url_too_many_redirects",
    )


# -- checking a hop ---------------------------------------------------------------------------
def is_public_address(address: IPAddress) -> bool:
    """True when `address` is a unicast address on the public internet: not private, loopback,
    link-local, multicast, reserved, unspecified or shared (CGNAT, 100.64.0.0/10), and no IPv4
    address embedded in it (IPv4-mapped, 6to4, Teredo, NAT64) is any of those either."""
    if _is_special(address):
        return False
    return not any(_is_special(embedded) for embedded in _embedded_ipv4(address))


def _is_special(address: IPAddress) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _CGNAT
    )


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to `address` may end up at, by way of a translator."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ipv4 for ipv4 in embedded if ipv4 is not None]


def _is_metadata(address: IPAddress) -> bool:
    return address in _METADATA_ADDRESSES or any(
        embedded in _METADATA_ADDRESSES for embedded in _embedded_ipv4(address)
    )


def check_hop(text: str, label: str, policy: FetchPolicy, resolve: Resolver) -> Hop:
    """`text` parsed and checked (steps 1 and 2 above), its host resolved once: connect only
    to the hop's `addresses`. `label` names the URL in refusals ("the webhook URL")."""
    url, port = _parse(text, label, policy)
    host = url.raw_host.decode("ascii")  # IDNA-encoded, what DNS and TLS see
    if host.lower().rstrip(".") in _METADATA_HOSTS:
        raise _host_not_allowed(url.host, label)
    try:
        addresses: tuple[IPAddress, ...] = (ipaddress.ip_address(host),)
    except ValueError:
        addresses = _resolve(host, port, url.host, label, resolve)
    for address in addresses:
        if _is_metadata(address) or not (policy.allow_private or is_public_address(address)):
            raise _host_not_allowed(url.host, label)
    return Hop(url=url, label=label, host=url.host, port=port, addresses=addresses)


def _parse(text: str, label: str, policy: FetchPolicy) -> tuple[httpx.URL, int]:
    """The URL and its port, or `InvalidInput` saying what is wrong with it."""
    if len(text) > MAX_URL_CHARS:
        raise _invalid(label, f"is {len(text)} characters long; the limit is {MAX_URL_CHARS}")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise _invalid(label, f"cannot be parsed ({exc})") from exc
    allowed = ("http", "https") if policy.allow_http else ("https",)
    if url.scheme not in allowed:
        if not url.scheme:
            raise _invalid(label, "is not an absolute URL such as https://example.com/video.mp4")
        raise InvalidInput(
            f"{label} uses {url.scheme}:, which is not allowed; give an {' or '.join(allowed)} URL",
            code="url_scheme_not_allowed",
        )
    if url.userinfo:
        raise _invalid(label, "contains a user name or password; remove them (and the @)")
    if not url.host:
        raise _invalid(label, "has no host")
    if not _is_valid_host(url.raw_host.decode("ascii")):
        raise _invalid(label, f"has an invalid host {url.host!r}")
    port = url.port if url.port is not None else _DEFAULT_PORTS[url.scheme]
    if not 0 < port < 65536:
        raise _invalid(label, f"has an invalid port {port}")
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        ports = ", ".join(str(p) for p in sorted(policy.allowed_ports))
        raise InvalidInput(
            f"{label} uses port {port}; only ports {ports} are allowed",
            code="url_port_not_allowed",
        )
    return url, port


def _is_valid_host(host: str) -> bool:
    if ":" in host:  # httpx takes an IPv6 literal's brackets off
        try:
            ipaddress.IPv6Address(host)  # a zone (fe80::1%eth0) is no use to a remote user
        except ValueError:
            return False
        return "%" not in host
    return len(host) <= 254 and _HOSTNAME.fullmatch(host.lower()) is not None


def _resolve(
    host: str, port: int, display: str, label: str, resolve: Resolver
) -> tuple[IPAddress, ...]:
    try:
        addresses = tuple(ipaddress.ip_address(answer) for answer in resolve(host, port))
    except (OSError, ValueError) as exc:  # ValueError: IDNA trouble, or an answer not an IP
        raise _unresolvable(display, label) from exc
    if not addresses:
        raise _unresolvable(display, label)
    return addresses


# -- one request ------------------------------------------------------------------------------
def _get(
    hop: Hop,
    dest: Path,
    policy: FetchPolicy,
    deadline: float,
    ssl_context: ssl.SSLContext | None,
) -> FetchedFile | str:
    """GET `hop`: the downloaded file, or the URL it redirects to."""
    with _opened(hop, policy, deadline, ssl_context) as response:
        if response.status in _REDIRECT_STATUSES:
            location = _header(response, b"location")
            if location is None:
                raise _http_error(hop, response.status, " without saying where to (no Location)")
            try:
                return str(hop.url.join(location))
            except httpx.InvalidURL as exc:
                raise _invalid(hop.label, "redirects to a URL that cannot be parsed") from exc
        if not 200 <= response.status < 300:
            raise _http_error(hop, response.status, "")
        declared = _header(response, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
            raise _too_large(hop, policy)
        size_bytes = write_atomically(
            dest, lambda out: _stream_body(response, out, hop, policy, deadline)
        )
        return FetchedFile(
            path=dest,
            size_bytes=size_bytes,
            content_type=_header(response, b"content-type"),
            final_url=str(hop.url),
        )


@contextmanager
def _opened(
    hop: Hop, policy: FetchPolicy, deadline: float, ssl_context: ssl.SSLContext | None
) -> Iterator[httpcore.Response]:
    """The response to GET `hop`, its body unread, over a connection pinned to the hop's
    addresses. httpcore's errors, in the body's reading too, become `InvalidInput`."""
    # Per-operation timeouts; `_DeadlineStream` shortens each to what is left of `deadline`.
    timeouts = {
        "connect": policy.connect_timeout_s,
        "read": policy.total_timeout_s,
        "write": policy.total_timeout_s,
        "pool": policy.total_timeout_s,
    }
    headers = [(b"Host", hop.url.netloc), *_HEADERS]
    backend = PinnedBackend(hop, deadline)
    try:
        with (
            httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend) as pool,
            pool.stream(
                "GET", core_url(hop.url), headers=headers, extensions={"timeout": timeouts}
            ) as response,
        ):
            yield response
    except httpcore.TimeoutException as exc:
        connecting = isinstance(exc, httpcore.ConnectTimeout) and time.monotonic() < deadline
        raise InvalidInput(
            f"could not connect to {hop.host!r} within {policy.connect_timeout_s:g} s; "
            "check that the server is up, or try again later"
            if connecting
            else f"downloading the video from {hop.host!r} took longer than the "
            f"{policy.total_timeout_s:g} s limit; give a faster server or a smaller video",
            code="url_timeout",
        ) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise _unreachable(hop, exc) from exc


def core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


def _stream_body(
    response: httpcore.Response, out: BinaryIO, hop: Hop, policy: FetchPolicy, deadline: float
) -> int:
    size_bytes = 0
    for chunk in response.iter_stream():
        size_bytes += len(chunk)
        if size_bytes > policy.max_bytes:
            raise _too_large(hop, policy)
        if time.monotonic() >= deadline:  # reported like any other timeout, by `_opened`
            raise httpcore.ReadTimeout("the download's deadline passed")
        out.write(chunk)
    return size_bytes


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


# -- pinning ----------------------------------------------------------------------------------
class PinnedBackend(httpcore.NetworkBackend):
    """Connects to one hop's checked addresses, whatever name httpcore asks for, so no second
    DNS answer can redirect the connection. Every stream it makes keeps the hop's deadline."""

    def __init__(self, hop: Hop, deadline: float) -> None:
        self._hop = hop
        self._deadline = deadline
        self._system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host != self._hop.url.raw_host.decode("ascii") or port != self._hop.port:
            raise httpcore.ConnectError(f"{host}:{port} is not the checked origin")  # a bug
        refused: httpcore.ConnectError | None = None
        for address in self._hop.addresses:  # like socket.create_connection, first that answers
            try:
                stream = self._system.connect_tcp(
                    str(address),
                    port,
                    timeout=_time_left(timeout, self._deadline, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                refused = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert refused is not None  # a hop has at least one address
        raise refused

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a user's URL never leads to a Unix socket")


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every operation ends by the deadline, however slowly the peer sends."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(
            max_bytes, _time_left(timeout, self._deadline, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, self._deadline, httpcore.ConnectTimeout)
        tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _time_left(
    timeout: float | None, deadline: float, expired: type[httpcore.TimeoutException]
) -> float:
    left_s = deadline - time.monotonic()
    if left_s <= 0:
        raise expired("the download's deadline passed")
    return left_s if timeout is None else min(timeout, left_s)


# -- refusals ---------------------------------------------------------------------------------
def _invalid(label: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"{label} {problem}; give a URL such as https://example.com/video.mp4", code="invalid_url"
    )


def _host_not_allowed(host: str, label: str) -> InvalidInput:
    # Which address, and why, stays in our logs: telling users maps our network for them.
    return InvalidInput(
        f"{label} points to {host!r}, which is not a public internet host; give the URL of a "
        "publicly reachable server",
        code="url_host_not_allowed",
    )


def _unresolvable(host: str, label: str) -> InvalidInput:
    return InvalidInput(
        f"the host {host!r} of {label} does not resolve; check the URL for typos",
        code="url_unresolvable",
    )


def _unreachable(hop: Hop, exc: Exception) -> InvalidInput:
    # httpcore keeps the original error as its argument (its pool drops `__cause__`).
    tls = next((arg for arg in exc.args if isinstance(arg, ssl.SSLError)), None)
    if isinstance(tls, ssl.SSLCertVerificationError):
        problem = f"its TLS certificate could not be verified ({tls.verify_message})"
    elif tls is not None:
        problem = f"the TLS handshake failed ({tls.reason})"
    elif isinstance(exc, httpcore.ConnectError):
        problem = f"the connection failed ({exc})"
    else:
        problem = f"the connection broke before the whole video arrived ({exc})"
    return InvalidInput(
        f"could not download from {hop.host!r} ({hop.label}): {problem}; check that the URL "
        "works in a browser, or try again later",
        code="url_unreachable",
    )


def _http_error(hop: Hop, status: int, detail: str) -> InvalidInput:
    try:
        phrase = f" {http.HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    return InvalidInput(
        f"the server at {hop.host!r} answered HTTP {status}{phrase}{detail} for {hop.label}; "
        "check that the URL is right and that the video downloads without logging in",
        code="url_http_error",
    )


def _too_large(hop: Hop, policy: FetchPolicy) -> InvalidInput:
    return InvalidInput(
        f"the video at {hop.host!r} is larger than the {policy.max_bytes:,} byte limit; "
        "give a shorter or more compressed video",
        code="url_too_large",
    )
