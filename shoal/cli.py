"""`shoal` — one entry point for every command.

Each command lives in its own module exposing `add_parser(subparsers)` and
`run(args) -> int`; modules keep heavy imports (kubernetes, git) inside `run` so
`shoal --help` stays fast. This module is the only place that sees both the
controller's and the edge's commands (they never import each other).

Exit codes, for scripts: 0 success; 1 the input is bad (validation, render, a diff
with --exit-code); 2 cannot run (usage, unreachable git or broker, unexpected error);
130 a one-shot command interrupted. Long-running commands (controller, edge, demo) handle
Ctrl-C/SIGTERM themselves as a requested stop and exit 0.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from shoal import __version__

# Order is the order of `shoal --help`.
COMMAND_MODULES = (
    "shoal.demo",
    "controller.commands.init",
    "controller.commands.validate",
    "controller.commands.render",
    "controller.commands.diff",
    "controller.commands.explain",
    "controller.commands.status",
    "controller.commands.run",
    "controller.commands.signingkey",
    "controller.commands.secret",
    "edge.cli",
)

EXIT_OK, EXIT_INVALID, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _load_commands() -> list[ModuleType]:
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a command not built yet
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal",
        description="GitOps for edge fleets: a git repository describes nodes and apps; "
        "the controller renders and publishes each node's desired state over MQTT; "
        "edge agents apply it to Kubernetes and report back into git.",
        epilog="Start with `shoal demo` to see a simulated fleet converge, or "
        "`shoal init my-fleet` to make a fleet repository of your own.",
    )
    parser.add_argument("--version", action="version", version=f"shoal {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show debug logs and tracebacks of errors"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level for long-running commands (default: %(default)s)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
        _add_common_options(sub)
    return parser


def _add_common_options(sub: argparse.ArgumentParser) -> None:
    """`--debug` and `--log-level` work after the command name too (`shoal validate --debug`)."""
    options = sub.add_argument_group("output")
    options.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show debug logs and tracebacks",
    )
    options.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS,
        help="log level (default: info)",
    )


def setup_logging(level: str, debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if not debug:
        for noisy in ("kubernetes", "urllib3", "git", "amqtt", "transitions", "watchdog"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_INVALID if argv else EXIT_OK
    setup_logging(args.log_level, args.debug)
    try:
        code: int = args._run(args)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: one line, no traceback
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if not args.debug:
            print("(run with --debug for details)", file=sys.stderr)
        return EXIT_UNAVAILABLE
