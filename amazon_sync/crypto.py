"""Sellers' Amazon refresh tokens, encrypted at rest with Fernet (the `cryptography` library:
AES-128-CBC with an HMAC-SHA256, timestamped).

AMAZON_CREDENTIALS_KEYS lists the keys, newest first: MultiFernet encrypts with the first and
decrypts with any, so a key is rotated by putting a new one in front, running
`manage.py amazon_rotate_credentials` (re-encrypts every token with the new key), then removing
the old one.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys):
    if not keys:
        raise ImproperlyConfigured("AMAZON_CREDENTIALS_KEYS must name at least one Fernet key.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "Each of AMAZON_CREDENTIALS_KEYS must be a Fernet key (32 url-safe base64 bytes: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')."
        ) from exc


def _keys():
    return _fernet(tuple(settings.AMAZON_CREDENTIALS_KEYS))


def check_keys():
    """Raise ImproperlyConfigured unless AMAZON_CREDENTIALS_KEYS are usable Fernet keys."""
    _keys()


def encrypt(value: str) -> bytes:
    return _keys().encrypt(value.encode())


def decrypt(token: bytes) -> str:
    try:
        return _keys().decrypt(token).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored Amazon credential cannot be decrypted with AMAZON_CREDENTIALS_KEYS: was "
            "the key it was encrypted with removed?"
        ) from exc


def rotate(token: bytes) -> bytes:
    """The same secret, encrypted with the first (newest) key."""
    return _keys().rotate(token)
