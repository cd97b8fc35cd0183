"""The edge agent's configuration file (`shoal edge --config edge.yaml`).

Read by `edge/cli.py` before the flags are applied: a flag given on the command line
wins over the file, the file over the built-in default. The file is checked against
`schemas/edge.schema.json`; a mistake is one `ConfigError` naming the file, the line
and the field (`edge.yaml:4: reportInterval: must be above 0`). Relative paths are
relative to the file's folder, so an unpacked install bundle works from anywhere.

The reader is small on purpose (the edge does not import the controller's YAML
reader): the file is one flat mapping, so the line of each top-level key is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import schemas
from shadow.errors import BadInput

# file key -> argparse destination of the flag that overrides it
FIELDS = {
    "node": "node",
    "broker": "broker",
    "caFile": "ca_file",
    "certFile": "cert_file",
    "keyFile": "key_file",
    "kubeconfig": "kubeconfig",
    "context": "context",
    "inCluster": "in_cluster",
    "stateDir": "state_dir",
    "topicPrefix": "topic_prefix",
    "reportInterval": "report_interval",
    "reconcileInterval": "reconcile_interval",
    "trustKeys": "trust_key",
    "reportKey": "report_key",
    "ageIdentities": "age_identity",
    "selfUpdate": "self_update",
    "http": "http",
    "applyConcurrency": "apply_concurrency",
}
PATH_FIELDS = ("caFile", "certFile", "keyFile", "kubeconfig", "stateDir", "reportKey")
PATH_LIST_FIELDS = ("trustKeys", "ageIdentities")


class ConfigError(BadInput, ValueError):
    """An edge configuration file that cannot be used; the message says where."""


@dataclass(frozen=True)
class EdgeConfig:
    """The file's values by argparse destination, paths made absolute."""

    path: Path
    values: dict[str, Any]


def _key_lines(text: str) -> dict[str, int]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return {}
    return {
        str(key.value): key.start_mark.line + 1
        for key, _ in root.value
        if isinstance(key, yaml.ScalarNode)
    }


def read_config(path: Path) -> EdgeConfig:
    """Read and check `path`; raises ConfigError with `file:line: field: message`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as exc:
        # An unclosed bracket is noticed lines later; where it opened is what to fix.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: must be a mapping of settings (node: ..., broker: ...)")
    errors = sorted(schemas.validator("edge").iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise ConfigError(_describe(path, errors[0], data, lines))
    base = path.parent.absolute()
    values = {}
    for key, value in data.items():
        if key in PATH_FIELDS:
            value = str(base / Path(value).expanduser())
        elif key in PATH_LIST_FIELDS:
            value = [base / Path(item).expanduser() for item in value]
        values[FIELDS[key]] = value
    return EdgeConfig(path, values)


def _describe(path: Path, error: Any, data: dict[str, Any], lines: dict[str, int]) -> str:
    field = str(error.path[0]) if error.path else ""
    if error.validator == "additionalProperties":
        unknown = sorted(set(data) - set(FIELDS))
        field = unknown[0] if unknown else field
        message = f"unknown setting (known: {', '.join(FIELDS)})"
    elif error.validator == "required":
        message = "the node's name is missing (node: NAME)"
        field = "node"
    elif error.validator == "exclusiveMinimum":
        message = f"must be above 0 seconds, got {error.instance!r}"
    elif error.validator == "pattern" and field == "node":
        message = f"{error.instance!r} is not a valid node name (lowercase letters, digits, '.', '-', '_')"
    elif error.validator == "pattern" and field == "broker":
        message = f"{error.instance!r} must start with mqtts:// or mqtt://"
    else:
        message = error.message
    line = lines.get(field, 1)
    return f"{path}:{line}: {field}: {message}" if field else f"{path}:{line}: {message}"


def merge(args: Any, config: EdgeConfig | None, defaults: dict[str, Any]) -> None:
    """Fill each argparse value not given on the command line (None) from the file, then
    from `defaults`. A kubeconfig flag overrides the file's inCluster and vice versa."""
    values = dict(config.values) if config else {}
    if args.kubeconfig is not None or args.in_cluster:
        values.pop("in_cluster", None)
        values.pop("kubeconfig", None)
    for dest in FIELDS.values():
        if getattr(args, dest, None) in (None, False):
            if dest in values:
                setattr(args, dest, values[dest])
            elif dest in defaults:
                setattr(args, dest, defaults[dest])
    if isinstance(args.state_dir, str):
        args.state_dir = Path(args.state_dir)
