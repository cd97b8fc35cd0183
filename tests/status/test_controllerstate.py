"""controller.yaml from the controller's facts: what it holds, what the commit says, and
the rollout engine's status at its seam (a plain function, as `rollout_status` is)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from controller.service.reconciler import RevisionError
from controller.status import StatusWriter
from controller.status.controllerstate import (
    ControllerRecord,
    build_record,
    controller_facts,
    headline,
    with_record,
)
from tests.status.conftest import git
from tests.support.waiting import wait_until

GOOD, BAD, NEXT = "2" * 40, "9" * 40, "3" * 40
PROBLEM = "apps/web/templates/10-configmap.yaml.j2:3: undefined variable 'web_replica'"


def rollout(
    state: str = "Baking",
    decision: str = "web 1.5: wave 2/4 (50 nodes) healthy, baking 5m",
    **counts: int,
) -> dict[str, Any]:
    return {
        "web": {
            "revision": NEXT,
            "from": GOOD,
            "state": state,
            "wave": 2,
            "waves": 4,
            "counts": {"wave": 50, "updated": 48, "ready": 47, "failed": 1, "offline": 2, **counts},
            "decision": decision,
            "since": "2026-12-01T22:30:00Z",
        }
    }


def controller(
    seen: str,
    good: str | None,
    error: RevisionError | None = None,
    rollouts: Callable[[], dict[str, Any]] = dict,
) -> SimpleNamespace:
    return SimpleNamespace(
        last_revision=seen,
        reconciler=SimpleNamespace(last_good=good, last_error=error),
        rollout_status=rollouts,
    )


def test_a_rejected_head_names_its_problem_and_the_revision_nodes_stay_on() -> None:
    facts = controller_facts(controller(BAD, GOOD, RevisionError(BAD, (PROBLEM, "x.yaml:1: y"))))
    assert facts is not None
    record = build_record(facts, None, "2026-12-01T22:00:00Z")
    assert record["seen"] == {"revision": BAD, "time": "2026-12-01T22:00:00Z"}
    assert record["served"]["revision"] == GOOD
    assert record["rejected"]["problems"] == [PROBLEM, "x.yaml:1: y"]
    assert headline(record) == (
        f"HEAD 9999999 rejected: {PROBLEM} (and 1 more problem) - nodes stay on 2222222"
    )
    # An older rejection is history once a newer revision is good.
    facts = controller_facts(controller(NEXT, NEXT, RevisionError(BAD, (PROBLEM,))))
    assert facts is not None
    record = build_record(facts, record, "2026-12-01T22:05:00Z")
    assert "rejected" not in record and headline(record) == "serving 3333333 (HEAD)"
    assert record["served"]["since"] == "2026-12-01T22:05:00Z"


def test_times_alone_are_no_change_and_a_restart_keeps_what_was_served() -> None:
    error = RevisionError(BAD, (PROBLEM,))
    record = ControllerRecord(lambda: controller_facts(controller(BAD, GOOD, error)))
    assert record.refresh() and record.pending
    change = with_record(None, record)
    assert change is not None
    record.mark_committed(change.files)
    assert not record.pending

    # Restarted: the same rejection again (a new time), and no good revision in this run.
    again = RevisionError(BAD, (PROBLEM,), time=error.time + 60)
    restarted = ControllerRecord(lambda: controller_facts(controller(BAD, None, again)))
    restarted.load_committed(change.files["controller.yaml"])
    assert not restarted.refresh() and not restarted.pending
    assert restarted.current is not None and restarted.current["served"]["revision"] == GOOD


def test_a_new_rollout_decision_is_the_first_line_of_the_status_commit() -> None:
    state = {"rollouts": rollout()}
    record = ControllerRecord(
        lambda: controller_facts(controller(NEXT, NEXT, rollouts=lambda: state["rollouts"]))
    )
    assert record.refresh()
    change = with_record(None, record)
    assert change is not None
    assert change.message.splitlines()[0] == "web 1.5: wave 2/4 (50 nodes) healthy, baking 5m"
    assert "serving 3333333 (HEAD)" in change.message
    assert yaml.safe_load(change.files["controller.yaml"] or "")["rollouts"] == rollout()
    record.mark_committed(change.files)

    state["rollouts"] = rollout(ready=48)  # counts moved, same decision: still a commit
    assert record.refresh()
    change = with_record(None, record)
    assert change is not None
    assert change.message.splitlines()[0].startswith("rollout web: Baking, wave 2/4, 3333333")
    record.mark_committed(change.files)

    halted = "web 1.5: halted at wave 2: 3 of 5 failed (paris-gw-01: ImagePullBackOff)"
    state["rollouts"] = rollout("Halted", halted)
    nodes = SimpleNamespace(
        files={"nodes/a.yaml": "x"},
        message="1 failed: a web\n\na: Failed\n",
        entries={},
        removed=(),
    )
    assert record.refresh()
    change = with_record(nodes, record)  # type: ignore[arg-type]
    assert change is not None
    lines = change.message.splitlines()
    assert lines[0] == f"{halted}; 1 failed: a web" and "a: Failed" in lines
    assert set(change.files) == {"nodes/a.yaml", "controller.yaml"}


def test_the_writer_commits_controller_yaml_with_the_decision_as_subject(
    remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    state = {"rollouts": rollout()}
    facts = lambda: controller_facts(controller(NEXT, NEXT, rollouts=lambda: state["rollouts"]))  # noqa: E731

    def subjects() -> list[str]:
        try:
            return git(remote, "log", "--format=%s", "shoal-status").splitlines()
        except Exception:
            return []

    writer = make_writer(controller_state=facts)
    wait_until(lambda: subjects(), 20, interval=0.1)
    assert subjects() == ["web 1.5: wave 2/4 (50 nodes) healthy, baking 5m"]
    state["rollouts"] = rollout("WaitingForPromotion", "web 1.5: wave 3/4 waits for promotion")
    wait_until(lambda: len(subjects()) == 2, 20, interval=0.1)
    assert subjects()[0] == "web 1.5: wave 3/4 waits for promotion"
    record = yaml.safe_load(git(remote, "show", "shoal-status:controller.yaml"))
    assert record["rollouts"]["web"]["state"] == "WaitingForPromotion"
    writer.stop()

    # A restarted writer with nothing new to say commits nothing.
    again = make_writer(work="work2", controller_state=facts)
    again.flush()
    assert len(subjects()) == 2
