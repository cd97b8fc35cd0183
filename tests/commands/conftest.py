"""A small valid fleet (two sites, two models, three apps) for the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.render import FleetRepo

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {{ replicas }}
  template:
    spec:
      containers: [{name: web, image: "nginx:{{ app.version }}"}]
"""

INFERENCE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: inference}
data:
  threads: "{{ threads }}"
  model: {{ model_file }}
"""


@pytest.fixture
def fleet_repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet", vars={"ntp_server": "pool.ntp.org", "replicas": 1})
    repo.node("paris-1", site="paris", model="rpi4")
    repo.node("paris-2", site="paris", model="rpi5")
    repo.node("lyon-1", site="lyon", model="rpi4", vars={"replicas": 5})
    repo.group("paris", "site=paris", priority=10, replicas=3)
    repo.group("rpi4", "model=rpi4", threads=2, model_file="small.tflite")
    repo.group("rpi5", "model=rpi5", threads=4, model_file="large.tflite")
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, version="1.4.2", replicas=2)
    repo.app("inference", {"cm.yaml.j2": INFERENCE}, selector="model in (rpi4,rpi5)")
    repo.app("sensors", selector="site=lyon")
    return repo
