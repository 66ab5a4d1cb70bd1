"""Where redis-py's errors enter our code, they become `StorageError`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis

from foleyserve.errors import StorageError

_P = ParamSpec("_P")
_R = TypeVar("_R")


def translating(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """A decorator for the public methods of a Redis-backed store; `what` names it in errors
    ("the job store")."""

    def decorate(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(*args, **kwargs)
            except redis.RedisError as exc:
                raise StorageError(
                    f"{what} (Redis) failed ({exc}); check that Redis is running and "
                    "reachable at the configured URL"
                ) from exc

        return wrapper

    return decorate
