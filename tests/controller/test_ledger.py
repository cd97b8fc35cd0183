"""The publish ledger and the wire encoding: the rules that keep generations honest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from controller.render.payloads import DesiredEncoder
from controller.service.ledger import Ledger
from shadow import AgentRelease, DesiredApp, DesiredDocument
from shadow.signing import SigningKey, TrustedKeys


def test_ledger_survives_a_restart_and_tracks_confirmation(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    ledger = Ledger(path)
    ledger.issue({"a": (10, "sha256:a"), "b": (10, "sha256:b")})
    ledger.confirm("a", 10)
    ledger.confirm("b", 9)  # a PUBACK for an older generation confirms nothing
    ledger.save()

    again = Ledger(path)
    assert again.snapshot()["a"].confirmed
    assert again.unconfirmed() == ["b"]


def test_broker_documents_win_when_newer_and_confirm_when_equal(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    ledger.issue({"same": (5, "d1"), "older-on-broker": (7, "d2"), "newer-on-broker": (3, "d3")})
    ledger.merge_broker(
        {
            "same": (5, "d1"),
            "older-on-broker": (6, "x"),
            "newer-on-broker": (4, "d4"),
            "only-broker": (2, "d5"),
        }
    )
    snapshot = ledger.snapshot()
    assert snapshot["same"].confirmed
    assert not snapshot["older-on-broker"].confirmed  # ours never arrived: send it again
    assert snapshot["older-on-broker"].generation == 7
    assert (snapshot["newer-on-broker"].generation, snapshot["newer-on-broker"].digest) == (4, "d4")
    assert snapshot["only-broker"].confirmed


def test_unreadable_ledger_is_ignored_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    assert len(Ledger(path)) == 0


def test_fast_encoder_is_byte_identical_to_to_json() -> None:
    web = DesiredApp.build(
        "1.0",
        "web",
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "ü-config"},
                "data": {"b": "2", "a": 'é"\\'},
            }
        ],
    )
    api = DesiredApp.build(
        "2.0", "api", [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}}]
    )
    encoder = DesiredEncoder()
    documents = [
        DesiredDocument.build("node-1", "abc", 1, {"web": web, "api": api}),
        DesiredDocument.build("node-2", "abc", 2**53, {"web": web}),
        DesiredDocument.build("node-3", "abc", 3, {}),
        DesiredDocument("node-4", "abc", 4, {"web": web}, "sha256:x", signature="sig"),
        DesiredDocument.build("node-5", "abc", 5, {"web": web}, AgentRelease("0.2.0", image="e:1")),
    ]
    # Names, revisions and digests JSON writes as they are, or escapes: both ways.
    documents += [
        DesiredDocument("n.5:x/y+z=-", "r/é", 6, {"web": web}, 'sha256:"q"', signature="s\\t"),
        DesiredDocument("node-7", "", 7, {}, "", signature=""),
    ]
    for doc in documents:
        assert encoder.encode(doc) == doc.to_json()
    # Signed by the encoder: the signature covers exactly the bytes sent without it.
    signer = SigningKey.generate()
    signing = DesiredEncoder(signer)
    for doc in documents[:3]:
        payload = json.loads(signing.encode(doc))
        assert TrustedKeys([signer.public]).verify(payload) == signer.key_id
        assert signing.encode(doc) == DesiredDocument.from_dict(payload).to_json()


def test_saving_syncs_the_file_and_then_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename over the old ledger is durable only once the folder is fsynced."""
    synced: list[tuple[bool, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((stat.S_ISDIR(info.st_mode), info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "work" / "ledger.json"
    Ledger(path).issue({"a": (1, "sha256:a")})
    folder = os.stat(path.parent).st_ino
    assert [is_dir for is_dir, _ in synced] == [False, True]  # the file, then its folder
    assert synced[-1][1] == folder
    assert Ledger(path).snapshot()["a"].generation == 1
