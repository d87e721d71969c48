"""Users' access keys: generation, storage under the master key, lookup.

Secrets are stored AES-256-GCM-sealed under the master key, bound to their
access key, so a copy of the metadata database alone yields no credentials.
"""

from __future__ import annotations

import os
import secrets
import string
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from metadata.model import User
from metadata.store import MetadataStore
from s3api.service import Secret

ROOT_USER = "root"
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
CACHE_SECONDS = 2.0


def new_access_key() -> str:
    """A 20-character access key id (AWS's shape)."""
    return "OD" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def new_secret_key() -> str:
    """A 40-character secret key (AWS's shape)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class SecretBox:
    """Seals and opens stored secrets under the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)

    def seal(self, access_key: str, secret_key: str) -> bytes:
        """Nonce + ciphertext of ``secret_key``, bound to ``access_key``."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret_key.encode(), b"objectd-secret:" + access_key.encode())

    def open(self, access_key: str, sealed: bytes) -> str:
        """The secret key (ValueError when the master key is wrong or data damaged)."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], b"objectd-secret:" + access_key.encode()).decode()
        except InvalidTag as exc:
            raise ValueError(f"secret of {access_key} cannot be opened with this master key") from exc


@dataclass(frozen=True)
class IssuedKey:
    """An access key pair just created (the only time the secret is shown)."""

    user: str
    access_key: str
    secret_key: str


class UserDirectory:
    """Users and their keys in the metadata store; the S3 layer's CredentialStore."""

    def __init__(self, metadata: MetadataStore, box: SecretBox) -> None:
        self.metadata = metadata
        self.box = box
        self._cache: dict[str, tuple[float, Secret | None]] = {}

    async def lookup(self, access_key: str) -> Secret | None:
        """The secret behind ``access_key`` (cached for a moment: it is per request)."""
        now = time.monotonic()
        hit = self._cache.get(access_key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        user = await self.metadata.user_by_access_key(access_key)
        found = None if user is None else Secret(user=user.name, secret_key=self.box.open(access_key, user.secret))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[access_key] = (now, found)
        return found

    async def add_key(self, name: str, access_key: str | None = None, secret_key: str | None = None) -> IssuedKey:
        """Create a user (or give an existing one another key)."""
        access_key = access_key or new_access_key()
        secret_key = secret_key or new_secret_key()
        await self.metadata.add_user(
            User(name=name, access_key=access_key, secret=self.box.seal(access_key, secret_key), created=time.time())
        )
        return IssuedKey(name, access_key, secret_key)

    async def ensure_root(self, access_key: str | None, secret_key: str | None) -> IssuedKey:
        """The root user's key: the given pair (stored if new), else the stored
        one, else a generated one."""
        if access_key and secret_key:
            existing = await self.metadata.user_by_access_key(access_key)
            if existing is not None:
                if self.box.open(access_key, existing.secret) != secret_key:
                    await self.metadata.remove_access_key(access_key)
                    return await self.add_key(ROOT_USER, access_key, secret_key)
                return IssuedKey(existing.name, access_key, secret_key)
            return await self.add_key(ROOT_USER, access_key, secret_key)
        for user in await self.metadata.list_users():
            if user.name == ROOT_USER:
                return IssuedKey(ROOT_USER, user.access_key, self.box.open(user.access_key, user.secret))
        return await self.add_key(ROOT_USER)

    async def users(self) -> list[User]:
        """Every user key (secrets still sealed)."""
        return await self.metadata.list_users()

    async def remove_user(self, name: str) -> None:
        """Remove a user and its keys (metadata UserNotFound)."""
        await self.metadata.remove_user(name)
        self._cache.clear()

    async def remove_key(self, access_key: str) -> None:
        """Remove one key (metadata UserNotFound)."""
        await self.metadata.remove_access_key(access_key)
        self._cache.clear()

