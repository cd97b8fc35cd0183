"""The publisher's backlog: oldest first, one document per topic, the newest winning."""

from __future__ import annotations

import random

from controller.service.backlog import Backlog


def test_a_newer_item_replaces_the_waiting_one_and_keeps_its_place() -> None:
    backlog: Backlog[int] = Backlog()
    backlog.add("a", 1)
    backlog.add("b", 1)
    backlog.add("a", 2)
    assert len(backlog) == 2 and backlog.superseded == 1
    assert backlog.take(1) == [("a", 2)]
    backlog.add("a", 3)  # a was taken already: this one waits behind b
    assert backlog.take(5) == [("b", 1), ("a", 3)]
    assert len(backlog) == 0 and backlog.take(5) == []


def test_adding_many_is_adding_each_in_turn() -> None:
    rng = random.Random(14)
    for _ in range(300):
        one, many = Backlog[float](), Backlog[float]()
        for _ in range(rng.randint(1, 5)):
            items = [(f"t{rng.randint(0, 6)}", rng.random()) for _ in range(rng.randint(0, 6))]
            for topic, item in items:
                one.add(topic, item)
            many.add_many(items)
            taken = rng.randint(0, 4)
            assert one.take(taken) == many.take(taken)
            assert (len(one), one.superseded) == (len(many), many.superseded)
        assert one.take(100) == many.take(100)
