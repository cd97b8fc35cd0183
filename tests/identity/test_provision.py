"""`shoal provision`: nodes registered in bulk as one commit on a new branch, an install
bundle per node, keys never in the repository, and bad input refused whole."""

from __future__ import annotations

import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from controller.identity.authority import Authority, common_name
from shadow.reportsigning import ReportKey, ReportSigner
from shoal.cli import main as shoal
from tests.support.controller import GIT_ENV, FleetRepo, git

BUNDLE_FILES = {
    "node.key",
    "age.key",
    "node.crt",
    "ca.crt",
    "edge.yaml",
    "shoal-edge.service",
    "kubernetes.yaml",
}


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetRepo:
    for key, value in GIT_ENV.items():
        if key.startswith("GIT_"):
            monkeypatch.setenv(key, value)
    return FleetRepo.create(tmp_path, {"paris-01": {"site": "paris"}})


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority.init(tmp_path / "ca", "test fleet CA")


def provision(fleet: FleetRepo, ca: Authority, out: Path, *args: str) -> int:
    return shoal(
        [
            "provision",
            str(fleet.work),
            *("--broker", "mqtts://mqtt.example.com:8883", "--out", str(out)),
            *("--ca-dir", str(ca.directory), *args),
        ]
    )


def branches(fleet: FleetRepo) -> list[str]:
    return git(fleet.work, "branch", "--format=%(refname:short)").splitlines()


def test_a_thousand_nodes_make_a_thousand_valid_bundles_and_one_commit(
    fleet: FleetRepo, ca: Authority, tmp_path: Path
) -> None:
    out = tmp_path / "bundles"
    assert provision(fleet, ca, out, "--count", "1000", "--tags", "site=paris,tier=edge") == 0
    branch = "provision/edge-0001-to-edge-1000"
    assert branch in branches(fleet)
    assert git(fleet.work, "rev-list", "--count", f"main..{branch}") == "1"
    added = git(fleet.work, "diff", "--name-only", f"main..{branch}").splitlines()
    assert len(added) == 1000 and all(p.startswith("nodes/edge-") for p in added)
    assert git(fleet.work, "status", "--porcelain") == ""  # the work tree is untouched
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(names) == 1000
    for name in names:
        folder = out / name
        assert {p.name for p in folder.iterdir()} == BUNDLE_FILES
        cert = x509.load_pem_x509_certificate((folder / "node.crt").read_bytes())
        cert.verify_directly_issued_by(ca.cert)
        assert common_name(cert) == name
        assert stat.S_IMODE((folder / "node.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((out / f"{name}.tar.gz").stat().st_mode) == 0o600
    with tarfile.open(out / "edge-0500.tar.gz") as tar:
        assert {m.name for m in tar.getmembers()} == {"edge-0500"} | {
            f"edge-0500/{f}" for f in BUNDLE_FILES
        }
    edge = yaml.safe_load((out / "edge-0500" / "edge.yaml").read_text())
    assert edge["node"] == "edge-0500" and edge["certFile"] == "node.crt"
    # No key in any commit of the repository.
    objects = subprocess.run(
        ["git", "-C", str(fleet.work), "log", "--all", "-p"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "PRIVATE KEY" not in objects and "AGE-SECRET-KEY" not in objects
    # Each node file records the recipient of the age identity its bundle holds.
    from pyrage import x25519

    identity = (out / "edge-0500" / "age.key").read_text().split()[-1]
    assert stat.S_IMODE((out / "edge-0500" / "age.key").stat().st_mode) == 0o600
    node_file = yaml.safe_load(git(fleet.work, "show", f"{branch}:nodes/edge-0500.yaml"))
    assert node_file["recipient"] == str(x25519.Identity.from_str(identity).to_public())
    assert edge["ageIdentities"] == ["age.key"]
    # ... and the public half of the key that signs its reports (the bundle's node.key).
    signer = ReportSigner.from_pem((out / "edge-0500" / "node.key").read_bytes())
    assert node_file["reportKey"] == signer.key_text()
    git(fleet.work, "checkout", "--quiet", branch)
    assert shoal(["validate", str(fleet.work)]) == 0


def test_a_csv_registers_its_nodes_with_their_tags(
    fleet: FleetRepo, ca: Authority, tmp_path: Path
) -> None:
    csv = tmp_path / "nodes.csv"
    csv.write_text("# name,tags\nlyon-01,site=lyon,model=rpi4\n\nlyon-02, site=lyon\n")
    assert provision(fleet, ca, tmp_path / "b", "--csv", str(csv), "--branch", "add-lyon") == 0
    node = yaml.safe_load(git(fleet.work, "show", "add-lyon:nodes/lyon-01.yaml"))
    assert node.pop("recipient").startswith("age1")
    assert ReportKey.from_text(node.pop("reportKey")).key_id
    assert node == {"name": "lyon-01", "tags": {"site": "lyon", "model": "rpi4"}}
    manifest = list(
        yaml.safe_load_all((tmp_path / "b" / "lyon-02" / "kubernetes.yaml").read_text())
    )
    kinds = [doc["kind"] for doc in manifest]
    assert kinds == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
    ]
    role = manifest[2]
    assert {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": role["rules"][1]["verbs"],
    } in role["rules"]
    assert "secrets" not in str(role["rules"])  # only what the fleet's apps apply
    assert (
        manifest[4]["stringData"]["node.crt"]
        == (tmp_path / "b" / "lyon-02" / "node.crt").read_text()
    )


def test_numbering_continues_after_the_fleets_own(
    fleet: FleetRepo, ca: Authority, tmp_path: Path
) -> None:
    fleet.write_yaml("nodes/edge-0007.yaml", {"name": "edge-0007"})
    fleet.commit("a seventh")
    assert provision(fleet, ca, tmp_path / "b", "--count", "2", "--tags", "site=x") == 0
    assert "provision/edge-0008-to-edge-0009" in branches(fleet)


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("lyon-01,site=lyon\nlyon-02,site\n", ":2: 'site' is not a tag (write key=value)"),
        ("lyon-01\nlyon-01,site=lyon\n", ":2: 'lyon-01' is a duplicate of {csv}:1"),
        ("lyon-01\nLyon_02!\n", ":2: 'Lyon_02!' is not a valid node name"),
        ("lyon-01\n\nparis-01\n", ":3: 'paris-01' is already in the fleet (nodes/paris-01.yaml)"),
        ("lyon-01,site=a b\n", ":1: tag 'site': 'a b' does not match"),
        ("shoal-controller\n", ":1: 'shoal-controller' is the controller's certificate name"),
    ],
)
def test_a_bad_csv_is_refused_naming_the_line_and_nothing_is_written(
    fleet: FleetRepo, ca: Authority, tmp_path: Path, capsys, csv_text: str, message: str
) -> None:
    csv = tmp_path / "nodes.csv"
    csv.write_text(csv_text)
    before = branches(fleet)
    assert provision(fleet, ca, tmp_path / "b", "--csv", str(csv)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {csv}{message.format(csv=csv)}"), err
    assert branches(fleet) == before
    assert not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b-")]


def test_missing_ca_key_non_empty_out_and_unknown_node_are_refused(
    fleet: FleetRepo, ca: Authority, tmp_path: Path, capsys
) -> None:
    (ca.directory / "ca.key").unlink()
    assert provision(fleet, ca, tmp_path / "b", "--count", "3") == 1
    assert f"{ca.directory / 'ca.key'}: no CA key here" in capsys.readouterr().err
    other = Authority.init(tmp_path / "ca2", "second CA")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    assert provision(fleet, other, busy, "--count", "3") == 1
    assert f"--out {busy}: not an empty folder" in capsys.readouterr().err
    assert provision(fleet, other, fleet.work / "bundles", "--count", "3") == 1
    assert "inside the fleet repository; keys must never enter it" in capsys.readouterr().err
    assert provision(fleet, other, tmp_path / "b", "--bundle-for", "paris-1") == 1
    assert "no node 'paris-1' in the fleet (did you mean 'paris-01'?)" in capsys.readouterr().err
    assert branches(fleet) == ["main"]
    assert not (tmp_path / "b").exists()


def test_a_bundle_for_a_node_already_in_the_fleet(
    fleet: FleetRepo, ca: Authority, tmp_path: Path
) -> None:
    old = ReportSigner.generate().key_text()
    fleet.write(
        "nodes/paris-01.yaml",
        f"# the gateway\nname: paris-01\ntags: {{site: paris}}\nreportKey: {old}\n",
    )
    fleet.commit("paris-01 had a key")
    assert provision(fleet, ca, tmp_path / "b", "--bundle-for", "paris-01") == 0
    signer = ReportSigner.from_pem((tmp_path / "b" / "paris-01" / "node.key").read_bytes())
    # The new key goes into git with a commit: the node file keeps everything else.
    assert branches(fleet) == ["main", "provision/rekey-paris-01"]
    text = git(fleet.work, "show", "provision/rekey-paris-01:nodes/paris-01.yaml")
    lines = text.splitlines()
    assert lines[:3] == ["# the gateway", "name: paris-01", "tags: {site: paris}"]
    assert lines[3].startswith("recipient: age1")
    assert lines[4:] == [f"reportKey: {signer.key_text()}"]
