"""The web pages' rig: a real uvicorn server on a free loopback port serving `create_app`, a
real worker thread (the procedural engine, SQLite, a tmp folder) started and stopped by the
tests, and one headless Chromium for the session (Debian's /usr/bin/chromium, driven by
Playwright). A failed test leaves a screenshot of its page under test-artifacts/web/.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from foleyserve.api.app import create_app
from foleyserve.api.ratelimit import MemoryRateLimiter
from foleyserve.auth.keys import KeyStore, Tenant, open_key_store
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.settings import Settings
from foleyserve.storage.local import LocalObjectStore
from foleyserve.store import open_store
from foleyserve.store.base import JobStore
from foleyserve.worker.context import utc_now
from foleyserve.worker.loop import Worker

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
START_TIMEOUT_S = 20.0
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in CI, where Chromium's sandbox refuses to start
    "--disable-dev-shm-usage",  # containers' small /dev/shm crashes renderers
    "--autoplay-policy=no-user-gesture-required",  # tests start the player from a script
]
WAIT_MS = 20_000
"""How long a page condition may take (a job runs in well under a second)."""
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class WebServer:
    """The app on `url`, its stores, and a worker the test starts when it wants jobs to run."""

    url: str
    store: JobStore
    keys: KeyStore
    settings: Settings
    app_state: Any
    engine: ProceduralEngine
    objects: LocalObjectStore
    _worker: tuple[Worker, threading.Thread] | None = field(default=None)

    def key_for(self, tenant: str, *, admin: bool = False) -> str:
        """A new key of `tenant` (created if new)."""
        if tenant not in {t.id for t in self.keys.list_tenants()}:
            self.keys.create_tenant(Tenant(id=tenant, name=tenant, admin=admin))
        _, plaintext = self.keys.create_key(tenant, now=utc_now())
        return plaintext

    def start_worker(self) -> None:
        if self._worker is not None:
            return
        worker = Worker(
            self.engine,
            open_store(self.settings.store_url()),
            self.objects,
            self.settings,
            "web-worker",
        )
        thread = threading.Thread(target=worker.run, name="web-worker", daemon=True)
        thread.start()
        self._worker = (worker, thread)

    def stop_worker(self) -> None:
        if self._worker is None:
            return
        worker, thread = self._worker
        worker.request_stop()
        thread.join(timeout=START_TIMEOUT_S)
        assert not thread.is_alive(), "the worker did not stop"
        worker.store.close()
        self._worker = None

    def reset_rate_limit(self) -> None:
        """A fresh budget, so one test's submissions never refuse the next test's."""
        self.app_state.limiter = MemoryRateLimiter()


def serve_app(folder: Path, engine: ProceduralEngine, **settings: Any) -> Iterator[WebServer]:
    """Yield a running server; stop it, its worker and its stores afterwards."""
    values: dict[str, Any] = {
        "api_keys_required": False,
        "rate_limit_burst": 1000.0,
        "rate_limit_per_s": 1000.0,
        "max_batch_wait_ms": 0,
        "poll_interval_s": 0.05,
        "data_dir": folder,
    } | settings
    config = Settings(**values)
    store = open_store(config.store_url())
    keys = open_key_store(config.keys_url())
    objects = LocalObjectStore(folder / "objects")
    app = create_app(
        config,
        store=store,
        objects=objects,
        keys=keys,
        limiter=MemoryRateLimiter(),
        engine_identity=engine,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    give_up = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < give_up:
        time.sleep(0.02)  # uvicorn sets `started` from its own thread; nothing to wait on
    assert server.started, "uvicorn did not start"
    web = WebServer(
        f"http://127.0.0.1:{port}", store, keys, config, app.state.foley, engine, objects
    )
    try:
        yield web
    finally:
        web.stop_worker()
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        sock.close()
        keys.close()
        store.close()
        objects.close()


@pytest.fixture(scope="session")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-clips") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.3, 0.8], duration_s=1.2)
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the browser tests need Debian's chromium: apt-get install chromium chromium-driver "
            "(scripts/test installs it)",
            pytrace=False,
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for every browser test (each test gets a fresh context: own storage)."""
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test itself failed, for `open_page`'s screenshot."""
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


def open_page(
    browser: Browser, request: pytest.FixtureRequest, viewport: ViewportSize
) -> Iterator[Page]:
    """A page in a fresh context (empty localStorage); screenshot it if the test fails."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_FAILED, False):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, request, DESKTOP)
