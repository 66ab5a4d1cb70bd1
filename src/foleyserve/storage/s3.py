"""`S3ObjectStore`: objects in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS), for a fleet.

Key `a/b.mp4` is the object `<prefix>a/b.mp4` in the bucket, so several deployments (or tests)
can share one bucket. Uploads above `multipart_threshold_bytes` go in parts, in parallel; S3
makes an object visible only when its upload completes, which gives the all-or-nothing writes
the contract asks for. botocore and boto3 errors are translated here, at the one place they
enter, into `StorageError` codes (see foleyserve.storage.base).
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import boto3  # type: ignore[import-untyped]
from boto3.exceptions import (  # type: ignore[import-untyped]
    RetriesExceededError,
    S3UploadFailedError,
)
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from foleyserve.errors import ConfigError, StorageError
from foleyserve.storage.atomic import write_atomically
from foleyserve.storage.base import (
    DEFAULT_CHUNK_BYTES,
    MAX_KEY_BYTES,
    check_chunk_bytes,
    content_disposition,
    resolve_range,
    validate_key,
    validate_prefix,
)

MIB = 1 << 20
DELETE_BATCH_KEYS = 1000
"""S3's limit on keys per DeleteObjects request."""
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
"""SigV4's limit on a presigned URL's lifetime."""

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
     "InvalidToken", "AllAccessDisabled"}
)  # fmt: skip
_CHANGED = frozenset({"412", "PreconditionFailed"})
_BAD_RANGE = frozenset({"416", "InvalidRange"})
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
_BUCKET_EXISTS = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class S3ObjectStore:
    """An `ObjectStore` in an S3 bucket.

    bucket: the bucket's name.
    endpoint_url: for S3-compatible services, e.g. `http://127.0.0.1:8333`; None for AWS.
        With an endpoint, path-style addressing is used (`<endpoint>/<bucket>/<key>`).
    region: the signing region; None takes it from the AWS config chain.
    access_key, secret_key: both or neither; neither uses the standard AWS chain
        (environment variables, `~/.aws`, instance roles).
    prefix: prepended to every key (a `/` is added), to share a bucket.
    multipart_threshold_bytes: uploads larger than this go in parts of this size, several at
        once (parts are at least 5 MiB, S3's minimum).
    create_bucket: create the bucket now if it does not exist (network access at
        construction).
    connect_timeout_s, read_timeout_s: per attempt; `read_timeout_s` bounds each wait for bytes.
    max_attempts: per request, including the first, with botocore's "standard" backoff.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        multipart_threshold_bytes: int = 8 * MIB,
        create_bucket: bool = False,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ConfigError("S3 storage needs a bucket name", code="invalid_storage_url")
        if (access_key is None) != (secret_key is None):
            raise ConfigError(
                "give both an S3 access key and a secret key, or neither (to use the AWS "
                "credential chain)",
                code="invalid_storage_url",
            )
        if multipart_threshold_bytes <= 0:
            raise ConfigError("multipart_threshold_bytes must be positive")
        self._bucket = bucket
        self._prefix = _normalize_prefix(prefix)
        self._endpoint_url = endpoint_url
        config = Config(
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"mode": "standard", "max_attempts": max_attempts},
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            max_pool_connections=32,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=multipart_threshold_bytes,
        )
        with self._translate(None, "connect to"):
            session = boto3.session.Session(
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
            )
            self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        if create_bucket:
            try:
                self.create_bucket()
            except BaseException:
                self.close()
                raise

    def __repr__(self) -> str:
        where = f", endpoint_url={self._endpoint_url!r}" if self._endpoint_url else ""
        return f"S3ObjectStore({self._bucket!r}, prefix={self._prefix!r}{where})"

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        """The normalized key prefix: empty, or ending in `/`."""
        return self._prefix

    def create_bucket(self) -> None:
        """Create the bucket unless it exists. Safe when several servers race to create it."""
        with self._translate(None, "create"):
            try:
                self._client.head_bucket(Bucket=self._bucket)
                return
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND | {"NoSuchBucket"}:
                    raise
            region = self._client.meta.region_name
            options: dict[str, Any] = {}
            if region and region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                self._client.create_bucket(Bucket=self._bucket, **options)
            except ClientError as exc:
                if _error_code(exc) not in _BUCKET_EXISTS:
                    raise
                self._client.head_bucket(Bucket=self._bucket)  # someone else's bucket: 403

    # -- writing --------------------------------------------------------------------------------
    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> int:
        name = self._name(key)
        with self._translate(key, "upload"):
            size_bytes = path.stat().st_size
            self._client.upload_file(
                str(path),
                self._bucket,
                name,
                ExtraArgs=_upload_args(key, content_type),
                Config=self._transfer,
            )
        return size_bytes

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> int:
        name = self._name(key)
        with self._translate(key, "upload"):
            self._client.upload_fileobj(
                io.BytesIO(data),
                self._bucket,
                name,
                ExtraArgs=_upload_args(key, content_type),
                Config=self._transfer,
            )
        return len(data)

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._translate(key, "delete"):
            self._client.delete_object(Bucket=self._bucket, Key=name)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        deleted = 0
        with self._translate(prefix, "delete"):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
                names = [str(item["Key"]) for item in page.get("Contents", [])]
                for start in range(0, len(names), DELETE_BATCH_KEYS):
                    deleted += self._delete_batch(names[start : start + DELETE_BATCH_KEYS])
        return deleted

    def _delete_batch(self, names: Sequence[str]) -> int:
        response = self._client.delete_objects(
            Bucket=self._bucket,
            Delete={"Objects": [{"Key": name} for name in names], "Quiet": True},
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 refused to delete {len(errors)} of {len(names)} objects, e.g. "
                f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
            )
        return len(names)

    # -- reading --------------------------------------------------------------------------------
    def get_file(self, key: str, path: Path) -> None:
        # One streamed GET rather than s3transfer's parallel ranged download: when writing the
        # file fails, s3transfer abandons its responses unclosed, leaking their sockets.
        name = self._name(key)
        with self._translate(key, "download"):
            body = self._client.get_object(Bucket=self._bucket, Key=name)["Body"]
        try:
            write_atomically(path, lambda out: self._copy_body(key, body, out))
        except OSError as exc:
            raise StorageError(
                f"cannot write the local file {str(path)!r}: {exc.strerror}",
                code="local_file_error",
            ) from exc
        finally:
            body.close()

    def _copy_body(self, key: str, body: Any, out: BinaryIO) -> None:
        while True:
            with self._translate(key, "download"):
                chunk = body.read(DEFAULT_CHUNK_BYTES)
            if not chunk:
                return
            out.write(chunk)

    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)
        with self._translate(key, "read"):
            body = self._client.get_object(Bucket=self._bucket, Key=name)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def iter_chunks(
        self,
        key: str,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        start: int = 0,
        end: int | None = None,
    ) -> Generator[bytes, None, None]:
        check_chunk_bytes(chunk_bytes)
        head = self._head(key)
        first, stop = resolve_range(int(head["ContentLength"]), start, end)
        return self._stream(key, first, stop, str(head["ETag"]), chunk_bytes)

    def _stream(
        self, key: str, first: int, stop: int, etag: str, chunk_bytes: int
    ) -> Generator[bytes, None, None]:
        # One ranged GET for the whole range, sent on the first `next` (an iterator that is
        # never started holds no connection). If-Match makes a replaced object fail loudly
        # instead of splicing two versions into one response.
        if first == stop:
            return
        with self._translate(key, "read"):
            response = self._client.get_object(
                Bucket=self._bucket,
                Key=self._name(key),
                Range=f"bytes={first}-{stop - 1}",
                IfMatch=etag,
            )
        body = response["Body"]
        try:
            while True:
                with self._translate(key, "read"):
                    chunk = bytes(body.read(chunk_bytes))
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except StorageError as exc:
            if exc.code == "object_not_found":
                return False
            raise
        return True

    def _head(self, key: str) -> dict[str, Any]:
        name = self._name(key)
        with self._translate(key, "read"):
            return dict(self._client.head_object(Bucket=self._bucket, Key=name))

    def presigned_get_url(
        self, key: str, *, expires_s: int = 3600, filename: str | None = None
    ) -> str | None:
        if not 0 < expires_s <= MAX_PRESIGN_EXPIRY_S:
            raise ValueError(f"expires_s must be in 1..{MAX_PRESIGN_EXPIRY_S}, got {expires_s}")
        params = {"Bucket": self._bucket, "Key": self._name(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with self._translate(key, "sign a URL for"):
            return str(
                self._client.generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=expires_s
                )
            )

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def ping(self) -> None:
        with self._translate(None, "reach"):
            self._client.head_bucket(Bucket=self._bucket)

    def close(self) -> None:
        self._client.close()

    # -- helpers --------------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        """The object's name in the bucket: prefix + key."""
        name = self._prefix + validate_key(key)
        if len(name.encode("utf-8")) > MAX_KEY_BYTES:
            raise StorageError(
                f"storage key {key!r} is too long once prefixed with {self._prefix!r}",
                code="invalid_key",
            )
        return name

    @contextmanager
    def _translate(self, key: str | None, action: str) -> Iterator[None]:
        """botocore, boto3 and local-file errors -> `StorageError`."""
        what = f"object {key!r} in bucket {self._bucket!r}" if key else f"bucket {self._bucket!r}"
        try:
            yield
        except StorageError:
            raise
        except ClientError as exc:
            raise _from_client_error(exc, action, what, key) from exc
        except S3UploadFailedError as exc:
            # boto3 drops the ClientError's type but keeps it as the context.
            cause = exc.__context__
            if isinstance(cause, ClientError):
                raise _from_client_error(cause, action, what, key) from exc
            raise StorageError(f"cannot {action} {what}: {exc}") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageError(
                f"cannot {action} {what}: no S3 credentials; put access_key and secret_key in "
                "the storage URL or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                code="storage_access_denied",
            ) from exc
        except (BotoConnectionError, HTTPClientError, IncompleteReadError) as exc:
            raise _unreachable(action, what, exc) from exc
        except RetriesExceededError as exc:
            raise _unreachable(action, what, exc.last_exception) from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot {action} {what}: {exc}") from exc
        except OSError as exc:  # after botocore's: some of its errors are OSErrors too
            raise StorageError(
                f"cannot {action} {what}: local file error: {exc}", code="local_file_error"
            ) from exc


def _from_client_error(exc: ClientError, action: str, what: str, key: str | None) -> StorageError:
    code = _error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    # A HEAD has no body, so a missing bucket is a bare 404 there: it is the bucket that is
    # missing when no key was involved.
    if code == "NoSuchBucket" or (key is None and code in _NOT_FOUND):
        return StorageError(
            f"cannot {action} {what}: the bucket does not exist; create it or open the store "
            "with create_bucket",
            code="bucket_not_found",
        )
    if code in _NOT_FOUND:
        return StorageError(f"no stored {what}", code="object_not_found")
    if code in _DENIED:
        return StorageError(
            f"cannot {action} {what}: access denied ({code}); check the S3 credentials and "
            "the bucket's policy",
            code="storage_access_denied",
        )
    if code in _CHANGED:
        return StorageError(
            f"{what} changed while it was being read; read it again", code="object_changed"
        )
    if code in _BAD_RANGE:
        return StorageError(f"cannot {action} {what}: {code}", code="invalid_range")
    if code in _BUSY or status >= 500:
        return StorageError(
            f"cannot {action} {what}: S3 answered {code} (HTTP {status}); retry later",
            code="storage_unavailable",
        )
    return StorageError(f"cannot {action} {what}: S3 answered {code} (HTTP {status}): {exc}")


def _unreachable(action: str, what: str, exc: object) -> StorageError:
    return StorageError(
        f"cannot {action} {what}: S3 did not answer ({exc}); check the endpoint and network",
        code="storage_unreachable",
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _normalize_prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    try:
        validate_key(stripped)
    except StorageError as exc:
        raise ConfigError(
            f"invalid S3 key prefix {prefix!r}: {exc.message}", code="invalid_storage_url"
        ) from exc
    return stripped + "/"


def _upload_args(key: str, content_type: str | None) -> dict[str, str]:
    content_type = content_type or mimetypes.guess_type(key)[0]
    return {"ContentType": content_type} if content_type else {}
