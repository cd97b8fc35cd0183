"""Render a synthetic fleet (10,000 nodes x 20 apps) to Desired documents: memoized vs naive.

    python -m bench.render_fleet [--nodes 10000 --apps 20 --sites 100 --per-node-apps 1]
    python -m bench.render_fleet --per-node-apps 20     # every app names its node
    python -m bench.render_fleet --per-node-apps 0      # group variables only
    python -m bench.render_fleet --nodes 100000 --per-node-apps 0 --no-validate --push

The fleet is written to a temporary folder: nodes spread over `--sites` sites, 4
hardware models and 3 roles; one group per site, model and role (every node gets
vars from 3 groups); each app has 3 templates (Deployment, ConfigMap, Service)
reading the group vars of one dimension (site, model or role, in turn); `--per-node-apps` of them also read `node.name` (every node
differs). Figures: load time, memoized render time, renders performed, peak memory,
and the naive path (every node x app rendered from scratch) measured on a sample
of nodes and extrapolated when `--naive-sample` is smaller than the fleet. Then
`shoal validate` on the fleet in a process of its own (its time and peak RSS;
`--no-validate` skips it), and a later commit changing 10 site groups' vars (a tenth
of the nodes): re-rendered as the controller does (`render_changes` with the
`RenderCache` it keeps; three such commits in a row, the best shown;
`--profile-rerender` prints where the last one's time goes), against rendering
those nodes from scratch and a sample of them naively (same digests). `--push` then
runs `bench.fleet_push` on the fleet: a controller's first reconcile and a push
changing 10 % of the nodes through Mosquitto, with that process's peak RSS.
The full render is also timed split over two processes (`workers=2`,
`controller.render.pool`).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from controller.fleet.loading import load_fleet
from controller.fleet.model import Fleet
from controller.render import pool
from controller.render.incremental import Baseline, render_changes
from controller.render.rendercache import RenderCache
from controller.render.rendering import FleetRender, render_fleet

SMALL_ARGS = ["--nodes", "500", "--apps", "5", "--sites", "10"]
MODELS = ("rpi4", "rpi5", "jetson", "x86")
ROLES = ("gateway", "camera", "sensor")

# Each app's templates read the variables of one dimension (site, model or role):
# `DIMENSION_ENV[d]` is spliced into its Deployment and ConfigMap.
DIMENSION_ENV = {
    "site": (
        'NTP_SERVER, value: "{{ ntp_server }}"',
        "{{ settings | combine({'site': node.tags.site}) | to_yaml | indent(4) }}",
    ),
    "model": (
        'MODEL_THREADS, value: "{{ threads }}"',
        "{{ {'threads': threads, 'cpu': cpu_limit} | to_yaml | indent(4) }}",
    ),
    "role": (
        'ROLE, value: "{{ node.tags.role }}"',
        "{{ {'memory': memory_limit} | to_yaml | indent(4) }}",
    ),
}
LIMITS = {"site": "", "model": 'cpu: "{{ cpu_limit }}"', "role": 'memory: "{{ memory_limit }}"'}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ app.name }}
  labels: {tier: edge}
spec:
  replicas: {{ replicas }}
  selector:
    matchLabels: {app: {{ app.name }}}
  template:
    metadata:
      labels: {app: {{ app.name }}}
    spec:
      containers:
        - name: main
          image: "registry.example.com/{{ app.name }}:{{ app.version }}"
          resources:
            limits: {LIMITS}
          env:
            - {name: ENV}
            - {name: FLEET, value: "{{ fleet.name }}"}
          ports:
            - {containerPort: {{ port }}}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ app.name }}-config
data:
  settings.yaml: |
    SETTINGS
"""

PER_NODE_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ app.name }}-identity
data:
  node: "{{ node.name }}"
  site: "{{ node.tags.site }}"
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ app.name }}
spec:
  selector: {app: {{ app.name }}}
  ports:
    - {port: {{ port }}, targetPort: {{ port }}}
"""


def build_fleet(root: Path, nodes: int, apps: int, sites: int, per_node_apps: int) -> None:
    """Write a synthetic fleet repository under `root`."""
    (root / "nodes").mkdir(parents=True)
    (root / "groups").mkdir()
    (root / "fleet.yaml").write_text(
        "name: bench\nvars:\n  ntp_server: pool.ntp.org\n  cpu_limit: 500m\n"
        "  memory_limit: 256Mi\n  settings: {log_level: info}\n"
    )
    for i in range(nodes):
        site = f"site-{i % sites:03d}"
        model = MODELS[(i // sites) % len(MODELS)]
        role = ROLES[i % len(ROLES)]
        extra = "vars: {replicas: 2}\n" if i % 97 == 0 else ""  # a few nodes override
        (root / "nodes" / f"node-{i:05d}.yaml").write_text(
            f"name: node-{i:05d}\ntags: {{site: {site}, model: {model}, role: {role}}}\n{extra}"
        )
    for s in range(sites):
        (root / "groups" / f"site-{s:03d}.yaml").write_text(
            f"selector: site=site-{s:03d}\npriority: 10\n"
            f"vars:\n  ntp_server: ntp{s}.example.com\n"
            f"  settings: {{log_level: info, region: r{s % 7}}}\n"
        )
    for m, model in enumerate(MODELS):
        (root / "groups" / f"model-{model}.yaml").write_text(
            f"selector: model={model}\npriority: 5\n"
            f"vars: {{threads: {m + 1}, cpu_limit: {m + 1}000m}}\n"
        )
    for r, role in enumerate(ROLES):
        (root / "groups" / f"role-{role}.yaml").write_text(
            f"selector: role={role}\nvars: {{memory_limit: {128 * (r + 1)}Mi}}\n"
        )
    for a in range(apps):
        folder = root / "apps" / f"app-{a:02d}"
        (folder / "templates").mkdir(parents=True)
        selector = ["", "role in (gateway,camera)", "model!=x86", "!retired"][a % 4]
        (folder / "app.yaml").write_text(
            f"name: app-{a:02d}\nversion: '1.{a}.0'\nselector: '{selector}'\n"
            f"namespace: ns-{a:02d}\nvars: {{replicas: 1, port: {8000 + a}}}\n"
        )
        dimension = ("site", "model", "role")[a % 3]
        env, settings = DIMENSION_ENV[dimension]
        deployment = DEPLOYMENT.replace("ENV", env).replace("LIMITS", LIMITS[dimension])
        (folder / "templates" / "10-deployment.yaml.j2").write_text(deployment)
        configmap = (
            PER_NODE_CONFIGMAP if a < per_node_apps else CONFIGMAP.replace("SETTINGS", settings)
        )
        (folder / "templates" / "20-configmap.yaml.j2").write_text(configmap)
        (folder / "templates" / "30-service.yaml.j2").write_text(SERVICE)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def later_commit(
    root: Path, fleet: Fleet, sites: int, repeat: int = 3, profile: bool = False
) -> None:
    """Later commits, each changing the vars of the same 10 site groups (a tenth of
    the nodes), re-rendered as the controller does: `render_changes` from the last
    render, with the `RenderCache` it keeps, against those nodes rendered from
    scratch. `repeat` commits in a row (the best is the figure); `profile` prints
    where the last one's time goes (cProfile)."""
    cache = RenderCache()
    baseline = Baseline("old", fleet, render_fleet(fleet, cache=cache).apps)
    times = []
    for commit in range(repeat):
        changed = []
        for s in range(0, sites, max(1, sites // 10)):
            rel = f"groups/site-{s:03d}.yaml"
            path = root / rel
            text = path.read_text().replace(f"c{commit - 1}.example.com", "example.com")
            path.write_text(text.replace("example.com", f"c{commit}.example.com"))
            changed.append(rel)
        # A controller holds its baseline long before the next push: the cycle collector
        # has long been over it (it would otherwise run during the timed render).
        gc.collect()
        profiler = cProfile.Profile() if profile and commit == repeat - 1 else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        rendered = render_changes(baseline, root, changed, cache=cache)
        if profiler is not None:
            profiler.disable()
        times.append((time.perf_counter() - started, time.process_time() - cpu))
        assert rendered is not None and rendered.rendered is not None and not rendered.problems
        baseline = Baseline(f"commit-{commit}", rendered.fleet, rendered.apps)
    assert rendered is not None and rendered.rendered is not None
    affected = sorted(rendered.rendered)
    commit_fleet = load_fleet(root)
    started = time.perf_counter()
    scratch = render_fleet(commit_fleet, affected)
    from_scratch = time.perf_counter() - started
    naive = render_fleet(commit_fleet, affected[:: max(1, len(affected) // 50)], memoize=False)
    for name in affected:  # the shortcut must not change a byte
        assert {a: d.digest for a, d in scratch.apps[name].items()} == {
            a: d.digest for a, d in rendered.apps[name].items()
        }
    for name, apps in naive.apps.items():
        assert {a: d.digest for a, d in apps.items()} == {
            a: d.digest for a, d in rendered.apps[name].items()
        }
    print(
        f"later commit ({len(changed)} site groups changed, {len(affected)} nodes): "
        f"{min(times)[0]:.3f} s (CPU {min(times)[1]:.3f} s) as the controller renders it "
        f"(render_changes, RenderCache kept; best of {len(times)} commits in a row: "
        f"{', '.join(f'{t:.3f}' for t, _ in times)});"
        f" {from_scratch:.2f} s rendering those nodes from scratch; target < 0.2 s"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def render_split(fleet: Fleet) -> tuple[float, FleetRender]:
    """The full render with half of the nodes in a forked worker (`workers=2`)."""
    started = time.perf_counter()
    result = render_fleet(fleet, workers=2)
    return time.perf_counter() - started, result


def validate(root: Path) -> None:
    """`shoal validate` on the fleet, in a process of its own: time and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal", "validate", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    output = process.stdout.read().decode().strip().splitlines()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    print(
        f"shoal validate:  {elapsed:6.2f} s  peak RSS {usage.ru_maxrss / 1024:.0f} MB, exit "
        f"{process.returncode}: {output[-1] if output else ''}"
    )


def push(root: Path, sites: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "bench.fleet_push", "--root", str(root), "--sites", str(sites)],
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render_fleet", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--per-node-apps", type=int, default=1, help="apps reading node.name")
    parser.add_argument(
        "--naive-sample", type=int, default=200, help="nodes rendered naively (then extrapolated)"
    )
    parser.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time `shoal validate` on the fleet (default: yes)",
    )
    parser.add_argument("--push", action="store_true", help="then run bench.fleet_push on it")
    parser.add_argument(
        "--rerenders", type=int, default=3, help="later commits re-rendered in a row (best shown)"
    )
    parser.add_argument(
        "--profile-rerender",
        action="store_true",
        help="print where the last re-render's time goes (cProfile)",
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {os.getloadavg()[0]:.2f} load over the last minute, {pool.usable_cores()} cores"
    )

    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build_fleet(root, args.nodes, args.apps, args.sites, args.per_node_apps)
        print(
            f"fleet: {args.nodes} nodes, {args.apps} apps x 3 templates, "
            f"{args.sites + len(MODELS) + len(ROLES)} groups (3 per node), "
            f"{args.per_node_apps} app(s) reading node.name "
            f"(written in {time.perf_counter() - started:.2f} s)"
        )

        started = time.perf_counter()
        fleet = load_fleet(root)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        load_fleet(root)
        reload_s = time.perf_counter() - started
        print(
            f"load + validate:  {load_s:6.2f} s  (again, unchanged files cached: {reload_s:.2f} s)"
        )
        rss_before = peak_rss_mb()

        started, cpu = time.perf_counter(), time.process_time()
        result = render_fleet(fleet)
        documents = [result.document(name, "bench", 0) for name in result.apps]
        memo_s, memo_cpu = time.perf_counter() - started, time.process_time() - cpu
        pairs = sum(len(apps) for apps in result.apps.values())
        assert not result.problems, result.problems[:3]
        print(
            f"memoized render: {memo_s:6.2f} s  (CPU {memo_cpu:.2f} s; the machine is shared) "
            f"{len(documents)} Desired documents, "
            f"{pairs} node-app pairs, {result.renders} app renders performed "
            f"({result.template_renders} template renders), {result.reused} served from "
            f"the memo; peak RSS {peak_rss_mb():.0f} MB "
            f"(before rendering {rss_before:.0f} MB); in this process alone"
        )

        if len(fleet.nodes) >= pool.MIN_NODES and pool.usable_cores() >= 2:
            forced, split_result = render_split(fleet)
            for name, apps in split_result.apps.items():
                assert {a: d.digest for a, d in apps.items()} == {
                    a: d.digest for a, d in result.apps[name].items()
                }
            del split_result
            print(
                f"split render:    {forced:6.2f} s  half of the nodes in a forked worker "
                "(workers=2, shoal validate --workers 2; same digests)"
            )

        sample_size = min(args.naive_sample, len(fleet.nodes))
        step = max(1, len(fleet.nodes) // sample_size)
        sample = sorted(fleet.nodes)[::step][:sample_size]
        started = time.perf_counter()
        naive = render_fleet(fleet, sample, memoize=False)
        naive_docs = [naive.document(name, "bench", 0) for name in naive.apps]
        naive_s = time.perf_counter() - started
        for doc in naive_docs:  # the memo must not change a single byte
            assert doc.digest == documents[sorted(fleet.nodes).index(doc.node)].digest
        factor = len(fleet.nodes) / len(sample)
        label = (
            f"extrapolated from {len(sample)} nodes ({naive_s:.2f} s, {naive.renders} renders)"
            if len(sample) < len(fleet.nodes)
            else "measured on every node"
        )
        print(
            f"naive render:    {naive_s * factor:6.2f} s  {int(naive.renders * factor)} app renders; "
            f"{label}; digests equal to the memoized ones"
        )
        ratio = memo_s / (naive_s * factor)
        print(
            f"memoized / naive: {ratio:.3f} ({naive_s * factor / memo_s:.0f}x faster); targets:"
            " 0.15 with every app naming its node, 0.05 and under 3 s with group variables only"
        )
        if args.validate:
            validate(root)
        later_commit(root, fleet, args.sites, args.rerenders, args.profile_rerender)
        if args.push:
            push(root, args.sites)
    return 0


if __name__ == "__main__":
    sys.exit(main())
