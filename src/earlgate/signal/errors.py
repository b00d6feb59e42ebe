"""The signaling server's exceptions, under one root.

::

    SignalError
    ├── ConfigError (also ValueError): a setting is out of range; says which
    └── earlgate.signal.messages.MessageError: a client frame is not a
        signaling message (the router counts it and carries on)

The router never raises on what clients send; only wrong settings and misuse
of the API raise.
"""

from __future__ import annotations

__all__ = ["ConfigError", "SignalError"]


class SignalError(Exception):
    """Root of the signaling server's exceptions."""


class ConfigError(SignalError, ValueError):
    """A setting is out of range; the message names it."""
