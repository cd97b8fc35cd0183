"""`shoal edge --config edge.yaml`: the file sets what flags would, flags win, and a bad
file gets one message naming the file, the line and the field."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edge.cli import DEFAULTS, add_parser
from edge.config import ConfigError, merge, read_config
from shoal.cli import main as shoal

GOOD = """\
# written by shoal provision
node: paris-gw-01
broker: mqtts://broker.example.com:8883
caFile: ca.crt
certFile: node.crt
keyFile: node.key
inCluster: true
reportInterval: 15
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["edge", *argv])


def test_the_file_fills_in_what_flags_do_not_say(tmp_path: Path) -> None:
    (tmp_path / "edge.yaml").write_text(GOOD)
    args = parse("--report-interval", "5")
    merge(args, read_config(tmp_path / "edge.yaml"), DEFAULTS)
    assert args.node == "paris-gw-01"
    assert args.broker == "mqtts://broker.example.com:8883"
    assert args.cert_file == str(tmp_path / "node.crt")  # relative to the file's folder
    assert args.in_cluster is True
    assert args.report_interval == 5.0  # the flag wins
    assert args.reconcile_interval == DEFAULTS["reconcile_interval"]
    assert args.apply_concurrency == 1  # the default: one by one


def test_apply_concurrency_comes_from_the_file_unless_the_flag_says(tmp_path: Path) -> None:
    (tmp_path / "edge.yaml").write_text(GOOD + "applyConcurrency: 4\n")
    for argv, expected in (((), 4), (("--apply-concurrency", "2"), 2)):
        args = parse(*argv)
        merge(args, read_config(tmp_path / "edge.yaml"), DEFAULTS)
        assert args.apply_concurrency == expected


def test_a_kubeconfig_flag_overrides_the_files_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "edge.yaml").write_text(GOOD)
    args = parse("--kubeconfig", "/tmp/k.yaml")
    merge(args, read_config(tmp_path / "edge.yaml"), DEFAULTS)
    assert (args.kubeconfig, args.in_cluster) == ("/tmp/k.yaml", False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("reportInterval: 15", "reportInterval: 0"),
            ":8: reportInterval: must be above 0",
        ),
        (
            GOOD.replace("node: paris-gw-01", "node: Paris GW"),
            ":2: node: 'Paris GW' is not a valid node name",
        ),
        (GOOD + "brokr: x\n", ":9: brokr: unknown setting"),
        (GOOD + "applyConcurrency: 0\n", ":9: applyConcurrency: "),
        (GOOD.replace("node: paris-gw-01\n", ""), ":1: node: the node's name is missing"),
        (GOOD.replace("inCluster: true", "inCluster: [yes"), ":7: invalid YAML"),
        (
            GOOD.replace("broker: mqtts", "broker: http"),
            ":3: broker: 'http://broker.example.com:8883' must start",
        ),
    ],
)
def test_a_bad_file_is_named_with_its_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value).startswith(f"{path}{expected}"), str(caught.value)


def test_shoal_edge_with_a_bad_file_says_where_and_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(GOOD.replace("reportInterval: 15", "reportInterval: -1"))
    assert shoal(["edge", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: {path}:8: reportInterval: must be above 0 seconds, got -1"
    ]
    assert shoal(["edge", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert f"{tmp_path / 'missing.yaml'}: no such file" in capsys.readouterr().err


def test_an_expired_node_certificate_stops_the_agent_naming_the_file(
    tmp_path: Path, capsys
) -> None:
    import datetime as dt

    from controller.identity.authority import Authority

    authority = Authority.init(tmp_path / "ca", "test CA")
    issued = authority.issue("paris-gw-01", days=1)
    (tmp_path / "node.key").write_bytes(issued.key)
    (tmp_path / "ca.crt").write_bytes(authority.cert_pem)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(issued.cert)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    expired = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())
        .serial_number(1)
        .not_valid_before(past)
        .not_valid_after(past + dt.timedelta(days=1))
        .sign(authority.key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "node.crt").write_bytes(expired.public_bytes(Encoding.PEM))
    (tmp_path / "edge.yaml").write_text(GOOD)
    assert shoal(["edge", "--config", str(tmp_path / "edge.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'node.crt'}: this node's certificate expired on" in err
