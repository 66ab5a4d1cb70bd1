"""Where files live: the `ObjectStore` seam and `open_object_store`, which picks an
implementation from one URL (the `FOLEYSERVE_STORAGE` setting).

    /var/lib/foleyserve/objects           a folder (relative to the working folder, `~`
                                          expanded; write ./a:b for a name with a colon)
    file:///var/lib/foleyserve/objects    the same, as a URL
    s3://bucket                           AWS S3, credentials from the AWS chain
    s3://bucket/some/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1
                                          an S3-compatible service, keys under `some/prefix/`

Query parameters of `s3://` URLs:

    endpoint        the service's base URL; leave out for AWS
    region          the signing region; default from the AWS chain
    access_key      } both or neither. Neither: the standard AWS chain (AWS_ACCESS_KEY_ID and
    secret_key      } AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, instance or task roles).
                      Prefer the chain: a URL with a secret tends to end up in logs.
    create_bucket   `true` to create the bucket at start if missing (default `false`)

`S3ObjectStore` lives in foleyserve.storage.s3, imported only when an `s3://` URL is opened.

Values are percent-decoded, but `+` stays a plus (secret keys often contain one); encode `&`,
`=`, `#` and `%` as `%26`, `%3D`, `%23` and `%25`. Unknown parameters are refused, so a typo
does not silently fall back to a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from foleyserve.errors import ConfigError
from foleyserve.storage.base import ObjectStore, content_disposition, validate_key
from foleyserve.storage.local import LocalObjectStore

if TYPE_CHECKING:
    from foleyserve.storage.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectStore",
    "content_disposition",
    "open_object_store",
    "validate_key",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
"""Two letters or more, so that `C:` is not a scheme."""
_S3_PARAMS = frozenset({"endpoint", "region", "access_key", "secret_key", "create_bucket"})
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def open_object_store(url: str) -> ObjectStore:
    """The store that `url` names (see the module docstring). Raises `ConfigError`
    (`invalid_storage_url`) for a URL it cannot use; an S3 store is not contacted unless
    `create_bucket=true` (call `ping()` to check it)."""
    if not url:
        raise _invalid(url, "it is empty")
    match = _SCHEME.match(url)
    if match is None:
        return LocalObjectStore(Path(url).expanduser())
    scheme = match.group(1).lower()
    if not url[match.end() :].startswith("//"):
        raise _invalid(url, f"write {scheme}://...; for a folder whose name has a ':', use ./")
    if scheme == "file":
        return _open_file_url(url)
    if scheme == "s3":
        return _open_s3_url(url)
    raise _invalid(url, f"unknown scheme {scheme!r}; use a folder path, file:// or s3://")


def _open_file_url(url: str) -> LocalObjectStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise _invalid(url, "a file URL is file:///absolute/path, with no host or query")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise _invalid(url, "a file URL needs an absolute path")
    return LocalObjectStore(Path(path))


def _open_s3_url(url: str) -> S3ObjectStore:
    # Imported here: boto3 takes ~0.2 s to import, which embedded runs need not pay.
    from foleyserve.storage.s3 import S3ObjectStore

    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password or parts.port or parts.fragment:
        raise _invalid(url, "write s3://bucket/optional/prefix?endpoint=...")
    params = _query_params(url, parts.query)
    create = params.get("create_bucket", "false").lower()
    if create not in _BOOLEANS:
        raise _invalid(url, f"create_bucket must be true or false, not {create!r}")
    return S3ObjectStore(
        parts.netloc,
        endpoint_url=params.get("endpoint"),
        region=params.get("region"),
        access_key=params.get("access_key"),
        secret_key=params.get("secret_key"),
        prefix=unquote(parts.path),
        create_bucket=_BOOLEANS[create],
    )


def _query_params(url: str, query: str) -> dict[str, str]:
    # Not parse_qs: it turns `+` into a space, which would corrupt secret keys.
    params: dict[str, str] = {}
    for item in query.split("&") if query else []:
        name, equals, value = item.partition("=")
        name = unquote(name)
        if name not in _S3_PARAMS:
            raise _invalid(url, f"unknown parameter {name!r}; known: {sorted(_S3_PARAMS)}")
        if not equals or not value:
            raise _invalid(url, f"parameter {name!r} has no value")
        if name in params:
            raise _invalid(url, f"parameter {name!r} is given twice")
        params[name] = unquote(value)
    return params


def _invalid(url: str, problem: str) -> ConfigError:
    # Never echo the URL itself: it may carry a secret key.
    scheme = _SCHEME.match(url)
    shown = f"{scheme.group(0)}//..." if scheme else "the storage location"
    return ConfigError(f"cannot use {shown} as storage: {problem}", code="invalid_storage_url")
