"""The signaling server's settings, with PeerServer's defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass

from earlgate.signal.errors import ConfigError
from earlgate.signal.messages import DEPTH_LIMIT, MAX_DEPTH

__all__ = ["SignalConfig"]

# PeerServer checks queues every second (cleanup_out_msgs) and liveness every
# 300 ms; shorter timeouts (tests, demos) are checked proportionally more often.
EXPIRE_CHECK_INTERVAL = 1.0
ALIVE_CHECK_INTERVAL = 0.3
MIN_CHECK_INTERVAL = 0.02


@dataclass
class SignalConfig:
    """Settings of one ``earlgate signal`` process.

    Timeouts are in seconds (PeerServer's command line takes milliseconds).
    """

    host: str = "127.0.0.1"
    port: int = 9000
    path: str = "/"
    key: str = "peerjs"
    allow_discovery: bool = False
    # PEERJS.md: "Clients silent for alive_timeout (default 60-90 s) are
    # dropped": 60 s is the peerjs command's default, 90 s the library's.
    alive_timeout: float = 60.0
    expire_timeout: float = 5.0
    concurrent_limit: int = 5000
    max_frame: int = 64 * 1024  # bytes per client message; larger closes with 1009
    max_depth: int = MAX_DEPTH  # nesting levels per client message; deeper is dropped
    send_buffer: int = 1024 * 1024  # bytes unsent to one client before a send fails
    max_queued_bytes: int = 16 * 1024 * 1024  # all queues together; past it, drop
    tls_cert: str | None = None
    tls_key: str | None = None
    handshake_timeout: float = 10.0  # WebSocket handshake, and each HTTP request's head and body
    idle_timeout: float = 15.0  # an HTTP keep-alive connection between requests
    max_connections_per_address: int = 0  # per source IP address; 0 = unlimited
    shutdown_grace: float = 5.0

    @property
    def base_path(self) -> str:
        """``path`` with one trailing slash: HTTP routes and the socket hang off it."""
        return self.path if self.path.endswith("/") else self.path + "/"

    @property
    def ws_path(self) -> str:
        # webSocketServer: this.path = `${path}${path.endsWith("/") ? "" : "/"}peerjs`
        return self.base_path + "peerjs"

    @property
    def expire_check_interval(self) -> float:
        # PEERJS.md: "expire_timeout (default 5 s, checked every second)"
        return _interval(EXPIRE_CHECK_INTERVAL, self.expire_timeout)

    @property
    def alive_check_interval(self) -> float:
        return _interval(ALIVE_CHECK_INTERVAL, self.alive_timeout)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting out of range."""
        checks = [
            (0 <= self.port <= 65535, "port must be 0-65535"),
            (self.path.startswith("/"), "path must start with /"),
            (bool(self.key), "key must not be empty"),
            (self.alive_timeout > 0, "alive timeout must be positive"),
            (self.expire_timeout > 0, "expire timeout must be positive"),
            (self.concurrent_limit >= 1, "concurrent limit must be at least 1"),
            (self.max_frame >= 1024, "max frame must be at least 1024 bytes"),
            (1 <= self.max_depth <= DEPTH_LIMIT, f"max depth must be 1-{DEPTH_LIMIT}"),
            (self.send_buffer >= 4096, "send buffer must be at least 4096 bytes"),
            (self.max_queued_bytes >= 0, "max queued bytes must not be negative"),
            ((self.tls_cert is None) == (self.tls_key is None), "TLS needs both cert and key"),
            (self.handshake_timeout > 0, "handshake timeout must be positive"),
            (self.idle_timeout > 0, "idle timeout must be positive"),
            (self.max_connections_per_address >= 0, "connections per address must be >= 0"),
            (self.shutdown_grace >= 0, "shutdown grace must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _interval(default: float, timeout: float) -> float:
    return max(MIN_CHECK_INTERVAL, min(default, timeout / 4))
