"""Sealing datagrams and the keyring: keys, ids, rotation rules, labels, verify switches."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kaboodle.runtime.envelope import OVERHEAD, Envelope, EnvelopeError
from kaboodle.runtime.keyring import Keyring, key_id, parse_key, read_key_file

K1, K2, K3 = b"1" * 16, b"2" * 24, b"3" * 32
DATAGRAM = b"KB\x01" + b"payload" * 20


def reason(envelope: Envelope, data: bytes) -> str:
    with pytest.raises(EnvelopeError) as caught:
        envelope.open(data)
    return caught.value.reason


def test_keys_are_parsed_from_base64_and_refused_with_a_reason() -> None:
    assert parse_key(base64.b64encode(K3).decode() + "\n") == K3
    with pytest.raises(ValueError, match="not base64"):
        parse_key("not a key!")
    with pytest.raises(ValueError, match="is 10 bytes; AES needs 16, 24 or 32"):
        parse_key(base64.b64encode(b"x" * 10))


def test_a_key_file_holds_one_key(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(base64.b64encode(K1).decode() + "\n")
    assert read_key_file(path) == K1
    path.write_text("garbage")
    with pytest.raises(ValueError, match=f"{path}: the key is not base64"):
        read_key_file(path)
    with pytest.raises(ValueError, match="cannot read the key file"):
        read_key_file(tmp_path / "missing")


def test_key_ids_are_short_stable_and_do_not_show_the_key() -> None:
    assert key_id(K1) == key_id(K1) != key_id(K2)
    assert len(key_id(K1)) == 8
    assert base64.b64encode(K1).decode()[:8] != key_id(K1)


def test_the_first_key_is_primary_and_use_makes_another_one_primary() -> None:
    ring = Keyring([K1, K2])
    assert ring.primary == K1 and ring.keys == (K1, K2)
    ring.install(K2)  # twice: no change
    ring.use(K2)
    assert ring.keys == (K2, K1)
    with pytest.raises(ValueError, match="not installed"):
        ring.use(K3)


def test_the_primary_key_cannot_be_removed() -> None:
    ring = Keyring([K1, K2])
    with pytest.raises(ValueError, match="is the primary key"):
        ring.remove(K1)
    ring.remove(K2)
    assert ring.keys == (K1,)
    with pytest.raises(ValueError, match="not installed"):
        ring.remove(K2)
    with pytest.raises(ValueError, match="16, 24 or 32"):
        ring.install(b"short")


def test_a_sealed_datagram_opens_with_any_installed_key_and_hides_its_content() -> None:
    sealed = Envelope(Keyring([K1])).seal(DATAGRAM)
    assert b"payload" not in sealed
    assert len(sealed) - len(DATAGRAM) <= OVERHEAD
    assert Envelope(Keyring([K2, K1])).open(sealed) == DATAGRAM
    assert Envelope(Keyring([K1])).seal(DATAGRAM) != sealed  # a fresh nonce each time


def test_without_the_key_or_with_another_label_a_datagram_does_not_open() -> None:
    sealed = Envelope(Keyring([K1]), "mesh-a").seal(DATAGRAM)
    assert reason(Envelope(Keyring([K2])), sealed) == "auth"
    assert reason(Envelope(Keyring()), sealed) == "auth"
    assert reason(Envelope(Keyring([K1]), "mesh-b"), sealed) == "auth"
    assert Envelope(Keyring([K1]), "mesh-a").open(sealed) == DATAGRAM


def test_a_tampered_or_truncated_sealed_datagram_does_not_open() -> None:
    envelope = Envelope(Keyring([K1]))
    sealed = envelope.seal(DATAGRAM)
    for bad in (
        sealed[:-1],
        sealed[:20],
        sealed[:10] + bytes([sealed[10] ^ 1]) + sealed[11:],
        sealed[:2] + b"\x09" + sealed[3:],
    ):
        assert reason(envelope, bad) == "auth"


def test_with_keys_plain_datagrams_are_refused_unless_incoming_is_not_verified() -> None:
    strict = Envelope(Keyring([K1]))
    assert reason(strict, DATAGRAM) == "plaintext"
    lenient = Envelope(Keyring([K1]), verify_incoming=False)
    assert lenient.open(DATAGRAM) == DATAGRAM
    assert lenient.open(strict.seal(DATAGRAM)) == DATAGRAM


def test_outgoing_stays_plain_until_outgoing_is_verified() -> None:
    envelope = Envelope(Keyring([K1]), verify_outgoing=False)
    assert envelope.seal(DATAGRAM) == DATAGRAM
    envelope.verify_outgoing = True
    assert envelope.seal(DATAGRAM)[:2] == b"KE"


def test_labels_keep_plain_meshes_apart_too() -> None:
    a, b, none = Envelope(Keyring(), "a"), Envelope(Keyring(), "b"), Envelope(Keyring())
    assert a.open(a.seal(DATAGRAM)) == DATAGRAM
    assert reason(b, a.seal(DATAGRAM)) == "label"
    assert reason(none, a.seal(DATAGRAM)) == "label"
    assert reason(a, none.seal(DATAGRAM)) == "label"
    assert none.seal(DATAGRAM) == DATAGRAM


def test_a_label_is_at_most_64_bytes() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        Envelope(Keyring(), "x" * 65)
    assert Envelope(Keyring(), "x" * 64).overhead == OVERHEAD
