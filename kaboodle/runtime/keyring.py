"""The keys a node seals and opens datagrams with (memberlist's keyring).

Every installed key is tried on receive; the primary key, always the first, seals what the node
sends. A running mesh rotates keys with no member lost: install the new key everywhere, use it
everywhere, then remove the old one everywhere. Keys are AES keys of 16, 24 or 32 bytes, given
base64-encoded, and are shown only by their id (a hash prefix), never themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["KEY_SIZES", "Keyring", "key_id", "parse_key", "read_key_file"]

KEY_SIZES = (16, 24, 32)
"""AES-128, AES-192 and AES-256."""


def parse_key(text: str | bytes) -> bytes:
    """The key in a base64 text (surrounding white space ignored).

    Raises:
        ValueError: not base64, or not 16, 24 or 32 bytes once decoded.
    """
    raw = text.encode() if isinstance(text, str) else text
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not base64 (make one with: openssl rand -base64 32)") from None
    if len(key) not in KEY_SIZES:
        raise ValueError(
            f"the key is {len(key)} bytes; AES needs 16, 24 or 32 (openssl rand -base64 32)"
        )
    return key


def read_key_file(path: Path) -> bytes:
    """The key in a file holding one base64 key.

    Raises:
        ValueError: the file cannot be read, or does not hold one valid key.
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    try:
        return parse_key(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def key_id(key: bytes) -> str:
    """A short, stable name for ``key`` that does not reveal it: 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


class Keyring:
    """Installed keys, the primary one first.

    Args:
        keys: keys to install; the first becomes the primary one.

    Raises:
        ValueError: a key of the wrong size.
    """

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._keys: list[bytes] = []
        for key in keys:
            self.install(key)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def primary(self) -> bytes | None:
        """The key that seals what we send, or None for an empty keyring."""
        return self._keys[0] if self._keys else None

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every installed key, the primary one first: the order keys are tried in."""
        return tuple(self._keys)

    def install(self, key: bytes) -> None:
        """Add ``key`` (installing a key twice changes nothing); the first key installed
        becomes the primary one.

        Raises:
            ValueError: the key is not 16, 24 or 32 bytes.
        """
        if len(key) not in KEY_SIZES:
            raise ValueError(f"a key is 16, 24 or 32 bytes, not {len(key)}")
        if key not in self._keys:
            self._keys.append(key)

    def use(self, key: bytes) -> None:
        """Make the installed ``key`` the primary one.

        Raises:
            ValueError: ``key`` is not installed.
        """
        if key not in self._keys:
            raise ValueError(f"key {key_id(key)} is not installed; install it first")
        self._keys.remove(key)
        self._keys.insert(0, key)

    def remove(self, key: bytes) -> None:
        """Remove a key that is not the primary one.

        Raises:
            ValueError: ``key`` is the primary key, or is not installed.
        """
        if key not in self._keys:
            raise ValueError(f"key {key_id(key)} is not installed")
        if key == self._keys[0]:
            raise ValueError(
                f"key {key_id(key)} is the primary key; use another key first, then remove it"
            )
        self._keys.remove(key)
