"""The rules both stores share: keys, byte ranges, download names."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foleyserve.errors import StorageError
from foleyserve.storage.base import (
    content_disposition,
    resolve_range,
    validate_key,
    validate_prefix,
)


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "uploads/3f2a/video.mp4",
        "ünï/cødé file.wav",
        ".hidden/..dots/x..y",
        "/".join(["s" * 255] * 4),  # 1023 bytes
        "é" * 127,  # 254 bytes in one segment
    ],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("../x", "'..'"),
        ("a/../../b", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("/abs", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("nul\x00", "control"),
        ("tab\tx", "control"),
        ("del\x7f", "control"),
        ("/".join(["s" * 255] * 4) + "/s", "1024 bytes"),
        ("é" * 128, "255 bytes"),
    ],
)
def test_invalid_keys(key: str, problem: str) -> None:
    with pytest.raises(StorageError, match=problem) as caught:
        validate_key(key)
    assert caught.value.code == "invalid_key"


@settings(deadline=None)  # pure and fast; a loaded CI machine should not make it flaky
@given(st.text(alphabet=st.sampled_from(list("ab./\\\x00é")), max_size=12))
def test_accepted_keys_are_already_normal_relative_paths(key: str) -> None:
    """No accepted key can point above or elsewhere than where it says, on any store."""
    try:
        validate_key(key)
    except StorageError:
        return
    assert posixpath.normpath(key) == key
    assert not key.startswith(("/", "../")) and key != ".."


def test_prefixes_may_end_with_a_slash() -> None:
    assert validate_prefix("uploads/") == "uploads/"
    assert validate_prefix("uploads/ab") == "uploads/ab"
    for prefix in ("", "/", "a//", "../"):
        with pytest.raises(StorageError):
            validate_prefix(prefix)


@pytest.mark.parametrize(
    ("size", "start", "end", "expected"),
    [
        (10, 0, None, (0, 10)),
        (10, 3, 7, (3, 7)),
        (10, 3, 100, (3, 10)),
        (10, 10, None, (10, 10)),
        (0, 0, None, (0, 0)),
        (10, 4, 4, (4, 4)),
    ],
)
def test_ranges(size: int, start: int, end: int | None, expected: tuple[int, int]) -> None:
    assert resolve_range(size, start, end) == expected


@pytest.mark.parametrize(("size", "start", "end"), [(10, -1, None), (10, 5, 4), (10, 11, None)])
def test_bad_ranges(size: int, start: int, end: int | None) -> None:
    with pytest.raises(StorageError) as caught:
        resolve_range(size, start, end)
    assert caught.value.code == "invalid_range"


def test_content_disposition() -> None:
    assert content_disposition("out.wav") == (
        "attachment; filename=\"out.wav\"; filename*=UTF-8''out.wav"
    )
    assert content_disposition('a"b\\c\r\nd é.mp4') == (
        "attachment; filename=\"a_b_c__d _.mp4\"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%20%C3%A9.mp4"
    )
