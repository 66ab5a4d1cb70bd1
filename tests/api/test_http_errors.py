"""The router's own refusals answer in the API's error shape too."""

from __future__ import annotations

from .test_app import ApiRig, engine, error_code, rig

__all__ = ["engine", "rig"]  # fixtures


def test_unknown_paths_and_methods_answer_our_error_body(rig: ApiRig) -> None:
    missing = rig.client.get("/v2/jobs")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong = rig.client.put("/v1/jobs")
    assert wrong.status_code == 405 and error_code(wrong) == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
    # A missing job stays the API's own 404.
    assert error_code(rig.client.get("/v1/jobs/job_0")) == "job_not_found"
