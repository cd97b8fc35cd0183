"""Each bad input from issue 2 through `shoal validate`: exit 1, one clear line naming
the file (and line, node, app, variable where known), no traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shoal.cli import main
from tests.support.render import FleetRepo

CASES: dict[str, tuple[Callable[[FleetRepo], object], str]] = {
    "broken YAML": (
        lambda r: r.write("nodes/paris-1.yaml", "name: paris-1\ntags: {site: paris\n"),
        "nodes/paris-1.yaml:3: invalid YAML: while parsing a flow mapping, "
        "did not find expected ',' or '}' (the construct started on line 2)",
    ),
    "schema violation": (
        lambda r: r.write("groups/paris.yaml", "selector: site=paris\npriority: high\n"),
        "groups/paris.yaml:2: priority: must be an integer, got a string ('high')",
    ),
    "unknown key": (
        lambda r: r.write("fleet.yaml", "name: test\nvariables: {}\n"),
        "fleet.yaml:2: unknown key 'variables' (allowed here: agent, kubernetesVersion, name, policy, render, reports, rollout, topicPrefix, vars)",
    ),
    "duplicate node name": (
        lambda r: r.node("paris-1", file="nodes/zz.yaml", site="nice"),
        "nodes/zz.yaml:1: name: duplicate node name 'paris-1': also defined in nodes/paris-1.yaml",
    ),
    "bad selector": (
        lambda r: r.group("rpi", "model notin rpi4"),
        "groups/rpi.yaml:1: selector: bad selector 'model notin rpi4': expected '(' to start "
        "a list of values (at character 13)",
    ),
    "template syntax error": (
        lambda r: r.app("sensors", {"ds.yaml.j2": "a: {{ replicas }\n"}, selector="site=lyon"),
        "apps/sensors/templates/ds.yaml.j2:1: template syntax error: unexpected '}' (app sensors)",
    ),
    "undefined variable": (
        lambda r: r.app("sensors", {"ds.yaml.j2": "a: 1\nb: {{ poll }}\n"}, selector="site=lyon"),
        "apps/sensors/templates/ds.yaml.j2:2: undefined variable 'poll' (node lyon-1, app sensors)",
    ),
    "sandbox escape": (
        lambda r: r.app(
            "sensors", {"ds.yaml.j2": "{{ ''.__class__.__mro__ }}"}, selector="site=lyon"
        ),
        "apps/sensors/templates/ds.yaml.j2:1: not allowed in the template sandbox: access to "
        "attribute '__class__' of 'str' object is unsafe. (node lyon-1, app sensors)",
    ),
    "file outside the app": (
        lambda r: r.app(
            "sensors", {"ds.yaml.j2": "{{ file('../../etc/passwd') }}"}, selector="site=lyon"
        ),
        "apps/sensors/templates/ds.yaml.j2:1: file('../../etc/passwd'): only files inside "
        "apps/sensors/ can be read (use a relative path without '..') (node lyon-1, app sensors)",
    ),
    "not a Kubernetes object": (
        lambda r: r.app("sensors", {"ds.yaml.j2": "kind: DaemonSet\n"}, selector="site=lyon"),
        "apps/sensors/templates/ds.yaml.j2: rendered document 1 is not a Kubernetes object: "
        "apiVersion is missing or not a string (node lyon-1, app sensors)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_line(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    break_it, expected = CASES[case]
    break_it(fleet_repo)
    assert main(["validate", str(fleet_repo.root)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [expected]
    assert "Traceback" not in out + err


def test_debug_changes_nothing_for_bad_input(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write("fleet.yaml", "name: test\nvariables: {}\n")
    assert main(["validate", str(fleet_repo.root), "--debug"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("fleet.yaml:2: unknown key 'variables'")
    assert "Traceback" not in err
