"""Which address a request comes from, for per-address rate limits.

Behind a proxy (nginx, a cloud load balancer) every request's TCP peer is the proxy, so the
client's own address has to come from `X-Forwarded-For`, which each proxy extends with the
address of its own peer: `client, proxy1, proxy2`. Anyone can send that header, so only hops
added by proxies we trust are believed:

- peer not in `trusted`: the peer, whatever the header says (a client cannot spoof itself
  another address by sending the header directly);
- peer trusted: walk the header from the right while the hop we stand on is trusted; the first
  untrusted hop is the client (the right-most untrusted hop). What lies left of it was written
  by the client or by proxies we do not know, and is ignored.
- a hop that is not an IP address (`unknown`, garbage) stops the walk at the trusted hop to its
  right: the best address we know.

This is the rule of uvicorn's `--forwarded-allow-ips`, but uvicorn trusts 127.0.0.1 by default
and accepts malformed entries silently, so the API runs uvicorn with its proxy headers off and
applies this rule itself, from `Settings.trusted_proxies` (empty by default: trust nobody).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
"""The address of a request without a peer (ASGI servers that do not report one)."""


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`10.0.0.0/8`, `127.0.0.1`, `fd00::/8` -> networks (a bare address is a /32 or /128).

    Raises `ValueError` naming the entry for anything else, host bits set included
    (`10.0.0.1/8` is refused rather than widened silently)."""
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text))
        except ValueError as exc:
            raise ValueError(
                f"trusted proxy {text!r} is not an IP address or network (CIDR): {exc}"
            ) from exc
    return tuple(networks)


def parse_hop(hop: str) -> IPAddress | None:
    """One `X-Forwarded-For` entry -> its address, or None if it is not one. Accepts
    `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:5678`; an IPv4-mapped IPv6
    address counts as its IPv4 address."""
    text = hop.strip()
    port = ""
    if text.startswith("["):
        text, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else "0"
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address as a string, by the rule in the module docstring.

    `peer` is the TCP peer's host (None: unknown); `forwarded_for` holds every
    `X-Forwarded-For` header's value, in the order received (several headers count as one
    list, joined by commas)."""
    if peer is None:
        return UNKNOWN
    current = parse_hop(peer)
    if current is None:
        return peer  # a Unix socket or similar: not an IP, so never a trusted proxy
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        if not is_trusted(current, trusted):
            break
        address = parse_hop(hop)
        if address is None:
            break
        current = address
    return str(current)
