"""The client address behind proxies: X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from foleyserve.api.client_ip import UNKNOWN, client_address, parse_hop, parse_networks
from foleyserve.api.ratelimit import MemoryRateLimiter
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.settings import Settings
from tests.api.test_app import TEXT_JOB, ApiRig, error_code, open_rig

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),
        ("192.0.2.1", [], "192.0.2.1"),
        # A trusted proxy's word is taken for the hop it added, and no further.
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.7"], "203.0.113.7"),
        # Proxies in a chain are skipped while they are trusted.
        ("10.0.0.2", ["203.0.113.7, 10.9.9.9"], "203.0.113.7"),
        ("10.0.0.2", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
        # A trusted proxy that sent no header is the client itself.
        ("10.0.0.2", [], "10.0.0.2"),
        # Garbage stops the walk at the last address known to be good.
        ("10.0.0.2", ["203.0.113.7, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.7, 10.3.3.3, "], "10.0.0.2"),
        ("10.0.0.2", ["garbage, 10.3.3.3"], "10.3.3.3"),
        # Ports and IPv6 forms.
        ("10.0.0.2", ["203.0.113.7:5123"], "203.0.113.7"),
        ("2001:db8::5", ["[2001:db8:1::9]:443, 2a00::1"], "2a00::1"),
        ("::ffff:10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        # Peers that are not IP addresses are never proxies.
        ("testclient", ["203.0.113.7"], "testclient"),
        (None, ["203.0.113.7"], UNKNOWN),
    ],
)
def test_client_address(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == expected


def test_nothing_trusted_means_the_peer() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) == "127.0.0.1"


@pytest.mark.parametrize("hop", ["", "unknown", "1.2.3", "[::1", "[::1]x", "1.2.3.4:x", "_hidden"])
def test_hops_that_are_not_addresses(hop: str) -> None:
    assert parse_hop(hop) is None


def test_trusted_proxies_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLEYSERVE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,fd00::/8")
    assert Settings().trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32", "fd00::/8")
    monkeypatch.setenv("FOLEYSERVE_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == ()


@pytest.mark.parametrize("bad", ["nginx", "10.0.0.1/8", "10.0.0.0/33", "*"])
def test_bad_trusted_proxies_are_refused_at_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="trusted proxy"):
        Settings(trusted_proxies=bad)  # type: ignore[arg-type]


def _submit(rig: ApiRig, client: TestClient, forwarded_for: str, seed: int) -> int:
    response = client.post(
        "/v1/jobs",
        json=TEXT_JOB | {"seed": seed},
        headers=rig.key_for(f"tenant{seed}") | {"X-Forwarded-For": forwarded_for},
    )
    if response.status_code == 429:
        assert error_code(response) == "rate_limited"
        assert "client address" in response.json()["error"]["message"]
    return response.status_code


def test_rate_limit_keys_on_the_address_a_trusted_proxy_reports(tmp_path: Path) -> None:
    """Every submission has its own API key, so only the per-address limit can refuse."""
    frozen = MemoryRateLimiter(clock=lambda: 1000.0)
    engine = ProceduralEngine(embedder=None)
    for rig in open_rig(
        tmp_path,
        engine,
        limiter=frozen,
        rate_limit_per_s=0.01,
        rate_limit_burst=2.0,
        trusted_proxies=("10.0.0.0/8",),
    ):
        app = rig.client.app
        with TestClient(app, client=("10.0.0.2", 40000)) as proxied:
            statuses = [_submit(rig, proxied, "203.0.113.7", seed) for seed in range(3)]
            assert statuses == [202, 202, 429]
            # Prepending a made-up address does not make a new client...
            assert _submit(rig, proxied, "198.51.100.1, 203.0.113.7", 3) == 429
            # ...but another client behind the same proxy has its own limit.
            assert _submit(rig, proxied, "198.51.100.9", 4) == 202
        with TestClient(app, client=("192.0.2.50", 40000)) as direct:
            # Not a trusted proxy: its header is ignored, even when it changes every time.
            statuses = [_submit(rig, direct, f"198.51.100.{20 + i}", 10 + i) for i in range(3)]
            assert statuses == [202, 202, 429]
