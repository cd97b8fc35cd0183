"""A `RenderCache` kept across `render_fleet` calls (as the controller keeps one) never
serves stale templates or files, never shares one fleet's folder with another, and
stays bounded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.render.rendercache import RenderCache
from controller.render.rendering import render_fleet
from tests.support.render import FleetRepo

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data:
  greeting: "%s {{ node.tags.site }}"
  conf: {{ file("files/app.conf") | to_json }}
"""


def data(root: Path, cache: RenderCache | None, node: str = "paris-1") -> dict[str, str]:
    result = render_fleet(load_fleet(root), cache=cache)
    assert not result.problems, result.problems
    [configmap] = result.apps[node]["web"].resources
    return dict(configmap["data"])


def make_fleet(root: Path, greeting: str = "hello", conf: str = "port=80\n") -> FleetRepo:
    repo = FleetRepo(root)
    repo.node("paris-1", site="paris")
    repo.node("lyon-1", site="lyon")
    repo.app("web", {"conf.yaml.j2": TEMPLATE % greeting}, files={"files/app.conf": conf})
    return repo


def same_times(path: Path, like: os.stat_result) -> None:
    """Give a rewritten file its old timestamps: a cache keyed on size and mtime would miss it."""
    os.utime(path, ns=(like.st_atime_ns, like.st_mtime_ns))


def test_a_template_changed_on_disk_renders_the_new_content(tmp_path: Path) -> None:
    make_fleet(tmp_path)
    cache = RenderCache()
    assert data(tmp_path, cache)["greeting"] == "hello paris"
    assert data(tmp_path, cache)["greeting"] == "hello paris"
    assert (cache.hits, cache.misses) == (1, 1)  # the second call reused the compiled app

    template = tmp_path / "apps/web/templates/conf.yaml.j2"
    before = template.stat()
    template.write_text(TEMPLATE % "howdy")  # same name, same size
    same_times(template, before)
    assert data(tmp_path, cache)["greeting"] == "howdy paris"
    assert data(tmp_path, cache) == data(tmp_path, None)


def test_a_file_read_by_a_template_changed_on_disk_renders_the_new_content(
    tmp_path: Path,
) -> None:
    make_fleet(tmp_path)
    cache = RenderCache()
    assert data(tmp_path, cache)["conf"] == "port=80\n"
    conf = tmp_path / "apps/web/files/app.conf"
    before = conf.stat()
    conf.write_text("port=81\n")
    same_times(conf, before)
    assert data(tmp_path, cache)["conf"] == "port=81\n"
    conf.write_text("port=80\n")  # back to the first content: the first entry is right again
    assert data(tmp_path, cache)["conf"] == "port=80\n"


def test_a_compiled_app_reads_files_only_from_its_own_fleet(tmp_path: Path) -> None:
    make_fleet(tmp_path / "a")
    make_fleet(tmp_path / "b")  # the very same content in another folder
    cache = RenderCache()
    assert data(tmp_path / "a", cache) == data(tmp_path / "b", cache)
    assert cache.misses == 2  # equal content, different folders: not shared
    (tmp_path / "b/apps/web/files/app.conf").write_text("port=8080\n")
    assert data(tmp_path / "b", cache)["conf"] == "port=8080\n"
    assert data(tmp_path / "a", cache)["conf"] == "port=80\n"


def test_a_new_template_syntax_error_is_reported_then_its_fix_renders(tmp_path: Path) -> None:
    make_fleet(tmp_path)
    cache = RenderCache()
    data(tmp_path, cache)
    template = tmp_path / "apps/web/templates/conf.yaml.j2"
    template.write_text("a: {{ oops\n")
    problems = render_fleet(load_fleet(tmp_path), cache=cache).problems
    assert [p.file for p in problems] == ["apps/web/templates/conf.yaml.j2"]
    assert "syntax error" in problems[0].message
    template.write_text(TEMPLATE % "fixed")
    assert data(tmp_path, cache)["greeting"] == "fixed paris"


def test_an_app_folder_with_a_symlink_is_compiled_each_time(tmp_path: Path) -> None:
    make_fleet(tmp_path)
    os.symlink(tmp_path / "apps/web/files/app.conf", tmp_path / "apps/web/files/alias.conf")
    cache = RenderCache()
    data(tmp_path, cache)
    data(tmp_path, cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 0)


def test_the_cache_keeps_at_most_max_apps_compiled_apps(tmp_path: Path) -> None:
    repo = make_fleet(tmp_path)
    for name in ("api", "db", "queue"):
        repo.app(name)
    cache = RenderCache(max_apps=2)
    first = render_fleet(load_fleet(tmp_path), cache=cache)
    assert len(cache) == 2
    for _ in range(2):  # each call still renders all four apps, right
        again = render_fleet(load_fleet(tmp_path), cache=cache)
        assert len(cache) == 2
        assert {n: {a: d.digest for a, d in apps.items()} for n, apps in again.apps.items()} == {
            n: {a: d.digest for a, d in apps.items()} for n, apps in first.apps.items()
        }


def test_the_cache_keeps_at_most_max_bytes_of_app_folders(tmp_path: Path) -> None:
    repo = make_fleet(tmp_path, conf="x" * 1000)
    repo.app("api", files={"files/big.bin": "y" * 1000})
    cache = RenderCache(max_bytes=1500)
    render_fleet(load_fleet(tmp_path), cache=cache)
    assert len(cache) == 1


def test_an_app_memo_over_max_memo_is_emptied_before_the_next_call(tmp_path: Path) -> None:
    repo = make_fleet(tmp_path)
    for i in range(10):
        repo.node(f"n{i}", site=f"old-{i}")
    cache = RenderCache(max_memo=3)
    data(tmp_path, cache)
    [entry] = cache._entries.values()
    one_call = len(entry.memo)
    assert one_call > 3
    for i in range(10):  # ten new contexts: without the bound the memo would keep both sets
        repo.node(f"n{i}", site=f"new-{i}")
    data(tmp_path, cache)
    assert len(entry.memo) == one_call


def test_an_app_deleted_and_restored_renders_again(tmp_path: Path) -> None:
    make_fleet(tmp_path)
    cache = RenderCache()
    before = data(tmp_path, cache)
    shutil.move(tmp_path / "apps/web", tmp_path / "web.bak")
    assert "web" not in render_fleet(load_fleet(tmp_path), cache=cache).apps["paris-1"]
    shutil.move(tmp_path / "web.bak", tmp_path / "apps/web")
    assert data(tmp_path, cache) == before


@pytest.mark.parametrize("memoize", [True, False])
def test_a_cached_render_equals_an_uncached_one(tmp_path: Path, memoize: bool) -> None:
    make_fleet(tmp_path)
    cache = RenderCache()
    for _ in range(2):
        cached = render_fleet(load_fleet(tmp_path), memoize=memoize, cache=cache)
        plain = render_fleet(load_fleet(tmp_path), memoize=memoize)
        assert {n: a["web"].digest for n, a in cached.apps.items()} == {
            n: a["web"].digest for n, a in plain.apps.items()
        }


@pytest.mark.parametrize(
    "path", ["files/app.conf", "./files//app.conf", "files", ".", "files/missing", "../x"]
)
def test_file_reads_and_errors_are_the_same_with_a_cache(tmp_path: Path, path: str) -> None:
    make_fleet(tmp_path)
    (tmp_path / "apps/web/templates/conf.yaml.j2").write_text(
        f'apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{c: "{{{{ file("{path}") }}}}"}}\n'
    )
    cache = RenderCache()
    for _ in range(2):
        cached = render_fleet(load_fleet(tmp_path), cache=cache)
        plain = render_fleet(load_fleet(tmp_path))
        assert list(map(str, cached.problems)) == list(map(str, plain.problems))
        assert {n: {a: d.digest for a, d in apps.items()} for n, apps in cached.apps.items()} == {
            n: {a: d.digest for a, d in apps.items()} for n, apps in plain.apps.items()
        }
    assert cache.hits == 1
