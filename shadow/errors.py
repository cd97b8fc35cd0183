"""shoal's one family of errors, typed by what happens next, and the exit codes they mean.

Every error shoal raises on purpose belongs to this tree; its branch says what the
person (or the supervisor) should do about it:

    ShoalError
    ├── BadInput            exit 1: a person must fix a file, a document or an argument
    │   │                   (the fleet does not load, a template fails, a selector does
    │   │                   not parse, a Desired document is malformed)
    │   └── UsageError      exit 2, as argparse's own errors: the command line is wrong
    │                       (transport.BrokerURLError, controller.service.http.AddressError,
    │                       edge.http.HttpAddressError)
    └── Unavailable         exit 2: retry later; something shoal needs is not there now
        ├── controller.gitcli.GitFailed         git failed, with git's own message
        │   └── controller.status.branch.PushRejected    the remote moved on: re-apply
        ├── transport.BrokerUnavailable         the broker cannot be reached or read
        │   └── transport.embedded.EmbeddedBrokerError   the embedded broker cannot start
        ├── edge.runtime.RuntimeUnavailable     the cluster cannot be reached
        ├── edge.store.StoreError               the edge's state dir cannot be used
        └── shoal.demo.supervisor.PartExited    a process the demo started died

The bad inputs: controller.fleet (FleetError, YamlSyntaxError, SelectorError),
controller.render (TemplateFailure, TemplateFileError, MissingValue),
controller.review.diffing.RenderFailed, controller.commands.init.InitError,
shadow.documents.DocumentError, shadow.release.ReleaseError, shadow.policy.PolicyError,
shadow.signing (SignatureError, KeyFileError), shadow.sealing.SealingError,
edge.selfupdate.installer.UpdateFailed, controller.dashboard.queries.QueryError,
shoal.demo.progress.NotSyncedInTime.

`shoal/cli.py` maps the branches to `ExitCode`s, once (`EXIT_CODES`). Anything else
that reaches it is a bug in shoal: one line, the hint "this is a bug in shoal: run with
--debug and report it", and exit 70 (sysexits' EX_SOFTWARE). `--debug` prints the
traceback, with the chained cause, for any error. tests/test_errors.py checks that every
exception class shoal defines is in this tree (or on its short list, with the reason).

Library errors (subprocess, paho, kubernetes, OSError, yaml, json) are
wrapped where shoal calls the library, with the cause chained:
`raise GitFailed(...) from exc`. Each error lives with the layer that raises it;
this module holds only the branches, so both the controller and the edge (which
never import each other) can use them. No I/O.
"""

from __future__ import annotations

from enum import IntEnum


class ShoalError(Exception):
    """The base of every error shoal raises on purpose; the message is for a person."""


class BadInput(ShoalError):
    """A person must fix something shoal was given (a file, a document, an argument).

    Retrying without a change gives the same error; the last good state keeps running."""


class UsageError(BadInput):
    """The command line is wrong (an option's value cannot be used): exit 2, like argparse."""


class Unavailable(ShoalError):
    """Something shoal needs cannot be reached or used right now (git, the broker, the
    cluster, a port, the state dir): retry later; long-running parts retry by themselves."""


class ExitCode(IntEnum):
    """What `shoal` exits with, for scripts. Long-running commands (controller, edge, demo)
    exit OK when asked to stop (Ctrl-C, SIGTERM)."""

    OK = 0
    BAD_INPUT = 1  # a person must fix a file or a document (also: `--exit-code` found changes)
    UNAVAILABLE = 2  # retry later: git, the broker, the cluster
    USAGE = 2  # the command line is wrong (argparse's own code); an alias of UNAVAILABLE
    BUG = 70  # an unexpected error: a bug in shoal (sysexits' EX_SOFTWARE)
    RESTART = 75  # `shoal edge` asks its --self-update supervisor to start it again (EX_TEMPFAIL)
    INTERRUPTED = 130  # a one-shot command stopped by Ctrl-C (128 + SIGINT)


__all__ = [
    "BadInput",
    "ExitCode",
    "ShoalError",
    "Unavailable",
    "UsageError",
]
