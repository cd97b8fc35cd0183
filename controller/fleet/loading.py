"""Load a fleet repository from disk into a `Fleet`, validating every file.

Called by the commands (`shoal validate/render/explain/diff`) and the controller's
pipeline for each revision. Every YAML file is parsed (keeping lines) and checked
against its JSON Schema in `schemas/`; selectors are parsed; names are checked for
uniqueness. Nothing stops at the first mistake: `load_fleet` raises one
`FleetError` carrying every problem of the repository, each naming file, path and line.

`load_fleet` is all or nothing: the controller must never publish from a partially
valid repository. `load_usable` (for `shoal validate`, through `checking`) returns
what could be loaded beside the problems, so the valid parts can still be rendered.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import ValidationError

import schemas
from controller.fleet.model import (
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_TOPIC_PREFIX,
    TEMPLATE_SUFFIX,
    App,
    Fleet,
    Group,
    Node,
    SealedSecret,
)
from controller.fleet.problems import FleetError, Problem, sort_key
from controller.fleet.rollout import RolloutPolicy, RolloutPolicyError, parse_policy
from controller.fleet.selectors import Selector, SelectorError, parse_selector
from controller.fleet.yamlreader import YamlDocument, YamlSyntaxError, read_file, read_yaml
from shadow.policy import DEFAULT_POLICY, UNRESTRICTED, Policy, PolicyError, effective

YAML_SUFFIXES = (".yaml", ".yml")


def load_fleet(root: Path) -> Fleet:
    """Read and validate the repository at `root`; raises FleetError listing every problem."""
    usable = load_usable(root)
    if usable.problems:
        raise FleetError(usable.problems)
    return usable.fleet


@dataclass(frozen=True)
class UsableFleet:
    """What `load_usable` could read of a repository, beside every problem found."""

    fleet: Fleet  # the valid nodes, groups and apps only
    problems: list[Problem]
    # fleet.yaml and every group file are valid: each node gets all its variables.
    variables_complete: bool
    # Apps whose app.yaml is unusable, as stand-ins (empty selector, no version,
    # namespace or vars) for checking their templates only: never render them.
    unloaded_apps: tuple[App, ...] = ()


def load_usable(root: Path) -> UsableFleet:
    """Read the repository at `root`, skipping (and reporting) the files that are unusable."""
    root = Path(root)
    if not root.is_dir():
        problem = Problem(str(root), "not a directory: expected a fleet repository")
        return UsableFleet(Fleet(root, "", DEFAULT_TOPIC_PREFIX, {}, {}, {}, {}), [problem], False)
    loader = _Loader(root)
    fleet_data = loader.fleet_file()
    nodes = loader.nodes()
    before_groups = len(loader.problems)
    groups = loader.groups()
    groups_complete = len(loader.problems) == before_groups
    fleet_data = fleet_data or {}
    fleet_policy = loader.policy("fleet.yaml", fleet_data, DEFAULT_POLICY)
    fleet_rollout = loader.rollout("fleet.yaml", fleet_data)
    apps = loader.apps(fleet_policy, fleet_rollout)
    secrets = loader.secrets()
    fleet = Fleet(
        root=root,
        name=fleet_data.get("name", ""),
        topic_prefix=fleet_data.get("topicPrefix", DEFAULT_TOPIC_PREFIX),
        vars=dict(fleet_data.get("vars") or {}),
        nodes=nodes,
        groups=groups,
        apps=apps,
        render_limits=dict(fleet_data.get("render") or {}),
        kubernetes_version=str(fleet_data.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION)),
        agent=fleet_data.get("agent"),
        policy=fleet_policy,
        secrets=secrets,
        rollout=fleet_rollout,
        require_signed_reports=bool((fleet_data.get("reports") or {}).get("requireSignature")),
    )
    return UsableFleet(
        fleet,
        sorted(loader.problems, key=sort_key),
        bool(fleet_data) and groups_complete,
        tuple(loader.unloaded_apps),
    )


def format_path(path: Iterable[str | int]) -> str:
    """`vars.replicas`, `items[0].name` — how a path inside a document is written."""
    text = ""
    for part in path:
        if isinstance(part, bool):
            text += f"[{json.dumps(part)}]"
        elif isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# Validated files by (schema, text): a controller reloading a revision, or `shoal diff`
# loading two, parses and validates only the files that changed. Results are shared:
# the loaded model is read-only.
_CHECKED_MAX = 100_000
_checked: dict[
    tuple[str, str], tuple[tuple[dict[str, Any], YamlDocument] | None, list[Problem]]
] = {}


class _Loader:
    """Reads one repository, collecting problems instead of stopping at the first."""

    def __init__(self, root: Path, real_root: Path | None = None) -> None:
        self.root = root
        self.real_root = real_root or root.resolve()
        self.problems: list[Problem] = []
        self.unloaded_apps: list[App] = []

    def problem(self, file: str, message: str, where: str = "", line: int | None = None) -> None:
        self.problems.append(Problem(file, message, where, line))

    # --- files ----------------------------------------------------------------------

    def read(self, rel: str, schema: str) -> tuple[dict[str, Any], YamlDocument] | None:
        """Parse and validate one file; None (with problems recorded) when it is unusable."""
        try:
            text = read_file(self.root / rel)
        except YamlSyntaxError as exc:  # over the size limit
            self.problem(rel, exc.message)
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(rel, f"cannot read: {exc}")
            return None
        key = (schema, text)
        cached = _checked.get(key)
        if cached is None:
            checker = _Loader(self.root, self.real_root)
            cached = (checker.check(rel, schema, text), checker.problems)
            if len(_checked) >= _CHECKED_MAX:
                _checked.clear()
            _checked[key] = cached
        result, problems = cached
        self.problems.extend(replace(p, file=rel) for p in problems)
        return result

    def check(self, rel: str, schema: str, text: str) -> tuple[dict[str, Any], YamlDocument] | None:
        try:
            document = read_yaml(text)
        except YamlSyntaxError as exc:
            self.problem(rel, exc.message, line=exc.line)
            return None
        for path, line in document.duplicates:
            self.problem(
                rel, "key written twice (YAML keeps only the last)", format_path(path), line
            )
        if not isinstance(document.data, dict):
            kind = "empty" if document.data is None else f"a {type(document.data).__name__}"
            self.problem(rel, f"expected a mapping of keys (like name: ...), the file is {kind}")
            return None
        if _known_valid(schema, document.data) and not document.duplicates:
            document.compact(text)
            return document.data, document
        errors = list(schemas.validator(schema).iter_errors(document.data))
        for error in errors:
            self.schema_problem(rel, document, error)
        if errors or document.duplicates:
            return None
        return document.data, document

    def schema_problem(self, rel: str, document: YamlDocument, error: ValidationError) -> None:
        path = list(error.absolute_path)
        where = format_path(path)
        line = document.line_of(path)
        kind = error.validator
        if "propertyNames" in error.absolute_schema_path:
            key: Any = error.instance  # types-jsonschema adds `Unset`: never, once raised
            hint = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
            self.problem(
                rel,
                f"key {key!r} is not allowed: {hint}".rstrip(": "),
                where,
                document.line_of([*path, key]),
            )
        elif kind == "additionalProperties":
            schema: Any = error.schema
            instance: Any = error.instance
            allowed = sorted(schema.get("properties", {}))
            extras = sorted(set(instance) - set(allowed))
            for key in extras:
                self.problem(
                    rel,
                    f"unknown key {key!r} (allowed here: {', '.join(allowed)})",
                    where,
                    document.line_of([*path, key]),
                )
        elif kind == "required":
            self.problem(rel, f"missing required key {_missing(error)!r}", where, line)
        elif kind == "type":
            expected: Any = error.validator_value
            message = f"must be {_article(expected)}, got {_json_type(error.instance)}"
            if error.instance is not None:
                message += f" ({_short(error.instance)})"
            if expected == "string" and isinstance(error.instance, bool | int | float):
                message += "; quote it to keep it as text"
            self.problem(rel, message + _boolean_key_hint(path), where, line)
        elif kind == "pattern":
            hint = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
            # The description says what the value is for, the pattern what it may contain.
            rule = f"it must match {error.validator_value}"
            self.problem(
                rel,
                f"{_short(error.instance)} is not valid: "
                + (f"{hint.rstrip('.')}; {rule}" if hint else rule),
                where,
                line,
            )
        elif kind == "minLength":
            self.problem(rel, "must not be empty", where, line)
        else:
            self.problem(rel, error.message, where, line)

    # --- the four kinds of files ----------------------------------------------------

    def fleet_file(self) -> dict[str, Any] | None:
        if not (self.root / "fleet.yaml").is_file():
            self.problem("fleet.yaml", "missing: a fleet repository has fleet.yaml at its root")
            return None
        if not self.inside(self.root / "fleet.yaml"):
            return None
        read = self.read("fleet.yaml", "fleet")
        return read[0] if read else None

    def yaml_files(self, folder: str) -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        if base.resolve().is_relative_to(self.real_root):
            plain = _plain_files(base)
            if plain is not None:  # no symlink below: every file is inside
                return sorted(f"{folder}/{rel}" for rel in plain if _suffix(rel) in YAML_SUFFIXES)
        found = [p for p in base.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()]
        return sorted(p.relative_to(self.root).as_posix() for p in found if self.inside(p))

    def inside(self, path: Path) -> bool:
        """False (with a problem) for a symlink leading out of the repository.

        A fleet repository comes from git, where a symlink can name any file of the
        machine that validates or renders it; its content must not leak into messages.
        """
        if path.resolve().is_relative_to(self.real_root):
            return True
        rel = path.relative_to(self.root).as_posix()
        self.problem(rel, "a symlink leading outside the repository: not read")
        return False

    def nodes(self) -> dict[str, Node]:
        nodes: dict[str, Node] = {}
        for rel in self.yaml_files("nodes"):
            read = self.read(rel, "node")
            if read is None:
                continue
            data, document = read
            name = data["name"]
            if name in nodes:
                self.problem(
                    rel,
                    f"duplicate node name {name!r}: also defined in {nodes[name].file}",
                    "name",
                    document.line_of(["name"]),
                )
                continue
            nodes[name] = Node(
                name=name,
                tags=dict(data.get("tags") or {}),
                vars=dict(data.get("vars") or {}),
                file=rel,
                revoked=bool(data.get("revoked", False)),
                agent=data.get("agent"),
                recipient=data.get("recipient", ""),
                report_key=data.get("reportKey", ""),
            )
        return nodes

    def selector(self, rel: str, text: str, document: YamlDocument) -> Selector | None:
        try:
            return parse_selector(text)
        except SelectorError as exc:
            self.problem(rel, str(exc), "selector", document.line_of(["selector"]))
            return None

    def groups(self) -> dict[str, Group]:
        groups: dict[str, Group] = {}
        for rel in self.yaml_files("groups"):
            read = self.read(rel, "group")
            if read is None:
                continue
            data, document = read
            name = data.get("name") or Path(rel).stem
            selector = self.selector(rel, data["selector"], document)
            if name in groups:
                self.problem(
                    rel,
                    f"duplicate group name {name!r}: also defined in {groups[name].file}",
                    "name" if "name" in data else "",
                    document.line_of(["name"]),
                )
                continue
            if selector is None:
                continue
            groups[name] = Group(
                name=name,
                selector=selector,
                priority=data.get("priority", 0),
                vars=dict(data.get("vars") or {}),
                file=rel,
                agent=data.get("agent"),
            )
        return groups

    def secrets(self) -> dict[str, SealedSecret]:
        """`secrets/<name>.yaml`, each named as its file is."""
        secrets: dict[str, SealedSecret] = {}
        for rel in self.yaml_files("secrets"):
            read = self.read(rel, "secret")
            if read is None:
                continue
            data, document = read
            if data["name"] != Path(rel).stem:
                self.problem(
                    rel,
                    f"the file of secret {data['name']!r} must be secrets/{data['name']}.yaml",
                    "name",
                    document.line_of(["name"]),
                )
                continue
            selector = self.selector(rel, data["selector"], document)
            if selector is None:
                continue
            sealed = {
                node: (entry["recipient"], "".join(entry["value"].split()))
                for node, entry in data["sealed"].items()
            }
            secrets[data["name"]] = SealedSecret(data["name"], selector, sealed, rel)
        return secrets

    def policy(self, rel: str, data: dict[str, Any], base: Policy) -> Policy | None:
        """The file's `policy` (schema-checked already), None when it has none."""
        if "policy" not in data:
            return None
        try:
            return Policy.from_dict(data["policy"], rel, base)
        except PolicyError as exc:
            self.problem(rel, exc.message, exc.path)
            return None

    def rollout(self, rel: str, data: dict[str, Any]) -> RolloutPolicy | None:
        """The file's `rollout:` (schema-checked already), None when it has none."""
        if "rollout" not in data:
            return None
        try:
            return parse_policy(data["rollout"], rel)
        except RolloutPolicyError as exc:
            self.problem(rel, exc.message, exc.where)
            return None

    def apps(
        self, fleet_policy: Policy | None = None, fleet_rollout: RolloutPolicy | None = None
    ) -> dict[str, App]:
        apps: dict[str, App] = {}
        base = self.root / "apps"
        if not base.is_dir():
            return apps
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and self.inside(p)):
            rel = f"apps/{folder.name}/app.yaml"
            if not (folder / "app.yaml").is_file():
                self.problem(rel, "missing: every folder under apps/ needs an app.yaml")
                continue
            if not self.inside(folder / "app.yaml"):
                continue
            read = self.read(rel, "app")
            if read is None:
                self.unloaded(folder)
                continue
            data, document = read
            ok = True
            if data["name"] != folder.name:
                self.problem(
                    rel,
                    f"name {data['name']!r} must equal the app's folder name {folder.name!r}",
                    "name",
                    document.line_of(["name"]),
                )
                ok = False
            selector = self.selector(rel, data["selector"], document)
            templates = self.templates(folder)
            if selector is None or not templates or not ok:
                self.unloaded(folder)
                continue
            apps[folder.name] = App(
                name=folder.name,
                version=data["version"],
                namespace=data["namespace"],
                selector=selector,
                vars=dict(data.get("vars") or {}),
                dir=folder,
                file=rel,
                templates=templates,
                policy=effective(fleet_policy, self.policy(rel, data, UNRESTRICTED)),
                rollout=self.rollout(rel, data) if "rollout" in data else fleet_rollout,
            )
        return apps

    def unloaded(self, folder: Path) -> None:
        """Keep a stand-in for an app that did not load, so its templates get checked."""
        templates = _template_paths(self.root, folder)
        if templates:
            rel = f"apps/{folder.name}/app.yaml"
            selector = parse_selector("")
            self.unloaded_apps.append(
                App(folder.name, "", "", selector, {}, folder, rel, templates)
            )

    def templates(self, folder: Path) -> tuple[str, ...]:
        found = _template_paths(self.root, folder)
        # A manifest saved without .j2 would silently vanish from every node (and the
        # edge would prune what it had applied): name it instead.
        base = folder / "templates"
        others = sorted(
            p
            for p in (base.iterdir() if base.is_dir() else ())
            if p.is_file() and not p.name.endswith(TEMPLATE_SUFFIX) and not p.name.startswith(".")
        )
        for other in others:
            self.problem(
                other.relative_to(self.root).as_posix(),
                f"not rendered: only *{TEMPLATE_SUFFIX} files in templates/ are; rename it to"
                f" {other.name}{TEMPLATE_SUFFIX} (or move it to files/ and read it with file())",
            )
        if not found:
            self.problem(
                f"apps/{folder.name}/templates",
                f"no templates: an app renders apps/{folder.name}/templates/*{TEMPLATE_SUFFIX}",
            )
        return found


def _plain_files(base: Path) -> list[str] | None:
    """Every regular file under `base` (relative POSIX paths), or None when anything
    below is a symlink or not a plain file or folder (the careful walk decides then)."""
    found: list[str] = []
    pending = [("", str(base))]
    try:
        while pending:
            prefix, current = pending.pop()
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        return None
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        found.append(prefix + entry.name)
    except OSError:
        return None
    return found


def _suffix(rel: str) -> str:
    """`PurePath(rel).suffix`, without building a path."""
    name = rel.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


# Node files differ mostly in their name: (schema, the file's data with the name left
# out) -> valid, for data whose name is valid. Exact because the node schema checks
# each top-level key on its own (`properties`, `additionalProperties`, `required`).
_valid_shapes: dict[tuple[str, str], bool] = {}


def _known_valid(schema: str, data: dict[str, Any]) -> bool:
    """True when `data` is known to be valid against `schema` (False: validate it)."""
    name = data.get("name")
    if schema != "node" or not isinstance(name, str) or not _name_valid(name):
        return False
    key = (schema, repr([(k, None if k == "name" else v) for k, v in data.items()]))
    known = _valid_shapes.get(key)
    if known is None:
        if len(_valid_shapes) >= _CHECKED_MAX:
            _valid_shapes.clear()
        known = _valid_shapes[key] = schemas.validator(schema).is_valid(data)
    return known


def _name_valid(name: str) -> bool:
    """What the node schema says of `name` (a string): its `pattern`, as jsonschema
    applies one (`re.search`)."""
    return _name_pattern().search(name) is not None


@cache
def _name_pattern() -> re.Pattern[str]:
    subschema = schemas.load_schema("node")["properties"]["name"]
    # Anything more than a pattern would need the validator: then no name is "known".
    if set(subschema) - {"description", "type", "pattern"} or subschema["type"] != "string":
        return re.compile(r"(?!)")
    return re.compile(subschema["pattern"])


def _template_paths(root: Path, folder: Path) -> tuple[str, ...]:
    found = sorted(p for p in (folder / "templates").glob(f"*{TEMPLATE_SUFFIX}") if p.is_file())
    return tuple(p.relative_to(root).as_posix() for p in found)


def _missing(error: ValidationError) -> str:
    # jsonschema's message is "'x' is a required property"; the key is its first quoted word.
    message: str = error.message
    return message.split("'")[1] if "'" in message else message


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _article(expected: str | Sequence[str]) -> str:
    names = {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "object": "a mapping",
        "array": "a list",
        "boolean": "a boolean (true/false)",
        "null": "null",
    }
    if isinstance(expected, str):
        return names.get(expected, expected)
    return " or ".join(names.get(e, e) for e in expected)


def _boolean_key_hint(path: Sequence[Any]) -> str:
    if any(isinstance(part, bool) for part in path):
        return " (YAML reads an unquoted yes/no/on/off/true/false key as a boolean: quote it)"
    return ""


def _short(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
