"""Personal data at rest: AES-256-GCM encryption, masked display forms and keyed blind indexes.

Keys come from ``GISGRID_DATA_KEY`` as ``id:base64key[,id:base64key...]``, newest first: new
values are sealed with the first key, old ciphertexts open with whichever key id they carry,
so a rotation is "prepend a key, re-seal in the background, drop the old key". With no
setting, a key is generated once into the embedded home folder (``secrets.json``, mode 600).
The blind index uses its own key derived from the newest key id, so an exact-match lookup by
ID number or phone works without decrypting anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gisgrid.core.errors import SetupError
from gisgrid.core.settings import get_settings

NONCE_BYTES = 12


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, bytes]
    current: int

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[int, bytes] = {}
        order: list[int] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key_id, _, b64 = part.partition(":")
            try:
                kid, key = int(key_id), base64.b64decode(b64, validate=True)
            except ValueError as exc:
                raise SetupError("GISGRID_DATA_KEY must be 'id:base64key[,...]'") from exc
            if len(key) != 32 or not 0 <= kid <= 255:
                raise SetupError("each GISGRID_DATA_KEY entry needs an id 0-255 and a 32-byte key")
            keys[kid] = key
            order.append(kid)
        if not keys:
            raise SetupError("GISGRID_DATA_KEY is empty")
        return cls(keys=keys, current=order[0])

    @property
    def index_key(self) -> bytes:
        return hmac.new(self.keys[self.current], b"gisgrid blind index", hashlib.sha256).digest()

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), None)
        return bytes([self.current]) + nonce + sealed

    def open(self, token: bytes) -> str:
        key = self.keys.get(token[0])
        if key is None:
            raise SetupError(f"personal data sealed with key id {token[0]}, which is not configured")
        nonce, sealed = token[1 : 1 + NONCE_BYTES], token[1 + NONCE_BYTES :]
        return AESGCM(key).decrypt(nonce, sealed, None).decode()

    def blind_index(self, value: str) -> bytes:
        return hmac.new(self.index_key, normalise(value).encode(), hashlib.sha256).digest()


def normalise(value: str) -> str:
    return "".join(value.split()).upper()


def mask_id_number(value: str) -> str:
    """``110101199003071234`` → ``110101********1234`` (region kept, birth date hidden)."""
    value = normalise(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    value = normalise(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def _generated_key_spec(home: Path) -> str:
    path = home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())["data_key"]
    home.mkdir(parents=True, exist_ok=True)
    spec = "1:" + base64.b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"data_key": spec}, out)
    return spec


@lru_cache
def keyring() -> Keyring:
    settings = get_settings()
    return Keyring.parse(settings.data_key or _generated_key_spec(settings.home_dir))
