"""`shoal` — one entry point for every command.

Each command lives in its own module exposing `add_parser(subparsers)` and
`run(args) -> ExitCode`; modules keep heavy imports (kubernetes, jinja2) inside `run` so
`shoal --help` stays fast. This module is the only place that sees both the
controller's and the edge's commands (they never import each other).

Errors, and the exit codes they mean, are mapped here once (`EXIT_CODES`): a command
returns an `ExitCode` or raises one of shoal's errors (`shadow.errors`). 0 success;
1 bad input, a person must fix a file or a document (validation, render, a diff with
--exit-code); 2 unavailable, retry later (git, the broker, the cluster), or a usage
error; 70 anything else, a bug in shoal (one line and how to report it; `--debug` shows
the traceback); 130 a one-shot command interrupted. Long-running commands (controller,
edge, demo) handle Ctrl-C/SIGTERM themselves as a requested stop and exit 0.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from shadow.errors import BadInput, ExitCode, ShoalError, Unavailable, UsageError
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
    "controller.commands.wait",
    "controller.commands.rollout",
    "controller.commands.run",
    "controller.commands.signingkey",
    "controller.commands.secret",
    "edge.cli",
    "controller.commands.ca",
    "controller.commands.broker_config",
    "controller.commands.provision",
)

# Exception class -> exit code, the most specific first; anything else is a bug.
EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (KeyboardInterrupt, ExitCode.INTERRUPTED),
    (UsageError, ExitCode.USAGE),
    (BadInput, ExitCode.BAD_INPUT),
    (Unavailable, ExitCode.UNAVAILABLE),
)
BUG_HINT = "this is a bug in shoal: run with --debug and report it"


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


def exit_code(error: BaseException) -> ExitCode:
    """The exit code an error that ended a command means (`EXIT_CODES`)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return ExitCode.BUG


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse `argv`, letting an optional REPO follow the options.

    argparse fills `NAME [REPO]` at the first run of positionals, so in
    `shoal secret set db --selector site=paris ./fleet` the REPO would be refused as
    unrecognized; a lone leftover positional is taken as REPO when it was not given.
    """
    args, extras = parser.parse_known_args(argv)
    if (
        len(extras) == 1
        and not extras[0].startswith("-")
        and getattr(args, "repo", None) == "."
        and (extras[0] == "." or not _given_repo(argv))
    ):
        args.repo = extras[0]
    elif extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _given_repo(argv: Sequence[str] | None) -> bool:
    return "." in (sys.argv[1:] if argv is None else argv)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return ExitCode.BAD_INPUT if argv else ExitCode.OK
    setup_logging(args.log_level, args.debug)
    try:
        code: int = args._run(args)  # an ExitCode
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # the last line of defence: one line, no traceback
        return report(exc, debug=args.debug)


def report(error: Exception, *, debug: bool) -> ExitCode:
    """Say why a command failed, on stderr, and return its exit code.

    One of shoal's errors is one line (its message says what and where); anything else
    is a bug: its type and message, and how to report it. `--debug` first prints the
    traceback, with every chained cause (the library error behind a shoal error)."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, ShoalError):
        print(f"error: {error}", file=sys.stderr)
    else:
        what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        print(f"error: {what} ({BUG_HINT})", file=sys.stderr)
    return exit_code(error)
