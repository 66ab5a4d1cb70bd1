"""Screenshots of both pages for the docs, made with the browser tests' rig:

    .venv/bin/python -m tests.web.screenshots docs/images

A server with keys, three tenants' jobs (done, failed, one batch held by a worker, some
queued), then `/` after a finished job and `/admin`, at desktop and phone widths.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobError, JobState, Progress
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.worker.context import utc_now
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    WAIT_MS,
    WebServer,
    serve_app,
)


def _submit(web: WebServer, key: str, clip: Path, prompt: str) -> str:
    with clip.open("rb") as f:
        response = httpx.post(
            web.url + "/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            files={"video": ("ball.mp4", f)},
            data={"prompt": prompt, "output_format": "wav"},
        )
    response.raise_for_status()
    job_id: str = response.json()["id"]
    return job_id


def _history(web: WebServer, clip: Path) -> None:
    """Finished jobs of two tenants, one failure, a running batch and a queue."""
    keys = {tenant: web.key_for(tenant) for tenant in ("studio-a", "studio-b", "podcasts")}
    web.start_worker()
    for prompt in ("footsteps on gravel", "glass shatters", "a door creaks open"):
        _submit(web, keys["studio-a"], clip, prompt)
    _submit(web, keys["studio-b"], clip, "rain on a tin roof")
    give_up = time.monotonic() + 60
    while any(web.store.counts()[s] for s in (JobState.QUEUED, JobState.RUNNING)):
        assert time.monotonic() < give_up, f"the worker did not drain: {web.store.counts()}"
        time.sleep(0.1)
    web.stop_worker()
    broken = _submit(web, keys["studio-b"], clip, "an engine starts")
    busy = [_submit(web, keys["podcasts"], clip, f"crowd applauding, take {i}") for i in (1, 2)]
    now = utc_now()
    web.store.claim([broken, *busy], "gpu-0", lease_s=3600, now=now)
    progress = {job: Progress(stage="generating", step=17, total=25) for job in busy}
    web.store.heartbeat("gpu-0", progress, lease_s=3600, now=now)
    error = JobError(code="engine_error", message="CUDA out of memory (tried to allocate 2.1 GiB)")
    web.store.fail(broken, "gpu-0", error, retryable=False, now=utc_now())


def _shoot_index(page: Page, web: WebServer, clip: Path, key: str, out: Path) -> None:
    page.goto(web.url + "/")
    page.locator("#key-box summary").click()
    page.locator("#key-input").fill(key)
    page.get_by_role("button", name="Save key").click()
    page.locator("#key-box summary").click()
    page.get_by_label("Video file").set_input_files(clip)
    page.get_by_label("What it should sound like").fill("a ball bouncing on a wooden floor")
    page.get_by_label("What to avoid").fill("music")
    page.get_by_role("button", name="Make the sound").click()
    expect(page.locator("#result")).to_have_attribute("data-ready", "true")
    page.locator("#result-video").evaluate(
        "v => new Promise(done => { v.onseeked = done; v.currentTime = 1.0; })"
    )
    page.screenshot(path=str(out), full_page=True)


def _shoot_admin(page: Page, web: WebServer, admin_key: str, out: Path) -> None:
    page.goto(web.url + "/admin")
    box = page.locator("#key-box")
    if not box.evaluate("details => details.open"):
        box.locator("summary").click()
    page.locator("#key-input").fill(admin_key)
    page.get_by_role("button", name="Save key").click()
    box.locator("summary").click()
    expect(page.locator("body")).to_have_attribute("data-loaded", "true")
    page.screenshot(path=str(out), full_page=True)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "ball.mp4"
        make_bouncing_ball(clip, impact_times_s=[0.4, 1.1, 1.7, 2.2], duration_s=3.0)
        engine = ProceduralEngine(embedder=None)
        for web in serve_app(Path(tmp) / "server", engine, api_keys_required=True):
            _history(web, clip)
            user_key, admin_key = web.key_for("studio-a"), web.key_for("ops", admin=True)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                sizes: list[tuple[str, ViewportSize]] = [("desktop", DESKTOP), ("phone", PHONE)]
                for name, viewport in sizes:
                    context = browser.new_context(viewport=viewport)
                    context.set_default_timeout(WAIT_MS)
                    page = context.new_page()
                    queued = [
                        _submit(web, user_key, clip, f"birds at dawn, take {i}") for i in range(3)
                    ]
                    _shoot_admin(page, web, admin_key, folder / f"admin-{name}.png")
                    for job_id in queued:  # so the worker runs only the page's own job
                        web.store.cancel(job_id, None, now=utc_now())
                        web.store.delete(job_id, None)
                    web.start_worker()
                    _shoot_index(page, web, clip, user_key, folder / f"web-{name}.png")
                    web.stop_worker()
                    context.close()
                browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
