"""Ansible as the oracle: translate shoal fleets into one Ansible project, run the real
`ansible-playbook`, read back what each role's templates see on each host.

The translation (docs/fleet-repository.md, "Variables", has the table):

- fleet vars -> `group_vars/all`;
- each group -> an inventory group with `ansible_group_priority` (set in the
  inventory: Ansible reads it nowhere else) whose hosts are the nodes shoal's selector
  matches, and `group_vars/<group>`;
- node vars -> `host_vars/<node>`;
- each app -> a role with `defaults/main.yml` and one task, a `debug` of the same
  expression the shoal app's template renders, run by a play of its own
  (`connection: local`, no facts) over the nodes the app's selector matches. One role
  per play: roles listed together in a play's `roles:` see each other's defaults, and
  an app's defaults are seen by its own templates only. (One play including each
  host's roles with `include_role` would keep them private too, but costs Ansible
  half as much again.)

One `ansible-playbook` run costs about a second of start-up, so `project` can put
several fleets in one run. `group_vars/all` is global to a run, so there each fleet's
vars go to a group of its own, `f<seed>`, parent of the fleet's groups (named
`f<seed>_<group>`: a common prefix keeps their order by name) and of its hosts. Ansible
sorts a host's groups by depth before priority, so that group sits below every group of
the fleet and above nothing — where `all` sits. A fleet alone in a run is translated
literally, with `group_vars/all` and the groups' own names; the suite runs some fleets
both ways.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.fleet.model import Fleet
from tests.conformance.fleets import FleetSpec, dump_expression

CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


@dataclass(frozen=True)
class LoadedFleet:
    """A fleet as loaded by shoal, with its spec (the seed names its hosts)."""

    spec: FleetSpec
    fleet: Fleet


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def project(root: Path, fleets: list[LoadedFleet]) -> Path:
    """Write one Ansible project for `fleets` under `root`; returns the playbook."""
    literal = len(fleets) == 1
    inventory = root / "inventory"
    children: dict[str, Any] = {}
    plays: list[dict[str, Any]] = []
    all_hosts: dict[str, Any] = {}
    for entry in fleets:
        spec, fleet = entry.spec, entry.fleet
        prefix = "" if literal else f"{spec.name}_"
        groups: dict[str, Any] = {}
        for group in fleet.groups.values():
            members = [n.name for n in fleet.nodes.values() if group.selector.matches(n.tags)]
            groups[prefix + group.name] = {
                "vars": {"ansible_group_priority": group.priority},
                "hosts": {name: None for name in members},
            }
            _dump(inventory / "group_vars" / f"{prefix}{group.name}.yml", group.vars)
        for node in fleet.nodes.values():
            _dump(inventory / "host_vars" / f"{node.name}.yml", node.vars)
        hosts = {name: None for name in sorted(fleet.nodes)}
        if literal:
            _dump(inventory / "group_vars" / "all.yml", fleet.vars)
            children.update(groups)
            all_hosts.update(hosts)
        else:
            _dump(inventory / "group_vars" / f"{spec.name}.yml", fleet.vars)
            children[spec.name] = {"hosts": hosts, "children": groups}
        task = {
            "ansible.builtin.debug": {
                "msg": "{{ [inventory_hostname, role_name, "
                + dump_expression(spec.variable_names())
                + "] | to_json }}"
            }
        }
        for app in fleet.apps.values():
            role = prefix + app.name
            _dump(root / "roles" / role / "defaults" / "main.yml", app.vars)
            _dump(root / "roles" / role / "tasks" / "main.yml", [task])
            members = [n.name for n in fleet.nodes.values() if app.selector.matches(n.tags)]
            if members:
                plays.append(
                    {
                        "name": f"{spec.name} {app.name}",
                        "hosts": members,
                        "gather_facts": False,
                        "connection": "local",
                        "roles": [role],
                    }
                )
    _dump(inventory / "hosts.yml", {"all": {"hosts": all_hosts, "children": children}})
    playbook = root / "playbook.yml"
    _dump(playbook, plays)
    return playbook


def environment(root: Path) -> dict[str, str]:
    """A clean Ansible environment under `root`: no user config, our callback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    home = root / "home"
    home.mkdir(exist_ok=True)
    config = root / "ansible.cfg"
    config.write_text("[defaults]\n")  # every setting at Ansible's default but these:
    env.update(
        HOME=str(home),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_LOCAL_TEMP=str(root / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(root / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_STDOUT_CALLBACK="shoal_dump",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    return env


class OracleError(AssertionError):
    """ansible-playbook failed or reported a failed task."""


def run(root: Path, playbook: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Run `playbook`; returns (host, role) -> the variables that role's task saw."""
    completed = subprocess.run(
        [sys.executable, "-m", "ansible", "playbook", "-i", "inventory", playbook.name],
        cwd=root,
        env=environment(root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise OracleError(
            f"ansible-playbook exited {completed.returncode} in {root}:\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    report = json.loads(lines[-1])
    if report["failures"]:
        raise OracleError(f"ansible tasks failed in {root}: {report['failures'][:5]}")
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for msg in report["seen"]:
        host, role, pairs = json.loads(msg)
        seen[(host, role)] = dict(pairs)
    return seen
