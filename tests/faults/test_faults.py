"""Kill or stop each part of a running fleet once; it converges to HEAD with nothing lost.

Each test runs one scenario of tests/faults/scenarios.py with real processes (the
controller, Mosquitto, edge agents against KubeSim, simulated edges for size) and
asserts, besides what is particular to it: every node Synced at HEAD on the broker and
on the status branch, generations that only increase, and no report lost. The time it
took to converge is printed (`pytest -s` or `-rP` shows it; `python -m bench.faults`
prints them all, with baselines).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import scenarios


def record(outcome: scenarios.Outcome, record_property: pytest.RecordProperty) -> None:
    print(outcome)
    record_property("seconds_to_converge", round(outcome.seconds, 2))


def test_controller_killed_mid_publish_resends_the_rest_with_the_same_generations(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.controller_killed_mid_publish(tmp_path), record_property)


def test_broker_killed_comes_back_from_its_persistence_file_and_the_fleet_converges(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.broker_killed(tmp_path), record_property)


def test_edge_killed_mid_apply_applies_the_stored_document_on_restart(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.edge_killed_mid_apply(tmp_path), record_property)


def test_edge_killed_mid_prune_finishes_the_prune_on_restart(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.edge_killed_mid_prune(tmp_path), record_property)


def test_a_commit_pushed_while_the_broker_is_down_for_a_minute_reaches_every_node(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.broker_down_while_a_commit_lands(tmp_path), record_property)


def test_controller_killed_between_status_commit_and_push_pushes_it_on_restart(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.controller_killed_mid_status_commit(tmp_path), record_property)


def test_controller_killed_while_git_holds_a_lock_removes_the_lock_and_goes_on(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    record(scenarios.controller_killed_while_git_holds_a_lock(tmp_path), record_property)
