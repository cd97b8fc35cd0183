"""What must hold after any fault: the checks every scenario of tests/faults ends with.

- **Converged to HEAD**: every node's latest report on the broker says Synced at the
  head revision, and the status branch records each node so.
- **Generations only increase**: per node, no generation is ever issued for two
  different contents, the documents published live carry generations that never go
  down, the reports (what the edges accepted) never go back, and what the broker
  retains at the end is the newest generation ever issued.
- **No report lost**: the status branch ends with every node's latest report (state,
  revision, generation, digest).

Each check returns a list of problems (empty: it holds), so a failure names every node
and message at fault, not just the first. `status_entries` reads a status branch of
thousands of nodes in one `git cat-file --batch`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from shadow import Topics
from tests.support.mqtt import Message

SHOWN = 8  # problems listed per check before "... and N more"


def _git(remote: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], input=input, capture_output=True, check=True
    ).stdout


def status_summary(remote: Path, branch: str = "shoal-status") -> dict[str, Any] | None:
    """`summary.yaml` at the tip of the status branch (None before the first commit)."""
    try:
        text = _git(remote, "show", f"{branch}:summary.yaml")
    except subprocess.CalledProcessError:
        return None
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    return data if isinstance(data, dict) else None


def status_entries(remote: Path, branch: str = "shoal-status") -> dict[str, dict[str, Any]]:
    """Every `nodes/<node>.yaml` at the tip of the status branch, by node."""
    try:
        names = _git(remote, "ls-tree", "-r", "--name-only", branch, "nodes/").decode().split()
    except subprocess.CalledProcessError:
        return {}
    out = _git(
        remote, "cat-file", "--batch", input="".join(f"{branch}:{n}\n" for n in names).encode()
    )
    entries: dict[str, dict[str, Any]] = {}
    pos = 0
    for name in names:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        entry = yaml.load(out[header_end + 1 : header_end + 1 + size], Loader=yaml.CSafeLoader)
        pos = header_end + 2 + size
        entries[name[len("nodes/") : -len(".yaml")]] = entry
    return entries


def records_head(remote: Path, head: str, nodes: int) -> bool:
    """Cheap poll: the status summary counts `nodes` Synced nodes, all at `head`."""
    summary = status_summary(remote)
    if summary is None:
        return False
    at_head = (summary.get("revisions") or {}).get(head) or {}
    states = summary.get("states") or {}
    return at_head.get("nodes") == nodes and states.get("Synced") == nodes


def _parsed(messages: Iterable[Message], topics: Topics, channel: str) -> dict[str, list[Any]]:
    """node -> [(retained, payload dict)] of the messages on `channel`, in arrival order."""
    found: dict[str, list[Any]] = {}
    for message in messages:
        parsed = topics.parse(message.topic)
        if parsed is None or parsed[1] != channel or not message.payload:
            continue
        found.setdefault(parsed[0], []).append((message.retain, json.loads(message.payload)))
    return found


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= SHOWN:
        return problems
    return [*problems[:SHOWN], f"... and {len(problems) - SHOWN} more"]


def generation_problems(messages: Iterable[Message], topics: Topics) -> list[str]:
    """Generations only increase, per node, across what the broker delivered."""
    messages = list(messages)
    problems: list[str] = []
    for node, seen in sorted(_parsed(messages, topics, "desired").items()):
        contents: dict[int, str] = {}
        live_top = 0
        for retained, doc in seen:
            generation, digest = doc["generation"], doc["digest"]
            if contents.setdefault(generation, digest) != digest:
                problems.append(f"{node}: generation {generation} issued for two contents")
            if not retained:  # a live publish; a retained copy may be the broker's old save
                if generation < live_top:
                    problems.append(f"{node}: published generation {generation} after {live_top}")
                live_top = max(live_top, generation)
        newest = max(contents)
        last_retained = seen[-1][1]["generation"]
        if last_retained != newest:
            problems.append(
                f"{node}: the broker ends with generation {last_retained}, not the newest "
                f"issued {newest}"
            )
    for node, seen in sorted(_parsed(messages, topics, "reported").items()):
        top = 0
        for retained, doc in seen:
            generation = doc.get("observedGeneration") or 0
            if not retained and generation < top:
                problems.append(f"{node}: reported generation {generation} after {top}")
            top = max(top, generation) if not retained else top
    return _listed(problems)


def convergence_problems(
    latest_reports: Mapping[str, bytes | None],
    entries: Mapping[str, Mapping[str, Any]],
    head: str,
    latest_desired: Mapping[str, bytes | None] | None = None,
) -> list[str]:
    """Every node reports Synced at `head`, its Desired document (when given) is at `head`,
    and the status branch records exactly its latest report (none lost)."""
    problems: list[str] = []
    for node in sorted(latest_reports):
        payload = latest_reports[node]
        if not payload:
            problems.append(f"{node}: no report on the broker")
            continue
        report = json.loads(payload)
        if report["state"] != "Synced" or report["revision"] != head:
            problems.append(
                f"{node}: reports {report['state']} at {report['revision'][:7]}, "
                f"not Synced at {head[:7]} ({report.get('message', '')})"
            )
        if latest_desired is not None:
            desired = json.loads(latest_desired.get(node) or b"{}")
            if desired.get("revision") != head:
                problems.append(f"{node}: the broker holds Desired at {desired.get('revision')}")
        entry = entries.get(node)
        if entry is None:
            problems.append(f"{node}: not on the status branch")
            continue
        observed = entry.get("observed") or {}
        kept = (entry.get("state"), observed.get("revision"), observed.get("generation"))
        latest = (report["state"], report["revision"], report["observedGeneration"])
        if kept != latest or observed.get("digest") != report["observedDigest"]:
            problems.append(f"{node}: the status branch records {kept}, its latest report {latest}")
    return _listed(problems)
