"""``earlgate hub``: run one hub process."""

from __future__ import annotations

import argparse
import logging
import os
import ssl

from earlgate.cli import (
    UsageError,
    add_setting_options,
    check_readable,
    run_event_loop,
    setup_logging,
    unusable_tls,
)
from earlgate.hub.config import HubConfig, SlowConsumerPolicy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = HubConfig()
    parser = subparsers.add_parser(
        "hub",
        help="run the WebSocket publish/subscribe hub",
        description="Run the WebSocket publish/subscribe hub (ws://HOST:PORT/ws).",
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="TCP port (0 = any)")
    parser.add_argument(
        "--broker",
        default="memory",
        help="where messages go between hubs: memory (default, one hub), "
        "redis://HOST:PORT/DB (hubs joined through one Redis) or "
        "redis-cluster://HOST:PORT[,HOST:PORT...][?levels=N&channels=K] "
        "(Redis Cluster >= 7, sharded pub/sub); see docs/deploy.md",
    )
    parser.add_argument("--max-frame", type=int, default=defaults.max_frame, metavar="BYTES")
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections)
    parser.add_argument(
        "--max-subscriptions",
        type=int,
        default=defaults.max_subscriptions,
        help="subscriptions per connection",
    )
    parser.add_argument(
        "--send-buffer",
        type=int,
        default=defaults.send_buffer,
        metavar="BYTES",
        help="bytes queued per connection before the slow-consumer policy applies",
    )
    parser.add_argument(
        "--batch-max-bytes",
        type=int,
        default=defaults.batch_max_bytes,
        metavar="BYTES",
        help="most bytes in one batched frame for clients that ask with ?batch=1 "
        f"(default {defaults.batch_max_bytes}; 0 = never batch)",
    )
    parser.add_argument(
        "--slow-consumer",
        choices=[p.value for p in SlowConsumerPolicy],
        default=defaults.slow_consumer.value,
    )
    parser.add_argument(
        "--max-publish-rate",
        type=float,
        default=0.0,
        metavar="PER_S",
        help="publishes per second per connection (0 = unlimited)",
    )
    parser.add_argument(
        "--shed-lag-ms",
        type=float,
        default=0.0,
        help="refuse publishes (overloaded) while event-loop lag p99 exceeds this (0 = never)",
    )
    parser.add_argument(
        "--coalesce-ms",
        type=float,
        default=defaults.coalesce_ms,
        metavar="MS",
        help="pause a short loop turn that handled messages until this many ms since it "
        "began, so one poll returns more events; adds at most MS of latency "
        f"(0-10; default {defaults.coalesce_ms:g} = never; docs/hub.md)",
    )
    parser.add_argument("--durable", action="append", default=[], metavar="PATTERN")
    parser.add_argument(
        "--retention", type=int, default=defaults.retention, help="messages per durable subject"
    )
    _limits(parser, defaults)
    _mqtt(parser, defaults)
    _workers(parser, defaults)
    parser.add_argument("--tls-cert", metavar="FILE")
    parser.add_argument("--tls-key", metavar="FILE")
    parser.add_argument(
        "--auth-secret",
        metavar="S",
        default=os.environ.get("EARLGATE_AUTH_SECRET"),
        help="turn on JWT auth (HS256); also read from EARLGATE_AUTH_SECRET",
    )
    parser.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run on uvloop where it is installed (default; --no-uvloop: asyncio's own loop)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=run)


def _limits(parser: argparse.ArgumentParser, defaults: HubConfig) -> None:
    """Timeouts and byte bounds: what no client may hold for longer or larger."""
    group = parser.add_argument_group("timeouts and limits (docs/hub.md, Errors and limits)")
    seconds = [
        ("--handshake-timeout", "WebSocket handshake, and each HTTP request's head and body"),
        ("--idle-timeout", "close a keep-alive HTTP connection idle this long"),
        ("--ping-interval", "ping a WebSocket silent this long (0 = never)"),
        ("--ping-timeout", "close a WebSocket whose pong is this late"),
        ("--publish-timeout", "POST /publish waits this long for the broker"),
    ]
    add_setting_options(group, defaults, seconds)
    counts = [
        ("--max-connections-per-address", "connections per source IP (0 = unlimited)"),
        ("--max-retained-bytes", "bytes of retained frames; least recently set evicted"),
        ("--durable-max-bytes", "bytes of durable history; oldest messages evicted"),
        ("--max-resume-subjects", "durable subjects one resumable subscribe may cover"),
    ]
    add_setting_options(group, defaults, counts, seconds=False)
    group.add_argument(
        "--require-exp", action="store_true", help="refuse tokens without an 'exp' claim"
    )


def _mqtt(parser: argparse.ArgumentParser, defaults: HubConfig) -> None:
    """MQTT 3.1.1 and 5 beside the WebSocket protocol (docs/mqtt.md)."""
    group = parser.add_argument_group("MQTT (docs/mqtt.md; also at ws://HOST:PORT/mqtt)")
    group.add_argument(
        "--mqtt-port", type=int, metavar="PORT", help="plain TCP port for MQTT (0 = any)"
    )
    group.add_argument(
        "--mqtts-port",
        type=int,
        metavar="PORT",
        help="MQTT over TLS with --tls-cert/--tls-key (0 = any)",
    )
    counts = [
        ("--mqtt-max-packet-size", "bytes of one MQTT packet, either way"),
        ("--mqtt-max-inflight", "QoS 1 and 2 messages unacknowledged, each way"),
        ("--mqtt-max-queued", "QoS 1 and 2 messages waiting per session"),
        ("--mqtt-topic-alias-max", "MQTT 5 topic aliases a client may set"),
    ]
    add_setting_options(group, defaults, counts, seconds=False)
    add_setting_options(
        group,
        defaults,
        [
            ("--mqtt-session-expiry-max", "seconds a session outlives its client"),
            (
                "--mqtt-session-save-interval",
                "seconds between saves of a connected kept session's replay positions"
                " to a Redis broker (0: on connect, subscribe and disconnect only)",
            ),
        ],
    )


def _workers(parser: argparse.ArgumentParser, defaults: HubConfig) -> None:
    """Worker processes on one port, and their supervisor's limits (docs/deploy.md)."""
    group = parser.add_argument_group("workers on one port (docs/deploy.md)")
    group.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="hub processes sharing the port (SO_REUSEPORT) under a supervisor that restarts "
        "them; needs --broker redis://... or redis-cluster://... (default 1: no supervisor)",
    )
    supervision = [
        ("--heartbeat-timeout", "replace a worker whose event loop is silent this long"),
        ("--restart-backoff-min", "delay before restarting a worker; doubles per quick crash"),
        ("--restart-backoff-max", "... up to this; a worker up this long restarts quickly again"),
    ]
    add_setting_options(group, defaults, supervision)


def config_from(args: argparse.Namespace) -> HubConfig:
    from earlgate.broker import BROKER_FORMS, BROKER_SCHEMES
    from earlgate.cluster.status import STATUS_ENV

    if not args.broker.startswith(BROKER_SCHEMES):
        raise UsageError(f"unknown broker {args.broker!r}: use {BROKER_FORMS}")
    if args.workers > 1 and args.broker == "memory":
        raise UsageError(
            f"--workers {args.workers} needs --broker redis://HOST:PORT/DB or "
            "redis-cluster://HOST:PORT[,...]: the memory broker cannot join worker processes"
        )
    check_readable(args, "tls_cert", "tls_key")
    config = HubConfig(
        host=args.host,
        port=args.port,
        max_frame=args.max_frame,
        max_connections=args.max_connections,
        max_subscriptions=args.max_subscriptions,
        send_buffer=args.send_buffer,
        batch_max_bytes=args.batch_max_bytes,
        slow_consumer=SlowConsumerPolicy(args.slow_consumer),
        max_publish_rate=args.max_publish_rate,
        shed_lag_ms=args.shed_lag_ms,
        coalesce_ms=args.coalesce_ms,
        durable=list(args.durable),
        retention=args.retention,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        auth_secret=args.auth_secret,
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        publish_timeout=args.publish_timeout,
        max_connections_per_address=args.max_connections_per_address,
        max_retained_bytes=args.max_retained_bytes,
        durable_max_bytes=args.durable_max_bytes,
        max_resume_subjects=args.max_resume_subjects,
        require_exp=args.require_exp,
        workers=args.workers,
        heartbeat_timeout=args.heartbeat_timeout,
        restart_backoff_min=args.restart_backoff_min,
        restart_backoff_max=args.restart_backoff_max,
        supervisor_status=os.environ.get(STATUS_ENV),
        mqtt_port=args.mqtt_port,
        mqtts_port=args.mqtts_port,
        mqtt_max_packet_size=args.mqtt_max_packet_size,
        mqtt_max_inflight=args.mqtt_max_inflight,
        mqtt_max_queued=args.mqtt_max_queued,
        mqtt_session_expiry_max=args.mqtt_session_expiry_max,
        mqtt_session_save_interval=args.mqtt_session_save_interval,
        mqtt_topic_alias_max=args.mqtt_topic_alias_max,
    )
    try:
        config.validate()
        from earlgate.wire.durable import DurablePolicy

        DurablePolicy(config.durable)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config


def run(args: argparse.Namespace, worker: HubConfig | None = None) -> int:
    """``earlgate hub``; with ``worker``, one of the processes of ``--workers N``."""
    config = worker or config_from(args)
    setup_logging(args.log_level)
    logging.getLogger("picows").setLevel(logging.WARNING)
    from earlgate.broker import BrokerError, make_broker
    from earlgate.hub.server import HubServer
    from earlgate.mqtt.server import MqttListenError

    try:
        broker = make_broker(
            args.broker,
            config.durable,
            config.retention,
            config.max_retained,
            max_retained_bytes=config.max_retained_bytes,
            durable_max_bytes=config.durable_max_bytes,
        )
    except BrokerError as exc:
        raise UsageError(str(exc)) from None
    if config.workers > 1:  # the supervisor; each worker makes its own broker
        from earlgate.cluster.hubworkers import run_workers

        return run_workers(config, lambda worker: run(args, worker))

    async def main() -> None:
        server = HubServer(config, broker)
        try:
            await server.start()
        except ssl.SSLError as exc:
            raise unusable_tls(config.tls_cert, config.tls_key, exc) from None
        except MqttListenError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc}") from None
        scheme = "wss" if config.tls_cert else "ws"
        if not config.reuse_port:  # a worker's supervisor prints it once for all
            print(
                f"earlgate hub listening on {scheme}://{config.host}:{server.port}/ws", flush=True
            )
            for line in server.mqtt.listening_lines():
                print(line, flush=True)
        from earlgate.cluster.status import start_heartbeat

        try:
            heartbeat = start_heartbeat()  # when a supervisor watches this process
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        await server.serve_forever()
        if heartbeat is not None:
            heartbeat.close()

    run_event_loop(main(), args.uvloop)
    return 0
