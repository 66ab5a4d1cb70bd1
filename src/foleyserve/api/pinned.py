"""`PinnedTransport`: an httpx transport that sends a request only where `fetch_video` would
fetch from, for the URLs users give us to call (webhooks).

Each request's URL goes through the same gate as a video URL (`foleyserve.api.fetch`): the
scheme, port and host are checked, the host is resolved once and every address must be public
(unless the policy allows private ones; cloud metadata never), and the connection dials those
checked addresses only, so DNS rebinding cannot turn the request inward. The request's own
timeouts apply, all of them within `policy.total_timeout_s`. Redirects are the client's
business (webhook delivery follows none).

A refused URL raises `InvalidInput` (the codes of `foleyserve.api.fetch`) from the client
call, not an httpx error: a refusal is a decision, not a network failure. Network failures
are httpx's own exceptions, so `httpx.Client` callers handle them as usual.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

from foleyserve.api.fetch import (
    FetchPolicy,
    PinnedBackend,
    Resolver,
    check_hop,
    core_url,
    system_resolve,
)
from foleyserve.settings import Settings

WEBHOOK_URL_LABEL = "the webhook URL"

_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


def webhook_policy(settings: Settings) -> FetchPolicy:
    """The gate of webhook URLs: the `video_url` address settings, one delivery's time."""
    return FetchPolicy(
        allow_http=settings.fetch_allow_http,
        allow_private=settings.fetch_allow_private,
        allowed_ports=settings.fetch_allowed_ports,
        connect_timeout_s=settings.webhook_timeout_s,
        total_timeout_s=3 * settings.webhook_timeout_s,
        max_redirects=0,
    )


def check_webhook_url(url: str, settings: Settings, *, resolve: Resolver = system_resolve) -> None:
    """Refuse, at submission, a webhook URL that delivery would refuse (`InvalidInput`, the
    codes of `foleyserve.api.fetch`). Delivery checks it again: DNS answers change."""
    check_hop(url, WEBHOOK_URL_LABEL, webhook_policy(settings), resolve)


class PinnedTransport(httpx.BaseTransport):
    """Sends each request over a connection of its own, pinned to its URL's checked
    addresses. `label` names the URL in refusals."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        label: str = WEBHOOK_URL_LABEL,
        resolve: Resolver = system_resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._label = label
        self._resolve = resolve
        self._ssl_context = ssl_context

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        hop = check_hop(str(request.url), self._label, self._policy, self._resolve)
        deadline = time.monotonic() + self._policy.total_timeout_s
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl_context, network_backend=PinnedBackend(hop, deadline)
        )
        core = httpcore.Request(
            method=request.method,
            url=core_url(hop.url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            with _translated():
                answer = pool.handle_request(core)
        except BaseException:
            pool.close()
            raise
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer, pool),
            extensions=answer.extensions,
        )


class _Body(httpx.SyncByteStream):
    """The answer's body; closing it closes the connection pool made for it."""

    def __init__(self, answer: httpcore.Response, pool: httpcore.ConnectionPool) -> None:
        self._answer = answer
        self._pool = pool

    def __iter__(self) -> Iterator[bytes]:
        with _translated():
            yield from self._answer.iter_stream()

    def close(self) -> None:
        try:
            self._answer.close()
        finally:
            self._pool.close()


@contextmanager
def _translated() -> Iterator[None]:
    """httpcore's exceptions as httpx's, as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise
