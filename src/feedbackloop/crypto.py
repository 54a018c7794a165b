"""Encryption of credentials at rest (Fernet).

The key is ``FEEDBACKLOOP_SECRET_KEY`` (a Fernet key, or any passphrase, which is stretched with scrypt),
or else a key generated once into ``$FEEDBACKLOOP_HOME/secret.key`` with mode 0600. Plaintext never
leaves this module except to the caller that asked for it, and :class:`SecretBox` has no ``repr`` of it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from feedbackloop.config.settings import Settings
from feedbackloop.errors import CredentialError

__all__ = ["SecretBox", "secret_box"]

_SALT = b"feedbackloop/credentials/v1"


class SecretBox:
    """Encrypts and decrypts small secrets (tokens, client secrets)."""

    __slots__ = ("_fernet",)

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise CredentialError(
                "a stored credential cannot be decrypted: FEEDBACKLOOP_SECRET_KEY or the key file changed; "
                "reconnect the tenant"
            ) from None


def _key_from_passphrase(passphrase: str) -> bytes:
    raw = passphrase.encode("utf-8")
    try:
        Fernet(raw)
        return raw
    except ValueError:
        pass
    kdf = Scrypt(salt=_SALT, length=32, n=2**14, r=8, p=1)
    return base64.urlsafe_b64encode(kdf.derive(raw))


def _key_from_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def secret_box(settings: Settings) -> SecretBox:
    """The secret box for these settings (creating the key file on first use)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return SecretBox(_key_from_passphrase(settings.secret_key.get_secret_value()))
    return SecretBox(_key_from_file(settings.home / "secret.key"))
