"""A throwaway CA and a certificate for 127.0.0.1 (trustme), for tests of TLS listeners."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class Tls:
    cert: str
    key: str
    ca: str
    context: ssl.SSLContext  # trusts the CA
    other_key: str  # the key of another certificate of the same CA


def make_tls(folder: Path) -> Tls:
    """PEM files in ``folder``: the certificate chain, its key, the CA, another key."""
    ca = trustme.CA()
    cert, key, ca_file = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    other_key = folder / "other-key.pem"
    issued = ca.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return Tls(str(cert), str(key), str(ca_file), context, str(other_key))
