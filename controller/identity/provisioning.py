"""Register nodes in bulk: read a CSV or make N names, check them, commit their files.

`shoal provision` (controller/commands/provision.py) calls `read_csv` or `numbered`,
then `check` against the fleet, then — once every bundle is written — `commit_nodes`,
which makes one commit holding `nodes/<name>.yaml` for each node on a new branch,
ready for a pull request. The commit is made with git plumbing into a temporary
index, so the user's work tree, index and current branch are untouched.

CSV lines are `name,tag=value,...`; blank lines and lines starting with `#` are
skipped. A mistake names the file and line (`nodes.csv:3: ...`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import schemas
from controller.gitcli import GitFailed, git_succeeds, git_text
from controller.identity.authority import CONTROLLER_NAME
from shadow import is_valid_node_name
from shadow.errors import BadInput

RESERVED_NAMES = frozenset({CONTROLLER_NAME})


class ProvisionError(BadInput, ValueError):
    """Input that cannot be provisioned; the message names the file and line."""


@dataclass(frozen=True)
class Registration:
    """One node to register: its name and tags, and where it was asked for."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    where: str = ""  # "nodes.csv:3", or "--count" for generated names
    recipient: str = ""  # the node's age recipient (its identity goes into the bundle)
    # The node key's public half (base64 SubjectPublicKeyInfo): its reports are signed with it.
    report_key: str = ""

    def node_file(self) -> str:
        return f"nodes/{self.name}.yaml"

    def document(self) -> dict[str, Any]:
        """The node's file in the fleet repository."""
        data: dict[str, Any] = {"name": self.name}
        if self.tags:
            data["tags"] = dict(self.tags)
        if self.recipient:
            data["recipient"] = self.recipient
        if self.report_key:
            data["reportKey"] = self.report_key
        return data


def parse_tags(text: Iterable[str], where: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in text:
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ProvisionError(f"{where}: {item!r} is not a tag (write key=value)")
        key = key.strip()
        if key in tags:
            raise ProvisionError(f"{where}: tag {key!r} given twice")
        tags[key] = value.strip()
    return tags


def read_csv(path: Path) -> list[Registration]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProvisionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(
            f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    registrations = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        name, *tags = stripped.split(",")
        registrations.append(Registration(name.strip(), parse_tags(tags, where), where))
    if not registrations:
        raise ProvisionError(f"{path}: no nodes in it (one `name,tag=value,...` per line)")
    return registrations


def numbered(
    count: int, prefix: str, tags: Mapping[str, str], taken: Iterable[str]
) -> list[Registration]:
    """`count` names `<prefix>0001`... numbered after the highest `<prefix>N` in `taken`."""
    if count < 1:
        raise ProvisionError(f"--count must be at least 1, got {count}")
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    last = max((int(m.group(1)) for m in map(pattern.match, taken) if m), default=0)
    width = max(4, len(str(last + count)))
    return [
        Registration(f"{prefix}{last + i:0{width}d}", dict(tags), "--count")
        for i in range(1, count + 1)
    ]


def check(registrations: Sequence[Registration], existing: Mapping[str, str]) -> None:
    """Refuse a bad name or tag, a duplicate and a name the fleet has (`existing`: name ->
    its file); the first problem is raised, naming the CSV line."""
    first_seen: dict[str, str] = {}
    validator = schemas.validator("node")
    for reg in registrations:
        if not is_valid_node_name(reg.name):
            raise ProvisionError(
                f"{reg.where}: {reg.name!r} is not a valid node name (lowercase letters, "
                "digits, '.', '-', '_'; starting and ending with a letter or digit)"
            )
        if reg.name in RESERVED_NAMES:
            raise ProvisionError(f"{reg.where}: {reg.name!r} is the controller's certificate name")
        if reg.name in first_seen:
            raise ProvisionError(
                f"{reg.where}: {reg.name!r} is a duplicate of {first_seen[reg.name]}"
            )
        if reg.name in existing:
            raise ProvisionError(
                f"{reg.where}: {reg.name!r} is already in the fleet ({existing[reg.name]})"
            )
        error = next(iter(validator.iter_errors(reg.document())), None)
        if error is not None:
            key = error.path[-1] if error.path else ""
            raise ProvisionError(f"{reg.where}: tag {key!r}: {error.message}")
        first_seen[reg.name] = reg.where


def node_text(reg: Registration) -> str:
    return yaml.safe_dump(reg.document(), sort_keys=False, width=200)


# Top-level keys a new bundle changes in a node file that exists (`--bundle-for`).
REKEYED = ("recipient", "reportKey")


def rekeyed_text(text: str, reg: Registration) -> str:
    """An existing node file with the new bundle's keys: its `recipient:` and `reportKey:`
    lines replaced (or added), every other line, comments included, as it was."""
    values = {"recipient": reg.recipient, "reportKey": reg.report_key}
    lines = [
        line for line in text.splitlines() if not any(line.startswith(f"{key}:") for key in REKEYED)
    ]
    lines += [f"{key}: {values[key]}" for key in REKEYED if values[key]]
    return "\n".join(lines) + "\n"


# --- the commit -----------------------------------------------------------------------


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    """git in `repo` through the one wrapper; a failure is the provisioning's bad input."""
    try:
        return git_text(*args, cwd=repo, input=stdin)
    except GitFailed as exc:
        raise ProvisionError(f"{repo}: {exc}") from exc


def head_of(repo: Path) -> str:
    return _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")


def check_branch(repo: Path, branch: str) -> None:
    try:
        _git(repo, "check-ref-format", "--branch", branch)
    except ProvisionError:
        raise ProvisionError(f"--branch {branch!r} is not a valid branch name") from None
    if git_succeeds("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo):
        raise ProvisionError(
            f"{repo}: branch {branch!r} exists already (choose another with --branch)"
        )


def commit_nodes(repo: Path, branch: str, base: str, files: Mapping[str, str], message: str) -> str:
    """One commit on the new `branch` (from `base`) adding `files`; returns its id.

    `git fast-import` writes every blob and the commit into one pack: a thousand node
    files cost one file on disk, not a thousand loose objects."""
    author = _git(repo, "var", "GIT_AUTHOR_IDENT")
    committer = _git(repo, "var", "GIT_COMMITTER_IDENT")
    stream = io.BytesIO()
    for mark, text in enumerate(files.values(), 1):
        data = text.encode()
        stream.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
    body = message.encode()
    stream.write(f"commit refs/heads/{branch}\nauthor {author}\ncommitter {committer}\n".encode())
    stream.write(b"data %d\n%s\nfrom %s\n" % (len(body), body, base.encode()))
    for mark, rel in enumerate(files, 1):
        stream.write(f"M 100644 :{mark} {rel}\n".encode())
    stream.write(b"\ndone\n")
    _git(repo, "fast-import", "--quiet", "--done", stdin=stream.getvalue())
    return _git(repo, "rev-parse", f"refs/heads/{branch}")
