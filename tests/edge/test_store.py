"""The local store survives restarts, is written atomically, and is held by one agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.runtime import ObjectRef
from edge.store import AppInventory, Inventory, Store, StoreError
from tests.edge.documents import app, configmap, document


def test_the_desired_document_and_inventory_survive_a_restart(tmp_path: Path) -> None:
    doc = document("edge-001", {"web": app("web", configmap("a"))}, 5)
    ref = ObjectRef("v1", "ConfigMap", "web", "a")
    with Store(tmp_path / "state") as store:
        store.save_desired(doc)
        store.save_inventory(Inventory({"web": AppInventory([ref], "sha256:x")}, doc.digest))
    with Store(tmp_path / "state") as store:
        assert store.load_desired() == doc
        inventory = store.load_inventory()
    assert inventory.apps["web"].objects == [ref]
    assert inventory.applied_digest == doc.digest
    leftovers = [p.name for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_corrupt_store_is_ignored_not_fatal(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.desired_path.write_text('{"apiVersion": "shoal/v1", "kind": "Desi')
        store.inventory_path.write_text("[]")
        assert store.load_desired() is None
        assert store.load_inventory() == Inventory()


def test_two_agents_cannot_share_a_state_dir(tmp_path: Path) -> None:
    with Store(tmp_path), pytest.raises(StoreError, match="in use by another"):
        Store(tmp_path).open()
    Store(tmp_path).open().close()  # released on close


def test_the_inventory_file_is_json_one_app_a_line(tmp_path: Path) -> None:
    apps = {
        name: AppInventory([ObjectRef("v1", "ConfigMap", name, f"cm-{i}") for i in range(3)], "d")
        for name in ("web", "db", "cache")
    }
    with Store(tmp_path) as store:
        store.save_inventory(Inventory(apps, "sha256:node"))
        text = store.inventory_path.read_text()
        assert store.load_inventory() == Inventory(apps, "sha256:node")
    assert json.loads(text)["apps"]["db"]["objects"][2]["name"] == "cm-2"
    assert [line.split(":")[0].strip() for line in text.splitlines()[2:5]] == [
        '"cache"',
        '"db"',
        '"web"',
    ]
