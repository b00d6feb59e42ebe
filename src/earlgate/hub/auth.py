"""Token auth: who may publish and subscribe to what.

A token is a JWT signed with HS256 and the hub's secret. Its claims
``publish`` and ``subscribe`` list the subject patterns the holder may publish
to and subscribe to (MQTT-style wildcards); the standard ``sub`` claim (RFC
7519: the token's subject) names the client, for logs. A subscription is
allowed when one ``subscribe`` pattern covers it entirely; a publish when its
subject matches one ``publish`` pattern.
Standard claims (``exp``, ``nbf``) are checked by PyJWT at the upgrade; an
open connection is closed when its token's ``exp`` passes, unless the client
sent a fresh token first (an ``auth`` frame, docs/hub.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from earlgate.wire.subjects import SubjectError, check_pattern, covers, matches

ALGORITHM = "HS256"


class AuthError(Exception):
    """A token is missing, malformed, expired or badly signed; the message says which."""


@dataclass
class Grants:
    """The subject patterns one connection may publish to and subscribe to."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    client: str | None = None  # the token's ``sub`` claim, for logs
    expires: float | None = None  # the token's ``exp`` claim (seconds since the epoch)
    _pub_cache: dict[str, bool] = field(default_factory=dict, repr=False)

    def may_publish(self, subject: str) -> bool:
        allowed = self._pub_cache.get(subject)
        if allowed is None:
            if len(self._pub_cache) > 4096:
                self._pub_cache.clear()
            allowed = any(matches(g, subject) for g in self.publish)
            self._pub_cache[subject] = allowed
        return allowed

    def may_subscribe(self, pattern: str) -> bool:
        return any(covers(g, pattern) for g in self.subscribe)


def _patterns(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise AuthError(f"token claim {name!r} must be a list of subject patterns")
    try:
        return tuple(check_pattern(p) for p in value)
    except SubjectError as exc:
        raise AuthError(f"token claim {name!r} holds a bad pattern: {exc}") from None


class TokenVerifier:
    """Checks tokens against one shared secret."""

    def __init__(self, secret: str, leeway: float = 0.0, require_exp: bool = False) -> None:
        if not secret:
            raise ValueError("auth secret must not be empty")
        self._secret = secret
        self._leeway = leeway
        self._require = ["exp"] if require_exp else []

    def verify(self, token: str) -> Grants:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                leeway=self._leeway,
                options={"require": self._require},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token has expired") from None
        except jwt.MissingRequiredClaimError:
            raise AuthError("token has no 'exp' claim, and this hub requires one") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"token is invalid: {exc}") from None
        holder = claims.get("sub")
        expires = claims.get("exp")
        return Grants(
            publish=_patterns(claims, "publish"),
            subscribe=_patterns(claims, "subscribe"),
            client=holder if isinstance(holder, str) else None,
            expires=float(expires) if isinstance(expires, int | float) else None,
        )


def make_token(
    secret: str,
    publish: Iterable[str] = (),
    subscribe: Iterable[str] = (),
    ttl: float | None = 3600.0,
    client: str | None = None,
    now: float | None = None,
) -> str:
    """Issue a token (for tests, scripts and ``earlgate token``)."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        "publish": list(publish),
        "subscribe": list(subscribe),
        "iat": int(issued),
    }
    if ttl is not None:
        claims["exp"] = int(issued + ttl)
    if client is not None:
        claims["sub"] = client
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
