"""The web pages: `/` (submit a video, watch it, listen) and `/admin` (the operator's
dashboard). Plain HTML, CSS and JavaScript shipped in the package under `static/` (no build
step); they talk to the same JSON API as every other client, with the key a user enters once
(kept in the browser's localStorage)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

_NO_STORE = {"Cache-Control": "no-cache"}
"""Pages are revalidated on every load, so an upgraded server never runs yesterday's script."""


def install(app: FastAPI) -> None:
    """Serve the pages at `/` and `/admin` and their files under `/static/`."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=_NO_STORE)

    @app.get("/admin", include_in_schema=False)
    def admin() -> FileResponse:
        return FileResponse(STATIC_DIR / "admin.html", headers=_NO_STORE)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
