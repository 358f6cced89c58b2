"""Personal data at rest: AES-256-GCM encryption, masked display forms and keyed blind indexes.

Keys come from ``GISGRID_DATA_KEY`` as ``id:base64key[,id:base64key...]``, newest first: new
values are sealed with the first key, old ciphertexts open with whichever key id they carry
(its first byte). With no setting, a key is generated once into the embedded home folder
(``secrets.json``, mode 600).

A value's blind index is an HMAC under a key derived from the key that sealed it; both are
always written together. An exact lookup matches the value's index under *every* configured
key (``index = ANY(...)``), so lookups keep working while a rotation is half done: prepend a
key, ``gisgrid keys reseal`` (:mod:`gisgrid.keys.service`), drop the old key. With one key
configured that is one index probe, with two, two.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gisgrid.core.errors import SetupError
from gisgrid.core.settings import get_settings

NONCE_BYTES = 12


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, bytes]  # in the setting's order, newest first
    current: int

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[int, bytes] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key_id, _, b64 = part.partition(":")
            try:
                kid, key = int(key_id), base64.b64decode(b64, validate=True)
            except ValueError as exc:
                raise SetupError("GISGRID_DATA_KEY must be 'id:base64key[,...]'") from exc
            if len(key) != 32 or not 0 <= kid <= 255:
                raise SetupError("each GISGRID_DATA_KEY entry needs an id 0-255 and a 32-byte key")
            if kid in keys:
                raise SetupError(f"GISGRID_DATA_KEY names key id {kid} twice")
            keys[kid] = key
        if not keys:
            raise SetupError("GISGRID_DATA_KEY is empty")
        return cls(keys=keys, current=next(iter(keys)))

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), None)
        return bytes([self.current]) + nonce + sealed

    def open(self, token: bytes) -> str:
        kid = token[0]
        key = self.keys.get(kid)
        if key is None:
            raise SetupError(f"数据由未配置的密钥 {kid} 加密 / personal data sealed with key id {kid}, which "
                             f"GISGRID_DATA_KEY does not hold (it holds {sorted(self.keys)}): put that key back "
                             "after the newest one and run `gisgrid keys reseal`", where="GISGRID_DATA_KEY")
        nonce, sealed = token[1 : 1 + NONCE_BYTES], token[1 + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, None).decode()
        except InvalidTag:
            raise SetupError(f"数据无法用密钥 {kid} 解密 / personal data does not open with key id {kid}: "
                             "GISGRID_DATA_KEY gives that id another key than the one that sealed it (or the value is damaged)",
                             where="GISGRID_DATA_KEY") from None

    def blind_index(self, value: str) -> bytes:
        """The index new values are stored with: under the newest key, like the ciphertext."""
        return _hmac_index(self.keys[self.current], value)

    def blind_indexes(self, value: str) -> list[bytes]:
        """The value's index under every configured key, newest first: what an exact lookup
        matches while some rows are still sealed (and indexed) under an older key."""
        return [_hmac_index(key, value) for key in self.keys.values()]


def _hmac_index(key: bytes, value: str) -> bytes:
    index_key = hmac.new(key, b"gisgrid blind index", hashlib.sha256).digest()
    return hmac.new(index_key, normalise(value).encode(), hashlib.sha256).digest()


def normalise(value: str) -> str:
    return "".join(value.split()).upper()


def mask_id_number(value: str) -> str:
    """``110101199003071234`` → ``110101********1234`` (region kept, birth date hidden)."""
    value = normalise(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``; at most four stars, so a 12-digit fixed line
    (``075512345678`` → ``075****5678``) fits the 11 characters a masked phone is stored in."""
    value = normalise(value)
    return value[:3] + "*" * min(4, len(value) - 7) + value[-4:]


def new_key_entry(taken: Iterable[int] = ()) -> str:
    """A fresh ``id:base64key`` entry, its id above every id in ``taken`` (or the lowest free one
    once 255 is used), to prepend to ``GISGRID_DATA_KEY``."""
    taken = set(taken)
    free = [kid for kid in range(256) if kid not in taken]
    if not free:
        raise SetupError("all 256 key ids are in use: reseal and drop old keys first")
    above = [kid for kid in free if kid > max(taken, default=0)]
    return f"{(above or free)[0]}:" + base64.b64encode(os.urandom(32)).decode()


def generated_key_path() -> Path:
    return get_settings().home_dir / "secrets.json"


def configured_spec() -> str | None:
    """``GISGRID_DATA_KEY``, else the key generated into the home folder, if there is one."""
    path = generated_key_path()
    return get_settings().data_key or (json.loads(path.read_text())["data_key"] if path.exists() else None)


def _generated_key_spec() -> str:
    path = generated_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = new_key_entry()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"data_key": spec}, out)
    return spec


@lru_cache
def keyring() -> Keyring:
    return Keyring.parse(configured_spec() or _generated_key_spec())
