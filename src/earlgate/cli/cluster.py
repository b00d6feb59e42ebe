"""``earlgate cluster``: hub workers behind HAProxy, joined through Redis; or just the config."""

from __future__ import annotations

import argparse
import sys

from earlgate.cli import UsageError, add_setting_options
from earlgate.cluster.haproxy import (
    BALANCES,
    HaproxySettings,
    haproxy_duration,
    parse_server,
    render,
)
from earlgate.cluster.supervisor import Policy
from earlgate.cluster.tlspem import combined_pem


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="hub workers behind HAProxy, joined through Redis",
        description="Run hub workers behind HAProxy, joined through Redis (see docs/deploy.md).",
    )
    commands = parser.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND")
    commands.required = True

    up = commands.add_parser(
        "up",
        help="start redis-server, N hub workers and haproxy; Ctrl-C stops them all",
    )
    _common(up)
    up.add_argument("--workers", type=int, default=2, help="hub worker processes")
    up.add_argument(
        "--redis",
        metavar="URL",
        help="use this Redis (redis://HOST:PORT/DB) or Redis Cluster "
        "(redis-cluster://HOST:PORT[,...]) instead of starting a redis-server",
    )
    up.add_argument(
        "--redis-aof",
        action="store_true",
        help="turn on the started Redis's append-only file (off by default, as in the thesis)",
    )
    up.add_argument("--data-dir", help="where the started Redis keeps its append-only file")
    up.add_argument("--durable", action="append", default=[], metavar="PATTERN")
    up.add_argument("--retention", type=int, default=1000, help="messages per durable subject")
    up.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the hubs on uvloop where it is installed (default; --no-uvloop: asyncio's)",
    )
    _mqtts(up)
    _supervision(up)
    up.set_defaults(func=run_up)

    config = commands.add_parser(
        "config",
        help="print the haproxy.cfg for hub workers you run yourself",
    )
    _common(config)
    config.add_argument("--workers", type=int, default=2, help="hub workers on --worker-host")
    config.add_argument("--worker-host", default="127.0.0.1")
    config.add_argument(
        "--worker-port", type=int, default=9001, help="port of the first worker; then +1 each"
    )
    config.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a hub worker (repeatable); replaces --workers/--worker-host/--worker-port",
    )
    config.add_argument(
        "--worker-mqtt-port",
        type=int,
        metavar="PORT",
        help="with --mqtt-port or --mqtts-port: the MQTT port of the first hub; then +1 each",
    )
    config.add_argument(
        "--mqtts-port",
        type=int,
        metavar="PORT",
        help="HAProxy's MQTT-over-TLS port: TLS ends in HAProxy, plain MQTT to the hubs",
    )
    config.add_argument(
        "--tls-pem",
        metavar="FILE",
        help="with --mqtts-port: HAProxy's certificate, chain and key in one PEM file",
    )
    config.add_argument(
        "--tls-handshake-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="a TLS handshake on --mqtts-port must be done within this (default 10)",
    )
    config.set_defaults(func=run_config)


def _mqtts(parser: argparse.ArgumentParser) -> None:
    """MQTT over TLS, ended in HAProxy (docs/mqtt.md, docs/deploy.md)."""
    group = parser.add_argument_group("MQTT over TLS (docs/mqtt.md)")
    group.add_argument(
        "--mqtts-port",
        type=int,
        metavar="PORT",
        help="HAProxy's MQTT-over-TLS port: TLS ends in HAProxy (--tls-cert, --tls-key), "
        "plain MQTT goes on to each hub's MQTT port",
    )
    group.add_argument(
        "--tls-cert", metavar="FILE", help="the PEM certificate (its chain after it)"
    )
    group.add_argument("--tls-key", metavar="FILE", help="its PEM private key, unencrypted")
    group.add_argument(
        "--tls-handshake-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="a TLS handshake must be done within this (default 10)",
    )


def _supervision(parser: argparse.ArgumentParser) -> None:
    """How the started processes are kept running (docs/deploy.md, Supervision)."""
    defaults = Policy()
    group = parser.add_argument_group("supervision (docs/deploy.md)")
    options = [
        ("--heartbeat-timeout", "restart a hub whose loop is silent this long"),
        ("--restart-backoff-min", "delay before a restart; doubles per quick crash"),
        ("--restart-backoff-max", "... up to this; after this long up, quick again"),
        ("--grace", "when stopping, kill a process still running this long after SIGTERM"),
    ]
    fields = {"--restart-backoff-min": "backoff_min", "--restart-backoff-max": "backoff_max"}
    add_setting_options(group, defaults, options, fields=fields)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="HAProxy's public port")
    parser.add_argument("--host", default="127.0.0.1", help="HAProxy's public address")
    parser.add_argument("--balance", choices=BALANCES, default="leastconn")
    parser.add_argument(
        "--stats-port", type=int, default=0, help="HAProxy's stats page port (0 = any free port)"
    )
    parser.add_argument("--maxconn", type=int, default=50_000, help="HAProxy's connection limit")
    parser.add_argument(
        "--mqtt-port",
        type=int,
        metavar="PORT",
        help="HAProxy's MQTT port, passed through (TCP) to each hub's MQTT port (docs/mqtt.md)",
    )
    parser.add_argument(
        "--check-interval-ms",
        type=int,
        default=1000,
        help="HAProxy health check interval; a worker is down after 2 failed checks",
    )


def run_config(args: argparse.Namespace) -> int:
    try:
        if args.server:
            servers = [parse_server(s) for s in args.server]
        else:
            if args.workers < 1:
                raise ValueError("--workers must be at least 1")
            servers = [(args.worker_host, args.worker_port + i) for i in range(args.workers)]
        mqtt = args.mqtt_port is not None or args.mqtts_port is not None
        if mqtt != (args.worker_mqtt_port is not None):
            raise ValueError("--mqtt-port or --mqtts-port and --worker-mqtt-port go together")
        if (args.mqtts_port is None) != (args.tls_pem is None):
            raise ValueError("--mqtts-port and --tls-pem go together")
        first = args.worker_mqtt_port
        mqtt_ports = [first + i for i in range(len(servers))] if first is not None else []
        settings = HaproxySettings(
            servers=servers,
            port=args.port,
            bind=args.host,
            balance=args.balance,
            stats_port=args.stats_port or 8404,
            check_interval_ms=args.check_interval_ms,
            maxconn=args.maxconn,
            mqtt_port=args.mqtt_port,
            mqtt_ports=mqtt_ports,
            mqtts_port=args.mqtts_port,
            mqtts_pem=args.tls_pem,
            tls_handshake=haproxy_duration(args.tls_handshake_timeout),
        )
        text = render(settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return 0


def run_up(args: argparse.Namespace) -> int:
    from earlgate.cluster.runner import Cluster, ClusterError, ClusterSpec

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.mqtt_port is not None and not 0 < args.mqtt_port < 65536:
        raise UsageError(f"--mqtt-port {args.mqtt_port}: not a port (1-65535)")
    check_mqtts(args)
    if args.redis and not args.redis.startswith(("redis://", "rediss://", "redis-cluster://")):
        raise UsageError(f"--redis {args.redis!r}: not a redis:// or redis-cluster:// URL")
    policy = Policy(
        heartbeat_timeout=args.heartbeat_timeout,
        backoff_min=args.restart_backoff_min,
        backoff_max=args.restart_backoff_max,
        grace=args.grace,
    )
    try:
        policy.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = ClusterSpec(
        workers=args.workers,
        port=args.port,
        host=args.host,
        balance=args.balance,
        redis_url=args.redis,
        redis_aof=args.redis_aof,
        data_dir=args.data_dir,
        stats_port=args.stats_port,
        durable=list(args.durable),
        retention=args.retention,
        uvloop=args.uvloop,
        check_interval_ms=args.check_interval_ms,
        maxconn=args.maxconn,
        mqtt_port=args.mqtt_port,
        mqtts_port=args.mqtts_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_handshake_timeout=args.tls_handshake_timeout,
        policy=policy,
    )
    cluster = Cluster(spec, notice=_notice)
    try:
        cluster.start()
    except ClusterError as exc:
        print(f"earlgate cluster: {exc}", file=sys.stderr)
        return 1
    print(f"earlgate cluster up: {spec.workers} hub workers behind HAProxy", flush=True)
    for name, value in cluster.endpoints().items():
        print(f"  {name:<12} {value}", flush=True)
    status = cluster.run()
    print("earlgate cluster: stopped", flush=True)
    return status


def check_mqtts(args: argparse.Namespace) -> None:
    """``--mqtts-port`` with a readable certificate and its key, or no TLS option at all."""
    if not args.tls_handshake_timeout > 0:
        raise UsageError(f"--tls-handshake-timeout {args.tls_handshake_timeout:g}: not > 0")
    if args.mqtts_port is None:
        given = [f for f, v in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)) if v]
        if given:
            raise UsageError(f"{' and '.join(given)} without --mqtts-port: TLS is for that port")
        return
    if not 0 < args.mqtts_port < 65536:
        raise UsageError(f"--mqtts-port {args.mqtts_port}: not a port (1-65535)")
    if args.mqtts_port in (args.port, args.mqtt_port):
        raise UsageError(f"--mqtts-port {args.mqtts_port}: already HAProxy's --port or --mqtt-port")
    missing = [f for f, v in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)) if not v]
    if missing:
        raise UsageError(
            f"--mqtts-port needs --tls-cert and --tls-key (missing: {' and '.join(missing)})"
        )
    try:
        combined_pem(args.tls_cert, args.tls_key)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _notice(text: str) -> None:
    print(f"earlgate cluster: {text}", file=sys.stderr, flush=True)
