"""Build small fleet repositories on disk for tests (used by the rendering, command,
diff and controller suites).

    repo = FleetRepo(tmp_path / "fleet")          # writes fleet.yaml (name: test)
    repo.node("paris-1", site="paris")
    repo.group("paris", "site=paris", priority=10, replicas=3)
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, selector="", replicas=1)
    fleet = load_fleet(repo.root)

Values are written as YAML with `yaml.safe_dump`, so tests state data, not text;
`write(rel, text)` writes any file verbatim for bad-input tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ app.name }}
data:
  node: "{{ node.name }}"
"""


class FleetRepo:
    """A fleet repository folder under construction."""

    def __init__(self, root: Path, name: str = "test", vars: dict[str, Any] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.fleet(name, vars=vars)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def write_yaml(self, rel: str, data: Any) -> Path:
        return self.write(rel, yaml.safe_dump(data, sort_keys=False))

    def fleet(self, name: str = "test", **fields: Any) -> None:
        data: dict[str, Any] = {"name": name}
        data.update({k: v for k, v in fields.items() if v is not None})
        self.write_yaml("fleet.yaml", data)

    def node(
        self,
        name: str,
        vars: dict[str, Any] | None = None,
        file: str | None = None,
        **tags: str,
    ) -> str:
        data: dict[str, Any] = {"name": name, "tags": tags}
        if vars:
            data["vars"] = vars
        rel = file or f"nodes/{name}.yaml"
        self.write_yaml(rel, data)
        return rel

    def group(self, name: str, selector: str, priority: int | None = None, **vars: Any) -> str:
        data: dict[str, Any] = {"selector": selector}
        if priority is not None:
            data["priority"] = priority
        if vars:
            data["vars"] = vars
        rel = f"groups/{name}.yaml"
        self.write_yaml(rel, data)
        return rel

    def app(
        self,
        name: str,
        templates: dict[str, str] | None = None,
        selector: str = "",
        namespace: str | None = None,
        version: str = "1.0",
        files: dict[str, str] | None = None,
        **vars: Any,
    ) -> str:
        data: dict[str, Any] = {
            "name": name,
            "version": version,
            "selector": selector,
            "namespace": namespace or name,
        }
        if vars:
            data["vars"] = vars
        rel = f"apps/{name}/app.yaml"
        self.write_yaml(rel, data)
        for file, text in (templates or {"configmap.yaml.j2": CONFIGMAP}).items():
            self.write(f"apps/{name}/templates/{file}", text)
        for file, text in (files or {}).items():
            self.write(f"apps/{name}/{file}", text)
        return rel
