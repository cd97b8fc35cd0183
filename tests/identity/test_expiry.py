"""`shoal status` warns about node identities that expire within 30 days: each edge
reports its certificate's notAfter in nodeInfo, and the status branch keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.commands.status import expiring_certificates
from shadow import NodeInfo, ReportedDocument


def iso(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_nodes_expiring_within_30_days_are_listed_soonest_first() -> None:
    rows = [
        {"node": "fine", "nodeInfo": {"certificateNotAfter": iso(200)}},
        {"node": "soon", "nodeInfo": {"certificateNotAfter": iso(12.5)}},
        {"node": "gone", "nodeInfo": {"certificateNotAfter": iso(-2.5)}},
        {"node": "no-cert", "nodeInfo": {}},
        {"node": "garbled", "nodeInfo": {"certificateNotAfter": "next tuesday"}},
    ]
    assert [(n, d) for n, _, d in expiring_certificates(rows)] == [("gone", -3), ("soon", 12)]


def test_the_expiry_travels_in_the_reported_document() -> None:
    info = NodeInfo(hostname="h", certificate_not_after="2027-01-01T00:00:00Z")
    assert info.to_dict()["certificateNotAfter"] == "2027-01-01T00:00:00Z"
    assert NodeInfo.from_dict(info.to_dict()) == info
    assert "certificateNotAfter" not in NodeInfo(hostname="h").to_dict()  # older edges
    document = ReportedDocument("n", None, "", "", "Synced", node_info=info)
    assert ReportedDocument.from_json(document.to_json()).node_info == info
