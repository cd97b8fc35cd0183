"""Waves from a policy: stable hash order, shares of the remaining nodes, selectors."""

from __future__ import annotations

from controller.fleet.rollout import parse_policy, seconds
from controller.rollout.planning import plan_waves, rank


def nodes(count: int, **tags: str) -> dict[str, dict[str, str]]:
    return {f"gw-{i:03d}": dict(tags) for i in range(count)}


def test_shares_take_of_the_remaining_nodes_and_cover_everyone() -> None:
    policy = parse_policy({"waves": ["10%", "50%", "100%"]}, "fleet.yaml")
    waves = plan_waves(policy, nodes(100))
    assert [len(w.nodes) for w in waves] == [10, 45, 45]
    every = [n for w in waves for n in w.nodes]
    assert sorted(every) == sorted(nodes(100))


def test_the_same_nodes_go_first_every_time_whatever_the_order_given() -> None:
    policy = parse_policy({"waves": ["5%"]}, "fleet.yaml")
    fleet = nodes(200)
    first = plan_waves(policy, fleet)[0].nodes
    reordered = dict(reversed(list(fleet.items())))
    assert plan_waves(policy, reordered)[0].nodes == first
    assert list(first) == sorted(fleet, key=rank)[:10]
    # Adding nodes does not reshuffle the ones already first (only pushes some later).
    bigger = {**fleet, **{f"new-{i}": {} for i in range(20)}}
    assert set(plan_waves(policy, bigger)[0].nodes) <= set(sorted(bigger, key=rank)[:11])


def test_selector_waves_and_a_last_wave_for_the_rest() -> None:
    fleet = {**nodes(3, ring="canary"), **{f"paris-{i}": {"site": "paris"} for i in range(6)}}
    policy = parse_policy({"waves": ["ring=canary", {"share": "50%", "manual": True}]}, "f")
    waves = plan_waves(policy, fleet)
    assert [w.what for w in waves] == ["ring=canary", "50% (manual)", "rest"]
    assert set(waves[0].nodes) == {"gw-000", "gw-001", "gw-002"}
    assert len(waves[1].nodes) == 3 and waves[1].manual
    assert len(waves[2].nodes) == 3 and not waves[2].manual


def test_empty_waves_are_dropped_and_a_small_share_takes_at_least_one() -> None:
    policy = parse_policy({"waves": ["ring=canary", "1%", "100%"]}, "f")
    waves = plan_waves(policy, nodes(5))
    assert [len(w.nodes) for w in waves] == [1, 4]


def test_durations_and_amounts() -> None:
    assert seconds("5m") == 300 and seconds("0.2s") == 0.2 and seconds(90) == 90
    assert seconds("250ms") == 0.25 and seconds("1h") == 3600
    policy = parse_policy({"maxUnavailable": "20%", "failureThreshold": 2}, "f")
    assert policy.max_unavailable.of(10) == 2 and policy.failure_threshold.of(10) == 2
    assert policy.waves[0].share == 100.0  # no waves: one wave, all at once, still judged
