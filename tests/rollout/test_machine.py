"""The rollout state machine: waves open on health, bake, gates, halt, rollback, pause."""

from __future__ import annotations

from controller.fleet.rollout import parse_policy
from controller.rollout import machine
from controller.rollout.machine import Rollout, WaveCounts
from controller.rollout.planning import PlannedWave


def rollout(**policy: object) -> Rollout:
    waves = [PlannedWave(("a", "b")), PlannedWave(("c", "d", "e", "f")), PlannedWave(("g",))]
    if policy.pop("manual", False):
        waves[1] = PlannedWave(waves[1].nodes, manual=True)
    r = Rollout("web", "1.5", "b" * 40, "a" * 40, parse_policy(dict(policy), "f"), waves)
    machine.step(r, WaveCounts(), 0.0)
    return r


def healthy(size: int) -> WaveCounts:
    return WaveCounts(wave=size, updated=size, ready=size)


def test_waves_open_one_by_one_on_health_and_bake() -> None:
    r = rollout(bake=5)
    assert (r.state, r.opened) == ("Progressing", 1)
    assert r.decision == "web 1.5: wave 1/3 (2 nodes) opened"
    assert not machine.step(r, WaveCounts(wave=2, updated=1, ready=1), 1.0).opened
    assert r.state == "Progressing"
    machine.step(r, healthy(2), 2.0)
    assert r.state == "Baking"
    assert r.decision == "web 1.5: wave 1/3 (2 nodes) healthy, baking 5s"
    assert machine.deadline(r) == 7.0
    assert not machine.step(r, healthy(2), 6.9).opened
    assert machine.step(r, healthy(2), 7.0).opened
    assert (r.state, r.opened) == ("Progressing", 2)
    machine.step(r, healthy(4), 8.0)
    machine.step(r, healthy(4), 13.0)
    machine.step(r, healthy(1), 14.0)  # no bake after the last wave
    assert r.state == "Complete"
    assert r.decision == "web 1.5: complete: 7 nodes in 3 waves"


def test_failure_over_the_threshold_halts_or_rolls_back() -> None:
    failing = WaveCounts(wave=2, updated=2, ready=1, failed=1, failures=[("b", "ImagePull")])
    r = rollout()
    assert not machine.step(r, failing, 1.0).republish
    assert r.state == "Halted"
    assert r.decision == "web 1.5: halted at wave 1: 1 of 2 failed (b: ImagePull)"
    r = rollout(onFailure="rollback")
    assert machine.step(r, failing, 1.0).reverted
    assert r.state == "RolledBack" and r.reverted
    assert "2 nodes back on aaaaaaa" in r.decision
    tolerant = rollout(failureThreshold=1)
    machine.step(tolerant, failing, 1.0)
    assert tolerant.opened == 2  # one failure tolerated: the wave counts healthy


def test_max_unavailable_lets_a_wave_go_with_nodes_still_progressing() -> None:
    r = rollout(maxUnavailable=1)
    machine.step(r, WaveCounts(wave=2, updated=1, ready=1), 1.0)
    assert r.opened == 2


def test_offline_nodes_stop_blocking_after_the_timeout() -> None:
    r = rollout(offlineTimeout=60)
    counts = WaveCounts(wave=2, updated=1, ready=1, offline=1)
    machine.step(r, counts, 30.0)
    assert r.opened == 1 and machine.deadline(r) == 60.0
    machine.step(r, counts, 60.0)
    assert r.opened == 2


def test_manual_gate_waits_for_promotion_and_pause_holds() -> None:
    r = rollout(manual=True, bake=100)
    machine.step(r, healthy(2), 1.0)
    machine.step(r, healthy(2), 1.0)
    assert r.state == "Baking"
    r.promoted = True  # promote opens the next wave now: no more bake, past its gate
    assert machine.step(r, healthy(2), 2.0).opened
    assert r.opened == 2
    gated = rollout(manual=True)
    machine.step(gated, healthy(2), 1.0)
    assert gated.state == "WaitingForPromotion" and gated.opened == 1
    assert "waiting for promotion to wave 2/3 (4 nodes)" in gated.decision
    gated.promoted = True
    assert machine.step(gated, healthy(2), 3.0).opened
    r.paused = True
    machine.step(r, healthy(4), 4.0)
    assert r.state == "Paused" and r.opened == 2
    r.paused = False
    machine.step(r, healthy(4), 5.0)
    assert r.state == "Baking"


def test_abort_sends_everyone_back_and_failure_halts_even_when_paused() -> None:
    r = rollout()
    assert machine.abort(r, 1.0).reverted
    assert r.state == "Aborted" and not r.active
    r = rollout()
    r.paused = True
    machine.step(r, WaveCounts(wave=2, updated=2, failed=2, failures=[("a", "x"), ("b", "y")]), 1)
    assert r.state == "Halted"


def test_a_report_counts_only_when_signed_by_the_key_git_records() -> None:
    from controller.rollout.engine import RolloutEngine
    from controller.rollout.observed import read_report
    from shadow import AppStatus, ReportedDocument
    from shadow.reportsigning import ReportSigner

    signer, forger = ReportSigner.generate(), ReportSigner.generate()
    report = ReportedDocument(
        "gw-1", 5, "sha256:" + "a" * 64, "r", "Synced", {"web": AppStatus("Ready")}
    )
    engine = RolloutEngine(None)
    engine.report_keys = {"gw-1": signer.key_text()}
    allowed, key = engine.report_key("gw-1")
    assert allowed and key is not None
    seen = read_report("gw-1", signer.signed_json(report), key)
    assert seen is not None and seen.apps["web"] == ("Ready", "")
    assert read_report("gw-1", forger.signed_json(report), key) is None  # forged
    assert read_report("gw-1", report.to_json(), key) is None  # unsigned
    assert read_report("gw-2", report.to_json()) is None  # another node's topic
    assert engine.report_key("gw-2") == (True, None)  # no key in git: counts, unverified
    engine.require_signature = True
    assert engine.report_key("gw-2") == (False, None)
