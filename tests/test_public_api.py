"""The public surfaces, pinned: the shadow contract, transport, and each controller room.

A name added to or dropped from an `__all__` fails here until this file says so too:
changing what the other side, the other rooms or the commands may rely on is a
decision, not an accident. docs/ARCHITECTURE.md says what each room is for.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "shadow": [
        "ADOPT_ANNOTATION",
        "API_VERSION",
        "APP_LABEL",
        "APP_STATES",
        "DEFAULT_PREFIX",
        "MANAGED_BY",
        "MANAGED_BY_LABEL",
        "NODE_STATES",
        "AgentRelease",
        "AgentUpdate",
        "AppState",
        "AppStatus",
        "Channel",
        "DesiredApp",
        "DesiredDocument",
        "DocumentError",
        "NodeInfo",
        "NodeState",
        "Rejection",
        "ReleaseError",
        "ReportedDocument",
        "Resource",
        "ResourceStatus",
        "Topics",
        "apps_digest",
        "canonical_array",
        "canonical_json",
        "canonical_object",
        "digest",
        "digest_bytes",
        "is_newer",
        "is_valid_node_name",
        "next_generation",
        "node_digest",
        "now_ms",
        "parse_json",
        "shoal_labels",
        "utc_now",
    ],
    "transport": [
        "BrokerOptions",
        "BrokerURLError",
        "BrokerUnavailable",
        "EmbeddedBroker",
        "add_broker_arguments",
        "describe_disconnect",
        "make_client",
        "positive_seconds",
        "replace_atomically",
        "sync_folder",
    ],
    "controller.dashboard": [
        "ControllerState",
        "Dashboard",
        "FleetState",
    ],
    "controller.fleet": [
        "TEMPLATE_SUFFIX",
        "YAML_SUFFIXES",
        "App",
        "Fleet",
        "FleetError",
        "Group",
        "Layer",
        "MergedVars",
        "Node",
        "Problem",
        "Selector",
        "SelectorIndex",
        "UsableFleet",
        "YamlSyntaxError",
        "agent_release",
        "load_all",
        "load_fleet",
        "load_usable",
        "merge_values",
        "node_vars",
        "parse_selector",
        "sort_key",
    ],
    "controller.render": [
        "Baseline",
        "DesiredEncoder",
        "FleetRender",
        "RenderCache",
        "Rendered",
        "RepositoryCheck",
        "check_repository",
        "load_and_render",
        "render_changes",
        "render_fleet",
        "render_node",
    ],
    "controller.review": [
        "WORKING_TREE",
        "FleetDiff",
        "FleetRepository",
        "RenderFailed",
        "Revision",
        "diff_revisions",
        "failure_json",
        "failure_markdown",
        "format_json",
        "format_markdown",
        "format_text",
        "working_revision",
    ],
    "controller.service": [
        "DEFAULT_INFLIGHT",
        "Controller",
        "ControllerSettings",
        "Ledger",
        "Publisher",
    ],
    "controller.status": [
        "DEFAULT_BRANCH",
        "DEFAULT_INTERVAL",
        "NODES_DIR",
        "SUMMARY_FILE",
        "ExpectedFleet",
        "FleetStatus",
        "StatusBook",
        "StatusBranch",
        "StatusChange",
        "StatusService",
        "StatusWriter",
        "expected_fleet",
        "fetch_status",
        "read_status",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_the_public_surface_is_exactly_the_pinned_list(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    assert len(set(module.__all__)) == len(module.__all__)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("room", sorted(p for p in PUBLIC if p.startswith("controller.")))
def test_a_room_offers_only_what_it_defines(room: str) -> None:
    """A room's surface is its own: nothing re-exported from another room or package."""
    module = importlib.import_module(room)
    foreign = [
        name
        for name in module.__all__
        if hasattr(getattr(module, name), "__module__")
        and not getattr(module, name).__module__.startswith(room + ".")
    ]
    assert foreign == []
