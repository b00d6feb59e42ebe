"""The hub's settings and limits, with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MAX_WORKERS = 256  # hub worker processes on one port
MAX_COALESCE_MS = 10.0  # the longest end-of-turn pause --coalesce-ms may ask for


class SlowConsumerPolicy(StrEnum):
    """What the hub does when a subscriber's send buffer is over its limit.

    ``drop-oldest``: keep the newest messages; the oldest queued ones are dropped
    and counted (``dropped{reason="slow_consumer"}``), and the client is told how
    many with a ``$hub/dropped`` frame once it catches up. Right for sensor
    streams, where the latest value matters most.
    ``disconnect``: close the connection with status 1008, so that the client
    reconnects and (on durable subjects) resumes from its last offset.
    """

    DROP_OLDEST = "drop-oldest"
    DISCONNECT = "disconnect"


@dataclass
class HubConfig:
    """Every setting of one hub process (``earlgate hub`` flags), with its default.

    Network: ``host``, ``port``, ``tls_cert``/``tls_key`` (PEM files; both or
    neither), ``reuse_port``. Limits: ``max_frame`` (bytes per frame),
    ``max_connections`` (per process) and ``max_connections_per_address``,
    ``max_subscriptions`` (per connection), ``batch_max_bytes`` (a batched
    frame, for clients that ask), ``send_buffer`` and
    ``slow_consumer`` (bytes queued per connection, and what happens past
    them), ``max_publish_rate`` (per connection), ``shed_lag_ms`` (refuse
    publishes while the loop lags), ``coalesce_ms`` (pause short turns),
    ``oversize_factor``. Auth:
    ``auth_secret`` (HS256 key; None: no tokens), ``require_exp``. Storage
    (in-memory broker): ``durable`` (patterns of durable subjects),
    ``retention``, ``max_retained``, ``max_retained_bytes``,
    ``durable_max_bytes``, ``max_resume_subjects``. Timeouts:
    ``shutdown_grace``, ``handshake_timeout``, ``idle_timeout``,
    ``ping_interval``/``ping_timeout``, ``publish_timeout``. Supervision:
    ``workers``, ``heartbeat_timeout``, ``restart_backoff_min``/``_max``,
    ``supervisor_status``. MQTT (docs/mqtt.md): ``mqtt_port`` and the
    ``mqtt_*`` limits. Each field's comment gives its unit.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_frame: int = 64 * 1024
    max_connections: int = 100_000
    max_subscriptions: int = 1000  # per connection
    send_buffer: int = 1024 * 1024  # bytes queued per connection before the policy applies
    # A connection that asks with ?batch=1 gets one loop turn's messages in one
    # frame of lines, up to this many bytes; 0 = never batch.
    batch_max_bytes: int = 64 * 1024
    slow_consumer: SlowConsumerPolicy = SlowConsumerPolicy.DROP_OLDEST
    max_publish_rate: float = 0.0  # publishes per second per connection; 0 = unlimited
    shed_lag_ms: float = 0.0  # refuse publishes while loop lag p99 exceeds this; 0 = never
    # Pause a short loop turn that handled messages until this many ms since it
    # began, so the next poll returns more events at once; 0 = never (docs/hub.md).
    coalesce_ms: float = 0.0
    auth_secret: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    durable: list[str] = field(default_factory=list)
    retention: int = 1000  # messages kept per durable subject
    max_retained: int = 100_000
    shutdown_grace: float = 5.0  # seconds to flush on SIGTERM
    handshake_timeout: float = 10.0  # WebSocket handshake, and each HTTP request's head and body
    idle_timeout: float = 15.0  # an HTTP keep-alive connection between requests
    ping_interval: float = 20.0  # WebSocket ping after this long without a frame; 0 = never
    ping_timeout: float = 20.0  # ... and close when its pong is this late
    max_connections_per_address: int = 0  # per source IP address; 0 = unlimited
    publish_timeout: float = 10.0  # POST /publish waits this long for the broker's verdict
    require_exp: bool = False  # refuse tokens without an ``exp`` claim
    max_retained_bytes: int = 256 * 1024 * 1024  # retained frames, all subjects together
    durable_max_bytes: int = 512 * 1024 * 1024  # durable history, all subjects together
    max_resume_subjects: int = 1000  # durable subjects one resumable subscribe may cover
    # Frames up to this many times max_frame are read and answered with
    # ``too_large``; larger ones are cut off by the WebSocket parser (close 1009).
    oversize_factor: int = 4
    # Supervised workers (docs/deploy.md, "Several workers on one port").
    workers: int = 1  # processes sharing the port; > 1 runs them under a supervisor
    heartbeat_timeout: float = 10.0  # a worker whose event loop is silent this long is replaced
    restart_backoff_min: float = 0.1  # seconds before a restart; doubles per quick crash ...
    restart_backoff_max: float = 10.0  # ... up to this
    reuse_port: bool = False  # SO_REUSEPORT: one of several workers on the port
    supervisor_status: str | None = None  # the supervisor's status file, shown on /healthz
    # MQTT 3.1.1 and 5 (docs/mqtt.md): a TCP listener, and /mqtt on the WebSocket port.
    mqtt_port: int | None = None  # plain TCP port for MQTT; None = no listener, 0 = any
    mqtts_port: int | None = None  # MQTT over TLS (the hub's tls_cert); None = none, 0 = any
    mqtt_max_packet_size: int = 64 * 1024  # bytes, fixed header included, either direction
    mqtt_max_inflight: int = 20  # QoS >= 1 messages unacknowledged, each direction
    mqtt_max_queued: int = 1000  # QoS >= 1 messages waiting per session beyond the inflight ones
    mqtt_session_expiry_max: float = 86400.0  # seconds a session outlives its connection, at most
    # Seconds between saves of a connected kept session's replay positions to a
    # shared broker's session store (0: saved on connect, subscribe and detach only).
    mqtt_session_save_interval: float = 5.0
    mqtt_topic_alias_max: int = 64  # MQTT 5 topic aliases a client may set; 0 = none

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        checks = [
            (0 <= self.port <= 65535, "port must be 0-65535"),
            (self.max_frame >= 256, "max frame must be at least 256 bytes"),
            (self.max_connections >= 1, "max connections must be at least 1"),
            (self.max_subscriptions >= 1, "max subscriptions must be at least 1"),
            (self.send_buffer >= 4096, "send buffer must be at least 4096 bytes"),
            (self.batch_max_bytes >= 0, "batch max bytes must not be negative"),
            (self.max_publish_rate >= 0, "max publish rate must not be negative"),
            (self.shed_lag_ms >= 0, "shed lag must not be negative"),
            (
                0 <= self.coalesce_ms <= MAX_COALESCE_MS,
                f"coalesce ms must be 0-{MAX_COALESCE_MS:g}",
            ),
            (
                self.shed_lag_ms == 0 or self.coalesce_ms < self.shed_lag_ms,
                "coalesce ms must be below shed lag ms (its pauses count as loop lag)",
            ),
            (self.retention >= 1, "retention must be at least 1 message"),
            (self.max_retained >= 1, "max retained must be at least 1"),
            (self.handshake_timeout > 0, "handshake timeout must be positive"),
            (self.idle_timeout > 0, "idle timeout must be positive"),
            (self.ping_interval >= 0, "ping interval must not be negative"),
            (self.ping_timeout > 0, "ping timeout must be positive"),
            (
                self.ping_interval == 0 or self.ping_timeout <= self.ping_interval,
                "ping timeout must not exceed the ping interval",
            ),
            (self.max_connections_per_address >= 0, "connections per address must be >= 0"),
            (self.publish_timeout > 0, "publish timeout must be positive"),
            (self.max_resume_subjects >= 1, "max resume subjects must be at least 1"),
            (self.max_retained_bytes >= 65536, "max retained bytes must be at least 64 KiB"),
            (self.durable_max_bytes >= 65536, "durable max bytes must be at least 64 KiB"),
            ((self.tls_cert is None) == (self.tls_key is None), "TLS needs both cert and key"),
            (
                self.auth_secret is None or len(self.auth_secret.encode()) >= 32,
                "auth secret must be at least 32 bytes (RFC 7518 section 3.2)",
            ),
            (1 <= self.workers <= MAX_WORKERS, f"workers must be 1-{MAX_WORKERS}"),
            (self.heartbeat_timeout >= 1.0, "heartbeat timeout must be at least 1 s"),
            (
                0 < self.restart_backoff_min <= self.restart_backoff_max,
                "restart backoff needs 0 < min <= max",
            ),
            (
                self.mqtt_port is None or 0 <= self.mqtt_port <= 65535,
                "mqtt port must be 0-65535",
            ),
            (
                self.mqtts_port is None or 0 <= self.mqtts_port <= 65535,
                "mqtts port must be 0-65535",
            ),
            (
                len(self._fixed_ports()) == len(set(self._fixed_ports())),
                "port, mqtt port and mqtts port must differ",
            ),
            (
                self.mqtts_port is None or self.tls_cert is not None,
                "mqtts port needs --tls-cert and --tls-key (the hub's certificate)",
            ),
            (
                128 <= self.mqtt_max_packet_size <= 268_435_460,
                "mqtt max packet size must be 128 bytes to 256 MiB",
            ),
            (1 <= self.mqtt_max_inflight <= 65535, "mqtt max inflight must be 1-65535"),
            (self.mqtt_max_queued >= 0, "mqtt max queued must not be negative"),
            (self.mqtt_session_expiry_max >= 0, "mqtt session expiry max must not be negative"),
            (
                self.mqtt_session_save_interval >= 0,
                "mqtt session save interval must not be negative",
            ),
            (0 <= self.mqtt_topic_alias_max <= 65535, "mqtt topic alias max must be 0-65535"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def _fixed_ports(self) -> list[int]:
        """The listening ports chosen (not 0: any free port)."""
        return [p for p in (self.port, self.mqtt_port, self.mqtts_port) if p]
