"""A job whose video is fetched from a URL, end to end: a real HTTP server on loopback (let
through by the test-only settings), the pinned download, the worker, the result."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobState
from foleyserve.media.audio import decode_audio
from foleyserve.media.probe import probe

from .test_app import ApiRig, clip, engine, error_code, open_rig

__all__ = ["clip", "engine"]  # fixtures


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(clip: Path) -> Iterator[str]:
    """The clip's folder served over http on a free loopback port; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(clip.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def fetching(tmp_path: Path, engine: ProceduralEngine, site: str) -> Iterator[ApiRig]:
    port = int(site.rsplit(":", 1)[1])
    yield from open_rig(
        tmp_path,
        engine,
        fetch_allow_http=True,
        fetch_allow_private=True,
        fetch_allowed_ports=frozenset({port}),
    )


def test_a_video_url_is_fetched_run_and_its_result_downloads(
    fetching: ApiRig, site: str, clip: Path
) -> None:
    body = {"prompt": "a ball bouncing", "output_format": "wav", "video_url": f"{site}/{clip.name}"}
    submitted = fetching.client.post("/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["params"]["has_video"] is True
    assert job["params"]["duration_s"] == pytest.approx(probe(clip).duration_s, abs=1e-3)
    fetching.drain()
    assert fetching.client.get(job["links"]["self"]).json()["state"] == "succeeded"
    result = fetching.client.get(job["links"]["result"])
    assert result.status_code == 200
    local = fetching.settings.data_dir / "fetched.wav"
    local.write_bytes(result.content)
    assert decode_audio(local).duration_s == pytest.approx(probe(clip).duration_s, abs=1e-3)


def test_a_missing_or_unallowed_url_is_refused_and_nothing_queued(
    fetching: ApiRig, site: str
) -> None:
    missing = fetching.client.post(
        "/v1/jobs", json={"prompt": "x", "video_url": f"{site}/nothing.mp4"}
    )
    assert missing.status_code == 422 and error_code(missing) == "url_http_error"
    other_port = fetching.client.post(
        "/v1/jobs", json={"prompt": "x", "video_url": "http://127.0.0.1:9/ball.mp4"}
    )
    assert error_code(other_port) == "url_port_not_allowed"
    assert fetching.store.counts()[JobState.QUEUED] == 0
