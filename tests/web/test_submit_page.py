"""The submit page `/` in a real Chromium against a real server and worker, without keys (an
embedded server on loopback): upload, watch, play, download, recent jobs; phone width."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobError, Progress
from foleyserve.media.audio import decode_audio
from foleyserve.media.probe import probe
from foleyserve.worker.context import utc_now
from tests.web.conftest import PHONE, WebServer, open_page, serve_app

PROMPT = "a ball bouncing on a wooden floor"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, engine: ProceduralEngine) -> Iterator[WebServer]:
    yield from serve_app(tmp_path_factory.mktemp("web-submit"), engine)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, request, PHONE)


def _fill_form(page: Page, prompt: str, output_format: str) -> None:
    page.get_by_label("What it should sound like").fill(prompt)
    page.get_by_label("What to avoid").fill("music")
    page.get_by_label("Result").select_option(output_format)
    page.get_by_label("Seed").fill("7")


def test_upload_watch_play_and_download(
    page: Page, web: WebServer, clip: Path, tmp_path: Path
) -> None:
    web.stop_worker()  # the job must be seen waiting first
    page.goto(web.url + "/")
    page.get_by_label("Video file").set_input_files(clip)
    expect(page.locator("#file-name")).to_contain_text("ball.mp4")
    _fill_form(page, PROMPT, "mp4")
    page.get_by_role("button", name="Make the sound").click()

    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "queued")
    expect(page.locator("#progress")).to_have_attribute("value", "0")
    web.start_worker()
    expect(status).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#progress")).to_have_attribute("aria-valuetext", "100%")
    expect(page.locator("#result")).to_have_attribute("data-ready", "true")
    expect(page.locator("#waveform")).to_have_attribute("data-drawn", "true")

    # The video with its new sound plays, for as long as the clip.
    video = page.locator("#result-video")
    expect(video).to_be_visible()
    video.evaluate("v => v.play()")
    page.wait_for_function("document.getElementById('result-video').currentTime > 0")
    duration_s = video.evaluate("v => v.duration")
    assert duration_s == pytest.approx(1.2, abs=0.1)

    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download the video").click()
    saved = tmp_path / downloaded.value.suggested_filename
    downloaded.value.save_as(saved)
    assert saved.suffix == ".mp4"
    info = probe(saved)
    assert info.has_audio and info.duration_s == pytest.approx(1.2, abs=0.1)

    with page.expect_download() as wav_download:
        page.get_by_role("button", name="Download the sound only (wav)").click()
    wav = tmp_path / "sound.wav"
    wav_download.value.save_as(wav)
    sound = decode_audio(wav)
    assert sound.sample_rate_hz == 48_000
    assert float(np.abs(sound.samples).max()) > 0.01  # the bounces are in it, not silence

    row = page.locator("#recent tr", has_text=PROMPT)
    expect(row).to_contain_text("succeeded")


def test_phone_width_drop_a_file_and_submit_by_keyboard(
    phone: Page, web: WebServer, clip: Path
) -> None:
    web.start_worker()
    phone.goto(web.url + "/")
    # Drag and drop: a real drop event carrying the clip as a File.
    payload = base64.b64encode(clip.read_bytes()).decode()
    transfer = phone.evaluate_handle(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const t = new DataTransfer();
            t.items.add(new File([bytes], "dropped.mp4", {type: "video/mp4"}));
            return t;
        }""",
        payload,
    )
    phone.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(phone.locator("#file-name")).to_contain_text("dropped.mp4")
    _fill_form(phone, "glass shatters", "wav")
    phone.locator("#submit").focus()
    phone.keyboard.press("Enter")

    expect(phone.locator("#status")).to_have_attribute("data-state", "succeeded")
    expect(phone.locator("#result")).to_have_attribute("data-ready", "true")
    expect(phone.locator("#result-audio")).to_be_visible()
    expect(phone.get_by_role("link", name="Download the sound")).to_be_visible()
    # Nothing is wider than the phone: no sideways scrolling.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


def test_a_running_job_shows_its_step_and_the_page_follows_it(
    page: Page, web: WebServer, clip: Path
) -> None:
    web.stop_worker()
    with clip.open("rb") as f:
        response = httpx.post(
            web.url + "/v1/jobs", files={"video": ("ball.mp4", f)}, data={"prompt": "rain"}
        )
    job_id = response.json()["id"]
    page.goto(web.url + "/")
    page.locator(f'#recent tr[data-job="{job_id}"]').get_by_role("button").click()
    expect(page.locator("#status")).to_have_attribute("data-state", "queued")
    expect(page.locator("#queue-text")).to_contain_text("place 1 in the queue")
    # A worker elsewhere is at step 3 of 10 (the procedural engine is too quick to catch).
    web.store.claim([job_id], "gpu-3", lease_s=600, now=utc_now())
    progress = {job_id: Progress(stage="generating", step=3, total=10)}
    web.store.heartbeat("gpu-3", progress, lease_s=600, now=utc_now())
    expect(page.locator("#status")).to_have_attribute("data-state", "running")
    expect(page.locator("#queue-text")).to_have_text("")
    expect(page.locator("#progress-text")).to_have_text("generating: step 3 of 10 (30%)")
    expect(page.locator("#progress")).to_have_attribute("aria-valuetext", "30%")
    progress = {job_id: Progress(stage="generating", step=8, total=10)}
    web.store.heartbeat("gpu-3", progress, lease_s=600, now=utc_now())
    expect(page.locator("#progress-text")).to_have_text("generating: step 8 of 10 (80%)")
    web.store.fail(
        job_id,
        "gpu-3",
        JobError(code="engine_error", message="the GPU fell off"),
        retryable=False,
        now=utc_now(),
    )
    expect(page.locator("#status")).to_have_attribute("data-state", "failed")
    expect(page.locator("#job-error")).to_have_text("the GPU fell off (engine_error)")


def test_missing_video_or_prompt_is_said_before_anything_is_sent(
    page: Page, web: WebServer, clip: Path
) -> None:
    page.goto(web.url + "/")
    page.get_by_role("button", name="Make the sound").click()
    expect(page.get_by_role("alert")).to_have_text("Choose a video file first.")
    expect(page.get_by_label("Video file")).to_be_focused()
    page.get_by_label("Video file").set_input_files(clip)
    page.get_by_role("button", name="Make the sound").click()
    expect(page.locator("#error")).to_contain_text("Describe the sound you want")
    expect(page.get_by_label("What it should sound like")).to_be_focused()
