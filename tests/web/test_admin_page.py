"""The dashboard `/admin` and the API key form, in a real Chromium against a server that
requires keys: who may see it, the queue, a running batch, and retrying a failed job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobError, JobState, Priority, Progress
from foleyserve.worker.context import utc_now
from tests.web.conftest import PHONE, START_TIMEOUT_S, WebServer, open_page, serve_app


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, engine: ProceduralEngine) -> Iterator[WebServer]:
    yield from serve_app(tmp_path_factory.mktemp("web-admin"), engine, api_keys_required=True)


def _save_key(page: Page, key: str) -> None:
    box = page.locator("#key-box")
    if not box.evaluate("details => details.open"):  # the dashboard opens it on a 401
        box.locator("summary").click()
    page.locator("#key-input").fill(key)
    page.get_by_role("button", name="Save key").click()


def _submit(web: WebServer, key: str, clip: Path, prompt: str) -> str:
    with clip.open("rb") as f:
        response = httpx.post(
            web.url + "/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            files={"video": ("ball.mp4", f)},
            data={"prompt": prompt, "output_format": "wav"},
        )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _wait_for_state(web: WebServer, job_id: str, state: JobState) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while web.store.get(job_id).state is not state:
        assert time.monotonic() < give_up, f"{job_id} is {web.store.get(job_id).state}"
        time.sleep(0.05)  # the worker thread moves it; the store has nothing to wait on


def test_the_dashboard_needs_an_admin_key(page: Page, web: WebServer) -> None:
    page.goto(web.url + "/admin")
    error = page.locator("#error")
    expect(error).to_contain_text("The API key is missing or not accepted")
    _save_key(page, web.key_for("acme"))
    expect(error).to_contain_text("This key may not do that. tenant 'acme' is not an admin")
    _save_key(page, web.key_for("ops", admin=True))
    expect(page.locator("body")).to_have_attribute("data-loaded", "true")
    expect(error).to_be_hidden()
    expect(page.locator("#key-state")).to_contain_text("Using key fs_")


def test_the_dashboard_shows_the_queue_a_batch_and_retries_a_failed_job(
    page: Page, web: WebServer, clip: Path
) -> None:
    web.stop_worker()
    acme = web.key_for("acme")
    waiting = _submit(web, acme, clip, "footsteps on gravel")
    broken = _submit(web, acme, clip, "glass shatters")
    busy = _submit(web, web.key_for("zeta"), clip, "rain on a tin roof")
    now = utc_now()
    # A worker elsewhere holds two jobs: one it runs, one whose engine gave up for good.
    store = web.store
    store.claim([broken, busy], "gpu-7", lease_s=600, now=now)
    store.heartbeat(
        "gpu-7", {busy: Progress(stage="generating", step=3, total=10)}, lease_s=600, now=now
    )
    error = JobError(code="engine_error", message="CUDA out of memory on gpu-7")
    store.fail(broken, "gpu-7", error, retryable=False, now=utc_now())

    page.goto(web.url + "/admin")
    _save_key(page, web.key_for("ops", admin=True))
    expect(page.locator("#queue-tenants")).to_contain_text("acme")
    expect(page.locator("#queue-stats")).to_contain_text(f"normal{store.depth()[Priority.NORMAL]}")
    batch = page.locator('[data-worker="gpu-7"]')
    expect(batch).to_contain_text("gpu-7: 1 job")
    expect(batch.locator(f'[data-job="{busy}"]')).to_contain_text("zeta · generating")
    failed = page.locator(f'#failed [data-job="{broken}"]')
    expect(failed).to_contain_text("engine_error: CUDA out of memory on gpu-7")
    expect(page.locator("#tenants")).to_contain_text("zeta")

    failed.get_by_role("button", name=f"Retry job {broken}").click()
    expect(page.locator("#retry-status")).to_have_text(f"Job {broken} is queued again.")
    expect(failed).to_have_count(0)
    web.start_worker()
    _wait_for_state(web, broken, JobState.SUCCEEDED)
    _wait_for_state(web, waiting, JobState.SUCCEEDED)
    page.get_by_role("button", name="Refresh now").click()
    succeeded = web.store.counts()[JobState.SUCCEEDED]  # 2, plus any of other tests
    expect(page.locator("#throughput-stats")).to_contain_text(f"succeeded{succeeded}")
    expect(page.locator('#batches [data-worker="web-worker"]')).to_be_visible()
    expect(page.locator("#queue-tenants")).to_contain_text("Nothing queued.")


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                 && !e.getAttribute("aria-labelledby") && !e.textContent.trim())
    .map(e => e.id || e.outerHTML)"""


@pytest.mark.parametrize("path", ["/", "/admin"])
def test_every_control_is_named_and_reached_by_tab(page: Page, web: WebServer, path: str) -> None:
    page.goto(web.url + path)
    assert page.evaluate(UNLABELLED) == []
    target = "#submit" if path == "/" else "#refresh"
    for _ in range(40):  # Tab through the page until the main button has the focus
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement === document.querySelector('{target}')"):
            break
    else:
        raise AssertionError(f"{target} is not reachable with Tab on {path}")


def test_the_dashboard_fits_a_phone(
    browser: Browser, web: WebServer, request: pytest.FixtureRequest
) -> None:
    for page in open_page(browser, request, PHONE):
        page.goto(web.url + "/admin")
        _save_key(page, web.key_for("ops", admin=True))
        expect(page.locator("body")).to_have_attribute("data-loaded", "true")
        expect(page.get_by_role("button", name="Refresh now")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_key_entered_once_is_kept_for_the_submit_page(
    page: Page, web: WebServer, clip: Path
) -> None:
    key = web.key_for("keeper")
    _submit(web, key, clip, "a door creaks open")
    page.goto(web.url + "/")
    expect(page.locator("#recent-error")).to_contain_text("API key is missing")
    _save_key(page, key)
    expect(page.locator("#recent")).to_contain_text("a door creaks open")
    page.reload()  # kept in localStorage
    expect(page.locator("#recent")).to_contain_text("a door creaks open")
    expect(page.locator("#recent-error")).to_be_hidden()
