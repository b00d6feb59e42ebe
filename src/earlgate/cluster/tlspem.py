"""The certificate and key HAProxy ends MQTT over TLS with: checked, then joined in one file.

HAProxy's ``bind ... ssl crt FILE`` wants the certificate, its chain and the
private key in one PEM file, where ``earlgate hub`` takes ``--tls-cert`` and
``--tls-key`` apart. :func:`combined_pem` checks the two files as the hub
would (readable, PEM, a key that matches the certificate, no passphrase to
ask for) and joins them; :func:`write_private` writes the result readable by
its owner only.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

__all__ = ["combined_pem", "write_private"]

PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)


def _blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [(m[1].decode(), m[0] + b"\n") for m in PEM_BLOCK.finditer(data)]


def _read(option: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{option} {path}: file not readable ({exc.strerror or exc})") from None


def _no_passphrase() -> bytes:
    return b""  # never a prompt on the terminal: a key that needs one fails to load


def combined_pem(cert: str, key: str) -> bytes:
    """The certificates of ``cert`` (the server's first, then its chain) and the key of ``key``.

    Raises:
        ValueError: naming the option at fault: a file that cannot be read, no
            PEM certificate or private key in it, an encrypted key (HAProxy would
            stop to ask for its passphrase), or a key that is not the certificate's.
    """
    cert_data, key_data = _read("--tls-cert", cert), _read("--tls-key", key)
    certificates = [block for name, block in _blocks(cert_data) if name == "CERTIFICATE"]
    if not certificates:
        raise ValueError(f"--tls-cert {cert}: no PEM certificate in it")
    keys = [(name, block) for name, block in _blocks(key_data) if name.endswith("PRIVATE KEY")]
    if not keys:
        raise ValueError(f"--tls-key {key}: no PEM private key in it")
    if keys[0][0] == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in keys[0][1]:
        raise ValueError(f"--tls-key {key}: an encrypted key; HAProxy needs it unencrypted")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"--tls-key {key}: not the private key of the certificate in --tls-cert {cert}"
            ) from None
        raise ValueError(
            f"--tls-cert {cert} / --tls-key {key}: "
            f"not a usable PEM certificate and key ({exc.reason or exc})"
        ) from None
    return b"".join(certificates) + keys[0][1]


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable and writable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # also when it was there already, with another mode
        file.write(data)
