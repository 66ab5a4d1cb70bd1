"""What the submit page says when the API refuses: a file that is not a video (422), one over
the size limit (413), and the rate limit (429), each from the `{"error": ...}` body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import FilePayload, Page, expect

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobState
from tests.web.conftest import WebServer, serve_app

MAX_FILE_BYTES = 100_000
"""Above the test clip (about 20 kB)."""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, engine: ProceduralEngine) -> Iterator[WebServer]:
    yield from serve_app(
        tmp_path_factory.mktemp("web-errors"),
        engine,
        max_file_bytes=MAX_FILE_BYTES,
        rate_limit_burst=1.0,
        rate_limit_per_s=0.001,  # one submission, then a refusal for the rest of the test
    )


@pytest.fixture(autouse=True)
def fresh_budget(web: WebServer) -> None:
    web.reset_rate_limit()


def _submit(page: Page, file: Path | FilePayload) -> None:
    page.get_by_label("Video file").set_input_files(file)
    page.get_by_label("What it should sound like").fill("rain")
    page.get_by_role("button", name="Make the sound").click()


def _api_message(web: WebServer, name: str, content: bytes) -> str:
    """What the API itself answers for this upload (then the budget is reset)."""
    response = httpx.post(
        web.url + "/v1/jobs", files={"video": (name, content)}, data={"prompt": "rain"}
    )
    web.reset_rate_limit()
    assert response.status_code in (413, 422), response.text
    message: str = response.json()["error"]["message"]
    return message


def test_a_file_that_is_not_a_video_is_explained(page: Page, web: WebServer) -> None:
    content = b"these are my holiday notes, not a video" * 50
    expected = _api_message(web, "notes.mp4", content)
    page.goto(web.url + "/")
    _submit(page, {"name": "notes.mp4", "mimeType": "video/mp4", "buffer": content})
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(expected)
    expect(page.locator("#job")).to_be_hidden()  # nothing was queued


def test_a_file_over_the_limit_is_explained(page: Page, web: WebServer) -> None:
    content = b"\0" * (MAX_FILE_BYTES + 1)
    expected = _api_message(web, "huge.mp4", content)
    page.goto(web.url + "/")
    _submit(page, {"name": "huge.mp4", "mimeType": "video/mp4", "buffer": content})
    expect(page.get_by_role("alert")).to_have_text(f"The video is too large. {expected}")
    assert web.store.counts()[JobState.QUEUED] == 0


def test_the_rate_limit_says_when_to_come_back(page: Page, web: WebServer, clip: Path) -> None:
    page.goto(web.url + "/")
    _submit(page, clip)
    expect(page.locator("#status")).to_have_attribute("data-state", "queued")
    page.get_by_role("button", name="Make the sound").click()
    alert = page.locator("#error")
    expect(alert).to_contain_text("Too many submissions at once: try again in")
    expect(alert).to_contain_text("rate limit")
    expect(alert).not_to_contain_text("[object")
