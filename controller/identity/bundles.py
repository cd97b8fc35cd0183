"""A node's install bundle: everything it needs to join the fleet, in one folder.

`shoal provision` writes one per node through `write_bundle`, into a staging folder
that is renamed into place only when every bundle succeeded. A bundle
`<name>/` (mode 0700) and `<name>.tar.gz` (mode 0600) hold:

- `node.key` (0600) and `node.crt` (CN = the node name), `ca.crt` (the fleet CA);
- `edge.yaml`: the agent's configuration (`shoal edge --config`), paths relative;
- `shoal-edge.service`: a systemd unit running the agent from /etc/shoal;
- `kubernetes.yaml`: the agent inside the node's own cluster — a Namespace, a
  ServiceAccount, a ClusterRole limited to the kinds the fleet's apps render for the
  node (plus namespaces, which the agent creates for apps), its binding, the bundle as
  a Secret and a Deployment.

The bundle is a dict of file name to bytes until it is written, so later additions
(the controller's signing key, an age identity) are one more entry.
"""

from __future__ import annotations

import functools
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.identity.authority import Authority, write_private

# The manifest holds the keys in its Secret; age.key opens the node's sealed secrets.
PRIVATE_FILES = ("node.key", "age.key", "kubernetes.yaml")
# What the agent's Secret carries into its pod (edge.yaml comes on top, in-cluster flavour).
POD_FILES = ("node.key", "node.crt", "ca.crt", "age.key", "controller.pub")
NAMESPACE = "shoal-system"
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
KEY_DIR = "/etc/shoal"


@dataclass(frozen=True)
class BundleSettings:
    broker: str  # mqtts://host:port the node connects to
    topic_prefix: str = "shoal"
    image: str = "shoal-edge:0.1.0"  # the Containerfile's edge target (docs/deployment.md)
    kubeconfig: str = "/etc/rancher/k3s/k3s.yaml"  # for the systemd install
    days: int = 365
    rules: tuple[tuple[str, str], ...] = ()  # (apiGroup, resource) the agent may manage
    trust_key: bytes = b""  # the controller's signing public key (PEM): nodes trust only it


def plural(kind: str) -> str:
    """Kubernetes' resource name for a kind (Deployment → deployments, Ingress → ingresses,
    NetworkPolicy → networkpolicies), as the API server's discovery names it."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def rules_for(resources: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """(apiGroup, resource) of every object the agent would apply."""
    found = set()
    for res in resources:
        api_version, kind = str(res.get("apiVersion", "")), str(res.get("kind", ""))
        if kind:
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            found.add((group, plural(kind)))
    return tuple(sorted(found))


def edge_config(name: str, settings: BundleSettings, *, in_cluster: bool) -> str:
    """The agent's edge.yaml; values are JSON-quoted (valid YAML), so no name or URL can
    break the file, and no YAML emitter runs per node."""
    config: dict[str, Any] = {
        "node": name,
        "broker": settings.broker,
        "caFile": "ca.crt",
        "certFile": "node.crt",
        "keyFile": "node.key",
        "topicPrefix": settings.topic_prefix,
        "ageIdentities": ["age.key"],
    }
    if settings.trust_key:
        config["trustKeys"] = ["controller.pub"]
    if in_cluster:
        config["inCluster"] = True
        config["stateDir"] = "/var/lib/shoal/edge"
    else:
        config["kubeconfig"] = settings.kubeconfig
        config["stateDir"] = f"/var/lib/shoal/edge/{name}"
    lines = [f"# shoal edge agent for node {name} (written by `shoal provision`)"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def systemd_unit(name: str) -> str:
    return f"""[Unit]
Description=shoal edge agent for node {name}
After=network-online.target k3s.service
Wants=network-online.target

[Service]
ExecStart=/opt/shoal/bin/shoal edge --config {KEY_DIR}/edge.yaml
Restart=always
RestartSec=5
StateDirectory=shoal
NoNewPrivileges=true
ProtectSystem=strict
ReadWritePaths=/var/lib/shoal

[Install]
WantedBy=multi-user.target
"""


def kubernetes_manifest(name: str, files: Mapping[str, bytes], settings: BundleSettings) -> str:
    """The manifest for `name`: the fleet-wide template with the node's name and bundle
    filled in (JSON-quoted strings are valid YAML)."""
    text = _manifest_template(settings).replace(NODE_MARK, name)
    secret = {k: files[k].decode() for k in POD_FILES if k in files}
    secret["edge.yaml"] = edge_config(name, settings, in_cluster=True)
    for key, value in secret.items():
        text = text.replace(_mark(key), json.dumps(value))
    return text


NODE_MARK = "SHOAL-NODE-NAME"


def _mark(file_name: str) -> str:
    return "SHOAL-FILE-" + file_name.replace(".", "-").upper()


@functools.cache
def _manifest_template(settings: BundleSettings) -> str:
    name = NODE_MARK
    labels = {"app.kubernetes.io/name": "shoal-edge", "shoal.dev/node": name}
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "create"]}
    ]
    by_group: dict[str, list[str]] = {}
    for group, resource in settings.rules:
        if (group, resource) != ("", "namespaces"):
            by_group.setdefault(group, []).append(resource)
    for group in sorted(by_group):
        rules.append({"apiGroups": [group], "resources": by_group[group], "verbs": VERBS})
    present = [k for k in POD_FILES if k != "controller.pub" or settings.trust_key]
    secret_files = {k: _mark(k) for k in (*present, "edge.yaml")}
    meta = {"namespace": NAMESPACE, "labels": labels}
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": labels},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "shoal-edge", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "shoal-edge", "labels": labels},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "shoal-edge", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "shoal-edge",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "shoal-edge", "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shoal-edge-bundle", **meta},
            "type": "Opaque",
            "stringData": secret_files,
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "shoal-edge-state", **meta},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "shoal-edge", **meta},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # one agent per node, never two
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "shoal-edge",
                        "containers": [
                            {
                                "name": "agent",
                                "image": settings.image,
                                "args": ["edge", "--config", f"{KEY_DIR}/edge.yaml"],
                                "volumeMounts": [
                                    {"name": "bundle", "mountPath": KEY_DIR, "readOnly": True},
                                    {"name": "state", "mountPath": "/var/lib/shoal/edge"},
                                ],
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True,
                                    "runAsUser": 10001,
                                },
                            }
                        ],
                        "volumes": [
                            {
                                "name": "bundle",
                                "secret": {"secretName": "shoal-edge-bundle", "defaultMode": 0o400},
                            },
                            {
                                "name": "state",
                                "persistentVolumeClaim": {"claimName": "shoal-edge-state"},
                            },
                        ],
                        "securityContext": {"fsGroup": 10001},
                    },
                },
            },
        },
    ]
    head = f"# The shoal edge agent for node {name}, inside its cluster: kubectl apply -f kubernetes.yaml\n"
    return head + yaml.safe_dump_all(objects, sort_keys=False)


def bundle_files(
    name: str, authority: Authority, settings: BundleSettings, age_identity: str
) -> dict[str, bytes]:
    issued = authority.issue(name, days=settings.days)
    files = {"node.key": issued.key, "node.crt": issued.cert, "ca.crt": authority.cert_pem}
    files["age.key"] = (
        f"# age identity of node {name}: opens its sealed secrets\n{age_identity}\n".encode()
    )
    if settings.trust_key:
        files["controller.pub"] = settings.trust_key
    files["edge.yaml"] = edge_config(name, settings, in_cluster=False).encode()
    files["shoal-edge.service"] = systemd_unit(name).encode()
    files["kubernetes.yaml"] = kubernetes_manifest(name, files, settings).encode()
    return files


def write_bundle(staging: Path, name: str, files: Mapping[str, bytes]) -> None:
    """`staging/<name>/` (0700) with each file, and `staging/<name>.tar.gz` (0600)."""
    folder = staging / name
    folder.mkdir(mode=0o700)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        root = tarfile.TarInfo(name)
        root.type, root.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(root)
        for file_name, data in files.items():
            private = file_name in PRIVATE_FILES
            if private:
                write_private(folder / file_name, data)
            else:
                (folder / file_name).write_bytes(data)
            info = tarfile.TarInfo(f"{name}/{file_name}")
            info.size, info.mode = len(data), 0o600 if private else 0o644
            tar.addfile(info, io.BytesIO(data))
    write_private(staging / f"{name}.tar.gz", buffer.getvalue())
