"""The ``earlgate`` command: one sub-command per feature.

Each feature module in this package exposes ``register(subparsers)``, which adds
its parser and sets ``func`` to a callable taking the parsed namespace and
returning an exit status. ``main`` is importable so tests call it directly.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import pkgutil
import ssl
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from earlgate import __version__

# Feature modules, in the order their commands appear in ``--help``; a module
# of this package that is not listed here is added after them.
COMMAND_ORDER = ("hub", "demo", "load", "bench", "cluster", "signal", "led")


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    ordered = [name for name in COMMAND_ORDER if name in found]
    return ordered + sorted(found - set(ordered))


class UsageError(Exception):
    """A command-line argument or config value is wrong; the message says which."""


def check_readable(args: argparse.Namespace, *options: str) -> None:
    """Each file option given (``tls_cert`` → ``--tls-cert``) must be readable."""
    for option in options:
        path = getattr(args, option)
        if path is not None and not os.access(path, os.R_OK):
            raise UsageError(f"--{option.replace('_', '-')} {path}: file not readable")


def unusable_tls(cert: str | None, key: str | None, exc: ssl.SSLError) -> UsageError:
    """The usage error for TLS files that exist but are no certificate and key."""
    return UsageError(
        f"--tls-cert {cert} / --tls-key {key}: "
        f"not a usable PEM certificate and key ({exc.reason or exc})"
    )


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_setting_options(
    group: argparse._ActionsContainer,
    defaults: object,
    options: Sequence[tuple[str, str]],
    *,
    seconds: bool = True,
    fields: dict[str, str] | None = None,
) -> None:
    """Options that set fields of a settings object, each help naming its default.

    ``--idle-timeout`` sets ``idle_timeout`` unless ``fields`` maps the flag to
    another field; ``seconds`` options are floats (``S``), the others integers.
    """
    for flag, text in options:
        default = getattr(defaults, (fields or {}).get(flag, flag[2:].replace("-", "_")))
        if seconds:
            group.add_argument(
                flag, type=float, default=default, metavar="S", help=f"{text} (default {default:g})"
            )
        else:
            group.add_argument(
                flag, type=int, default=default, metavar="N", help=f"{text} (default {default})"
            )


def setup_logging(level: str) -> None:
    """The servers' log format, at ``--log-level`` (a usage error when unknown)."""
    if level.upper() not in LOG_LEVELS:
        raise UsageError(f"--log-level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run_event_loop(main: Coroutine[Any, Any, None], use_uvloop: bool = True) -> None:
    """Run a server's ``main`` on uvloop where it is installed, else (or with
    ``--no-uvloop``) on asyncio's own loop; uvloop costs less CPU per message."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            logging.getLogger(__name__).debug("uvloop is not installed: running on asyncio")
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="earlgate",
        description="Connect small wireless IoT devices to the Internet in real time.",
    )
    parser.add_argument("--version", action="version", version=f"earlgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _command_modules():
        module = importlib.import_module(f"earlgate.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except UsageError as exc:
        parser.exit(2, f"earlgate {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
