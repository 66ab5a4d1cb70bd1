"""A real `foleyserve api` process trusts no proxy unless told: uvicorn's own proxy headers,
which would believe X-Forwarded-For from 127.0.0.1, are off."""

from __future__ import annotations

from pathlib import Path

import httpx

from foleyserve.auth.keys import Tenant, open_key_store
from foleyserve.worker.context import utc_now
from tests.deploy.nginx_rig import start_api, stop, wait_until_ready

TEXT_JOB = {"prompt": "rain on a tin roof", "duration_s": 0.5, "output_format": "wav"}


def test_a_local_client_cannot_choose_its_address(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    keys = open_key_store(store_url)
    try:
        keys.create_tenant(Tenant(id="acme", name="acme"))
        plaintexts = [keys.create_key("acme", now=utc_now())[1] for _ in range(3)]
    finally:
        keys.close()
    api = start_api(
        tmp_path / "api",
        {
            "FOLEYSERVE_STORE": store_url,
            "FOLEYSERVE_ENGINE": "null",
            "FOLEYSERVE_RATE_LIMIT_PER_S": "0.01",
            "FOLEYSERVE_RATE_LIMIT_BURST": "2",
        },
    )
    try:
        wait_until_ready(api)
        statuses = []
        for n, key in enumerate(plaintexts):
            response = httpx.post(
                f"http://{api.address}/v1/jobs",
                json=TEXT_JOB,
                headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": f"192.0.2.{n}"},
            )
            statuses.append(response.status_code)
        # A new key and a new claimed address each time: only the peer's limit can refuse.
        assert statuses == [202, 202, 429]
        assert "per client address" in response.json()["error"]["message"]
    finally:
        stop(api.process)
