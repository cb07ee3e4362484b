"""Sealing datagrams: authenticated encryption with the keyring, and the mesh label.

A sealed datagram is ``b"KE"``, a version byte, a random 12-byte nonce, then the AES-GCM
ciphertext of the protocol datagram with its 16-byte tag; the associated data is the header
and the mesh label, so a datagram of another mesh (another label) fails to open even under the
same key. Without keys a labelled mesh prefixes ``b"KL"``, the label's length and the label, so
that two meshes on one port still never mix. A plain datagram starts with the protocol's own
``b"KB"``.

``verify_outgoing`` and ``verify_incoming`` are memberlist's switches for turning encryption on
in a running mesh: install the key everywhere with both off (plain out, both kinds in), then
turn ``verify_outgoing`` on everywhere (sealed out), then ``verify_incoming`` (plain refused).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .keyring import Keyring

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["LABEL_MAX", "OVERHEAD", "Envelope", "EnvelopeError"]

_SEALED = b"KE"
_LABELLED = b"KL"
_VERSION = 1
_NONCE = 12
_TAG = 16
_SEALED_HEADER = _SEALED + bytes((_VERSION,))
LABEL_MAX = 64
"""The longest mesh label, in UTF-8 bytes."""
OVERHEAD = max(len(_SEALED_HEADER) + _NONCE + _TAG, len(_LABELLED) + 1 + LABEL_MAX)
"""The most bytes sealing or labelling adds to a datagram."""


class EnvelopeError(ValueError):
    """A datagram that :meth:`Envelope.open` refuses.

    Attributes:
        reason: ``auth`` (sealed, and no installed key opens it: another key, another label,
            or tampered), ``plaintext`` (not sealed, while sealed datagrams are required) or
            ``label`` (a plain datagram of another mesh label); meant for counters.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Envelope:
    """Seals what a node sends and opens what it receives.

    Args:
        keyring: the keys; empty means plain datagrams (labelled if there is a label).
        label: the mesh label, at most :data:`LABEL_MAX` UTF-8 bytes.
        verify_incoming: with keys, refuse datagrams that are not sealed.
        verify_outgoing: with keys, seal what we send (else send plain).

    Raises:
        ValueError: the label is too long.
    """

    def __init__(
        self,
        keyring: Keyring,
        label: str = "",
        *,
        verify_incoming: bool = True,
        verify_outgoing: bool = True,
    ) -> None:
        encoded = label.encode()
        if len(encoded) > LABEL_MAX:
            raise ValueError(f"the mesh label is {len(encoded)} bytes; at most {LABEL_MAX}")
        self.keyring = keyring
        self.label = label
        self.verify_incoming = verify_incoming
        self.verify_outgoing = verify_outgoing
        self._aad = _SEALED_HEADER + encoded
        self._plain_prefix = _LABELLED + bytes((len(encoded),)) + encoded if encoded else b""
        self._ciphers: dict[bytes, AESGCM] = {}

    @property
    def overhead(self) -> int:
        """The most bytes :meth:`seal` adds, with keys or without (keys may come later)."""
        return max(len(_SEALED_HEADER) + _NONCE + _TAG, len(self._plain_prefix))

    def seal(self, datagram: bytes) -> bytes:
        """What to send for the protocol ``datagram``."""
        key = self.keyring.primary
        if key is None or not self.verify_outgoing:
            return self._plain_prefix + datagram
        nonce = os.urandom(_NONCE)
        return _SEALED_HEADER + nonce + self._cipher(key).encrypt(nonce, datagram, self._aad)

    def open(self, data: bytes) -> bytes:
        """The protocol datagram inside ``data``, as received from anyone.

        Raises:
            EnvelopeError: the datagram is refused; ``reason`` says why.
        """
        if data[:2] == _SEALED:
            return self._unseal(data)
        if self.keyring and self.verify_incoming:
            raise EnvelopeError("plaintext")
        prefix = self._plain_prefix
        if prefix:
            if not data.startswith(prefix):
                raise EnvelopeError("label")
            return data[len(prefix) :]
        if data[:2] == _LABELLED:
            raise EnvelopeError("label")
        return data

    def _unseal(self, data: bytes) -> bytes:
        header = len(_SEALED_HEADER) + _NONCE
        if len(data) < header + _TAG or data[2] != _VERSION:
            raise EnvelopeError("auth")
        nonce, sealed = data[len(_SEALED_HEADER) : header], data[header:]
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415 (see _cipher)

        for key in self.keyring.keys:
            try:
                return self._cipher(key).decrypt(nonce, sealed, self._aad)
            except InvalidTag:
                continue
        raise EnvelopeError("auth")

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            if len(self._ciphers) > 16:  # keys removed long ago: drop their ciphers
                self._ciphers.clear()
            # The cipher loads with the first key: a mesh without keys, the default, starts
            # without it (a start storm of N nodes pays N times for what is loaded).
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

            cipher = self._ciphers[key] = AESGCM(key)
        return cipher
