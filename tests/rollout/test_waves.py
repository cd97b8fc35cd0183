"""A change rolls out wave by wave, halts and rolls back on canary failures, survives a
controller restart, and obeys pause, resume, promote and abort committed to git."""

from __future__ import annotations

from tests.rollout.conftest import CANARIES, OTHERS, POLICY, Bench
from tests.support.controller import git, running_controller, web_app_with_rollout
from tests.support.waiting import wait_until

EXTRA = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {}\n"


def test_waves_open_in_order_and_later_waves_get_nothing_before_the_gate(running: Bench) -> None:
    sha = running.push("v2")
    # The canaries take v2, bake, then the rollout waits at wave 2's manual gate.
    status = running.wait_state("WaitingForPromotion")
    assert status["revision"] == sha and status["wave"] == 1 and status["waves"] == 3
    assert status["counts"] == {"wave": 2, "updated": 2, "ready": 2, "failed": 0, "offline": 0}
    assert "waiting for promotion to wave 2/3 (3 nodes)" in status["decision"]
    greetings = running.greetings()
    assert {greetings[n] for n in CANARIES} == {"v2"}
    assert {greetings[n] for n in OTHERS} == {"v1"}
    assert running.ever_sent("v2") == set(CANARIES)  # not even once to a later wave

    # Each document says which commit each app's render came from.
    revisions = running.app_revisions()
    assert {revisions[n] for n in CANARIES} == {sha}
    assert {revisions[n] for n in OTHERS} == {status["from"]} and status["from"] != sha

    # Another app (no policy) goes everywhere at once: the later waves' documents now hold
    # web at the previous commit and the rest at the new one.
    running.repo.write_yaml(
        "apps/extra/app.yaml",
        {"name": "extra", "version": "1", "selector": "", "namespace": "extra"},
    )
    running.repo.write("apps/extra/templates/cm.yaml.j2", EXTRA)
    extra = running.repo.commit_and_push("extra everywhere")
    running.controller.trigger("extra")
    wait_until(lambda: running.documents_at(extra) == 8, 20, message="extra everywhere")
    assert {running.greetings()[n] for n in OTHERS} == {"v1"}
    assert {running.app_revisions()[n] for n in OTHERS} == {status["from"]}
    assert running.state()["revision"] == sha  # a commit not touching web: same rollout

    running.shoal("rollout", "promote", "web", "--repo", str(running.repo.work))
    running.controller.trigger("test: promote pushed")
    done = running.wait_state("Complete")
    assert done["decision"] == "web v2: complete: 8 nodes in 3 waves"
    assert set(running.greetings().values()) == {"v2"}
    # The operator's commit is in the fleet's history, and was no new revision of web.
    log = git(running.repo.work, "log", "--format=%s", "-3")
    assert log.splitlines()[0].startswith("rollout: promote web")
    assert done["revision"] == sha


def test_canary_failure_rolls_the_canaries_back_and_nobody_else_gets_it(running: Bench) -> None:
    running.failing.add("v2")
    running.push("v2")
    status = running.wait_state("RolledBack")
    assert status["counts"]["failed"] >= 1  # the first failure is over the threshold (0)
    assert "rolled back at wave 1: " in status["decision"]
    assert "of 2 failed (canary-" in status["decision"]
    assert ": CrashLoopBackOff" in status["decision"]
    healthy, health = running.controller.health()  # what /healthz answers (200, degraded)
    assert healthy
    assert health["rollouts"]["web"]["state"] == "RolledBack"
    assert health["status"] == "degraded"
    assert any(
        p.startswith("rollout of web (") and "rolled back at wave 1" in p
        for p in health["problems"]
    )
    wait_until(lambda: set(running.greetings().values()) == {"v1"}, 20, message="rollback")
    assert running.ever_sent("v2") == set(CANARIES)

    # A fixing commit supersedes it: a new rollout from wave 1.
    sha = running.push("v3")
    status = running.wait_state("WaitingForPromotion", revision=sha)
    assert {running.greetings()[n] for n in OTHERS} == {"v1"}
    assert not running.controller.health()[1]["problems"]  # superseded: nothing stuck


def test_a_restarted_controller_resumes_at_the_same_wave_and_sends_nothing_backwards(
    bench: Bench,
) -> None:
    bench.start_edges(CANARIES + OTHERS)
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        wait_until(lambda: len(bench.greetings()) == 8, 30)
        sha = bench.push("v2")
        bench.wait_state("WaitingForPromotion")
    sent = len(bench.recorder.messages)
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        status = bench.wait_state("WaitingForPromotion", revision=sha)
        assert status["wave"] == 1
        wait_until(lambda: controller.last_revision == sha, 20)
        assert len(bench.recorder.messages) == sent  # nothing republished, nothing backwards
        bench.shoal("rollout", "promote", "web", "--repo", str(bench.repo.work))
        controller.trigger("test: promote pushed")
        bench.wait_state("Complete")
        assert set(bench.greetings().values()) == {"v2"}
        bench.controller = None


def test_an_offline_node_stops_blocking_after_the_timeout_and_converges_when_back(
    bench: Bench,
) -> None:
    policy = {"waves": ["ring=canary", "100%"], "offlineTimeout": "1s"}
    bench.repo.write_yaml("apps/web/app.yaml", {**_app("v1"), "rollout": policy})
    bench.repo.commit_and_push("offline timeout")
    bench.start_edges(["canary-1", *OTHERS])  # canary-2 is offline
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        wait_until(lambda: len(bench.greetings()) == 8, 30)
        bench.push("v2", policy)
        status = bench.wait_state("Complete", timeout=40)
        assert set(bench.greetings().values()) == {"v2"}
        assert status["counts"]["offline"] == 0  # the last wave's nodes all answered
        assert bench.edges is not None
        assert "canary-2" not in bench.edges.accepted
        late = type(bench.edges)(bench.broker.url, ["canary-2"], 1)
        try:  # back online: it takes the retained document with v2
            wait_until(lambda: "canary-2" in late.accepted, 20, message="canary-2 converges")
        finally:
            late.close()
        bench.controller = None


def test_supersede_pause_resume_and_abort_by_commit(running: Bench) -> None:
    work = str(running.repo.work)
    slow = {**POLICY, "bake": "60s"}  # long enough to act while a wave bakes
    running.push("v2", slow)
    running.wait_state("Baking")
    v3 = running.push("v3", slow)  # supersedes: wave 1 again, with v3
    running.wait_state("Baking", revision=v3, wave=1)
    greetings = running.greetings()
    assert {greetings[n] for n in CANARIES} == {"v3"}
    assert {greetings[n] for n in OTHERS} == {"v1"}
    running.shoal("rollout", "pause", "web", "--repo", work)
    running.controller.trigger("pause")
    running.wait_state("Paused")
    running.shoal("rollout", "promote", "web", "--repo", work)
    running.controller.trigger("promote while paused")
    wait_until(lambda: running.controller.last_revision == running.repo.head(), 20)
    assert running.state()["state"] == "Paused"
    assert {running.greetings()[n] for n in OTHERS} == {"v1"}  # paused: nothing opens
    running.shoal("rollout", "resume", "web", "--repo", work)
    running.controller.trigger("resume")
    # The promote taken while paused applies now: no bake, past the manual gate.
    running.wait_state("Baking", wave=2)
    assert sum(running.greetings()[n] == "v3" for n in OTHERS) == 3
    running.shoal("rollout", "abort", "web", "--repo", work)
    running.controller.trigger("abort")
    status = running.wait_state("Aborted")
    assert "aborted at wave 2" in status["decision"]
    # Everyone updated goes back to what they had: the canaries had v2 when v3 came.
    wait_until(
        lambda: (
            {running.greetings()[n] for n in CANARIES} == {"v2"}
            and {running.greetings()[n] for n in OTHERS} == {"v1"}
        ),
        20,
        message=f"abort: {running.greetings()}",
    )


def _app(greeting: str) -> dict[str, object]:
    return web_app_with_rollout(greeting, {})


def test_a_change_pushed_while_the_controller_was_down_still_rolls_out(bench: Bench) -> None:
    bench.start_edges(CANARIES + OTHERS)
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        wait_until(lambda: len(bench.greetings()) == 8, 30)
    bench.controller = None
    sha = bench.push("v2")  # nobody is watching
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        bench.wait_state("WaitingForPromotion", revision=sha)
        greetings = bench.greetings()
        assert {greetings[n] for n in CANARIES} == {"v2"}
        assert {greetings[n] for n in OTHERS} == {"v1"}
        assert bench.ever_sent("v2") == set(CANARIES)
        bench.controller = None


def test_a_halted_change_does_not_spread_through_an_unrelated_commit(running: Bench) -> None:
    running.failing.add("v2")
    running.push("v2", {**POLICY, "onFailure": "halt"})
    running.wait_state("Halted")
    # A node file the template reads changes: gw-1 renders differently, but the halted
    # change must not reach it (it joins the halted rollout's last wave).
    running.repo.write_yaml("nodes/gw-1.yaml", {"name": "gw-1", "tags": {"site": "lyon"}})
    sha = running.repo.commit_and_push("gw-1 moves to Lyon")
    running.controller.trigger("node change")
    wait_until(lambda: running.controller.last_revision == sha, 20)
    assert running.state()["state"] == "Halted"
    assert running.ever_sent("v2") == set(CANARIES)
