"""Render every node's apps into `shadow.DesiredApp`s — memoized.

Called by the commands (`render`, `validate`, `diff`, `explain`) and the controller's
pipeline with a loaded `Fleet`. For each node and each app whose selector matches:
merge the variables (`variables`), build the template context, render the app's
templates (`templating`), parse the output as multi-document YAML, check each object
is a Kubernetes object, give namespaced objects the app namespace and label every
object `app.kubernetes.io/managed-by: shoal`, `shoal.dev/app: <app>`.

Why it is fast: a 10,000-node fleet has few distinct inputs per app. `templating`
finds the context paths each template reads (`node.tags.site`, `replicas`); then
1. (app, matching groups that define a variable the app reads, the node's own such
   variables, what it reads of the node: `node.name` or the read tags) -> result:
   one tuple lookup for most nodes, no merging at all;
2. the values at the paths the app reads -> result: nodes whose inputs differ only in
   things the templates ignore, or groups giving equal values, share one render;
3. per template, the values at the paths *it* reads -> text: an app with one
   template reading `node.name` re-renders only that template per node;
4. rendered text -> parsed objects (YAML parsing costs more than rendering), each
   checked once against the Kubernetes API schema of its kind (`kubeschema`);
5. an app printing only the node's name: one plan per rest of the context
   (`placeholders`), and one checked, encoded render of it (`stamps`) that each node's
   entry and digest are substituted from.
Each app render runs within the fleet's render budget (`budget`: time and memory,
`render:` in fleet.yaml); an app that crosses it is one problem (template, node,
app) and is not rendered again for the other nodes. A `RenderBudget` given by the
caller is how it cancels a render it no longer wants (`RenderCancelled` goes up).
Shared `DesiredApp`s and their resource dicts are shared between nodes: treat them
as read-only. `memoize=False` switches all of it off (the benchmark's baseline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controller.fleet.agent import agent_release
from controller.fleet.loading import load_fleet
from controller.fleet.model import App, Fleet, Group, Node
from controller.fleet.problems import FleetError, Problem
from controller.fleet.selectors import SelectorIndex
from controller.fleet.variables import context_values
from controller.render import pool
from controller.render.budget import RenderBudget, RenderLimits
from controller.render.carried import Carried
from controller.render.entries import ObjectChecks, assemble, encoded
from controller.render.kubeschema import KubernetesSchemas
from controller.render.manifests import (
    duplicates,
    objects_from_documents,
    parse_objects,
    policy_problems,
    shared_objects,
)
from controller.render.placeholders import Skeleton, placeholder, skeleton_text
from controller.render.references import context_key
from controller.render.rendercache import AppMemo, CachedApp, RenderCache
from controller.render.schemachecks import SchemaChecks
from controller.render.secrets import node_secrets, sealed_problems
from controller.render.sharing import Sharing
from controller.render.stamps import Stamp
from controller.render.templating import (
    CompiledApp,
    CompiledTemplate,
    TemplateFailure,
    compile_app,
)
from shadow import DesiredApp, DesiredDocument, canonical_json


@dataclass
class FleetRender:
    """The outcome of rendering a fleet (or some of its nodes)."""

    fleet: Fleet
    apps: dict[str, dict[str, DesiredApp]]  # node -> app -> DesiredApp
    problems: list[Problem]  # render errors (node/app named)
    renders: int = 0  # app renders actually performed (one per app and distinct input)
    reused: int = 0  # app renders served from the memo
    template_renders: int = 0  # Jinja template renders performed (the memo shares them too)
    notes: list[str] = field(default_factory=list)  # kinds not checked (custom resources)

    def document(self, node: str, revision: str, generation: int = 0) -> DesiredDocument:
        """The node's Desired document (the publisher picks the generation)."""
        release = agent_release(self.fleet, self.fleet.nodes[node])
        return DesiredDocument.build(node, revision, generation, self.apps[node], release)


def render_fleet(
    fleet: Fleet,
    nodes: Iterable[str] | None = None,
    *,
    memoize: bool = True,
    cache: RenderCache | None = None,
    budget: RenderBudget | None = None,
    carried: Carried | None = None,
    workers: int = 1,
) -> FleetRender:
    """Render `nodes` (default: every node). Problems are collected, never raised.

    `memoize=False` renders every (node, app) pair from scratch: the baseline the
    benchmark compares against, and a cross-check in tests. A `cache` kept across
    calls (the controller keeps one) reuses the compiled templates and the render
    memo of every app whose folder did not change. A `budget` (its limits are set from
    the fleet here) lets the caller watch and cancel the render. `carried` names apps
    whose entries an earlier render gave and that cannot have changed (`Carried`).
    `workers=2` renders half of a large fleet in a forked worker (`pool`).
    """
    budget = budget or RenderBudget(RenderLimits())
    budget.limits = render_limits(fleet)
    notes = None  # the object keys of entries stamps made (`sharing`), for re-renders
    if cache is not None and memoize:
        if nodes is None:
            cache.object_keys = {}
        if nodes is None or carried is not None:
            notes = cache.object_keys
    renderer = _Renderer(fleet, memoize, cache, budget, Sharing(fleet.apps, notes))
    renderer.carried = carried
    names = sorted(fleet.nodes) if nodes is None else list(nodes)
    with pool.collector_paused():
        if pool.worth_splitting(len(names), memoize, workers):
            part = pool.render_split(renderer.part, names)
        else:
            part = renderer.part(names)
    result = FleetRender(fleet, part.apps, part.problems, part.renders, part.reused)
    # A template that does not compile is one problem for its app (not one per node);
    # rendering some nodes reports it only when one of them runs the app.
    result.problems[:0] = [
        p for p in renderer.compile_problems if nodes is None or p.app in part.broken_apps_used
    ]
    result.template_renders = part.template_renders
    result.notes = sorted(part.notes.values())
    return result


def render_limits(fleet: Fleet) -> RenderLimits:
    """The fleet's render budget (`render:` in fleet.yaml), defaults for what it omits."""
    given = fleet.render_limits
    default = RenderLimits()
    return RenderLimits(
        seconds=float(given.get("timeLimit", default.seconds)),
        memory_mib=int(given.get("memoryLimit", default.memory_mib)),
    )


def render_node(fleet: Fleet, node: str) -> dict[str, DesiredApp]:
    """One node's apps; raises FleetError when the node is unknown or a render fails."""
    result = render_fleet(fleet, [node])
    if result.problems:
        raise FleetError(result.problems)
    return result.apps[node]


def load_and_render(root: Path) -> FleetRender:
    """Load, validate and render the repository at `root`; raises FleetError on any problem."""
    result = render_fleet(load_fleet(root))
    if result.problems:
        raise FleetError(result.problems)
    return result


# --- the renderer ---------------------------------------------------------------------


@dataclass
class _Outcome:
    """A memoized app render: the app entry, or the problems (node not yet filled in)."""

    app: DesiredApp | None
    problems: list[Problem] = field(default_factory=list)
    over_budget: bool = False  # not memoized: the limits may change from commit to commit
    stamp: Stamp | None = None  # the stamp `app` came from (`planned`)


_Selection = tuple[list[Group], list[tuple[CompiledApp, tuple[Any, ...]]]]


class _Renderer:
    def __init__(
        self,
        fleet: Fleet,
        memoize: bool,
        cache: RenderCache | None,
        budget: RenderBudget,
        sharing: Sharing,
    ) -> None:
        self.sharing = sharing
        self.fleet = fleet
        self.memoize = memoize
        self.budget = budget
        self.over_budget: set[str] = set()  # apps that crossed it: one problem, then skipped
        self.checks = SchemaChecks(KubernetesSchemas(fleet.kubernetes_version))
        self.schemas = self.checks.schemas
        self.notes = self.checks.notes
        self.renders = 0
        self.template_renders = 0
        self.reused = 0
        self._secrets: dict[str, dict[str, str]] = {}  # node -> node.secrets
        self.compiled: dict[str, CompiledApp] = {}
        # Per app, the memo of what depends only on its compiled templates (a cache
        # keeps it from call to call); the memos below depend on the whole fleet.
        self.memos: dict[str, AppMemo] = {}
        self.compile_problems: list[Problem] = []
        self.broken_apps_used: set[str] = set()
        for app in fleet.apps.values():
            entry = cache.app(app) if cache is not None else CachedApp(*compile_app(app))
            compiled, failures = entry.compiled, entry.failures
            if compiled is not None:
                compiled.use_budget(budget)
                self.compiled[app.name] = compiled
                self.memos[app.name] = entry.memo
            for failure in failures:
                self.compile_problems.append(
                    Problem(failure.file, failure.message, line=failure.line, app=app.name)
                )
        self.fleet_context = {"name": fleet.name, "vars": fleet.vars}
        ordered = sorted(fleet.groups.values(), key=lambda g: (g.priority, g.name))
        self.group_index = SelectorIndex((g, g.selector) for g in ordered)
        self.app_index = SelectorIndex(
            (fleet.apps[a], fleet.apps[a].selector) for a in sorted(fleet.apps)
        )
        # Per app, the groups whose vars the app's templates read: only they matter.
        self.relevant = {
            name: frozenset(g.name for g in fleet.groups.values() if compiled.names & g.vars.keys())
            for name, compiled in self.compiled.items()
        }
        # memo caches (unused when memoize is False)
        self.selection: dict[tuple[Any, ...], _Selection] = {}
        self.by_inputs: dict[tuple[Any, ...], _Outcome] = {}
        self.interned: dict[str, dict[str, Any]] = {}  # repr -> the one copy (read-only)
        self.entries = ObjectChecks()
        self.carried: Carried | None = None
        self.plans: dict[tuple[Any, ...], list[Any] | None] = {}  # see `planned`
        self.stamps: dict[tuple[Any, ...], Stamp | None] = {}  # see `stamp`

    def part(self, names: list[str]) -> pool.RenderPart:
        """Render the nodes `names`; the counts are those of this call."""
        renders, reused, template_renders = self.renders, self.reused, self.template_renders
        apps: dict[str, dict[str, DesiredApp]] = {}
        problems: list[Problem] = []
        for name in names:
            node = self.fleet.nodes.get(name)
            if node is None:
                problems.append(Problem("nodes", f"no node named {name!r}", node=name))
                continue
            apps[name], found = self.node(node)
            problems.extend(found)
        return pool.RenderPart(
            apps,
            problems,
            self.renders - renders,
            self.reused - reused,
            self.template_renders - template_renders,
            dict(self.notes),
            set(self.over_budget),
            set(self.broken_apps_used),
        )

    def node(self, node: Node) -> tuple[dict[str, DesiredApp], list[Problem]]:
        tags_key = tuple(sorted(node.tags.items()))
        selection = self.selection.get(tags_key) if self.memoize else None
        if selection is None:
            selection = self.select(node, tags_key)
            if self.memoize:
                self.selection[tags_key] = selection
        groups, apps = selection
        result: dict[str, DesiredApp] = {}
        problems: list[Problem] = []
        sources: list[Any] = []  # per entry, what stands for its objects' keys (`sharing`)
        hole = placeholder(node.name) if self.memoize else None
        before = self.carried.apps.get(node.name) if self.carried else None
        for compiled, base in apps:
            kept = self.carried.entry(node.name, compiled.app.name) if self.carried else None
            if kept is not None:
                result[compiled.app.name] = kept
                sources.append(self.sharing.source(kept))
                continue
            if not self.memoize:
                outcome = self.app_outcome(compiled, node, groups)
            else:
                inputs = base
                own = ((), None)
                if node.vars or compiled.uses_node_identity:
                    own = self.own_inputs(compiled, node)
                    if own != ((), None):  # node vars the app does not read change nothing
                        inputs = (*base, own)
                if compiled.prints_name_only and hole is not None:
                    outcome = self.planned(compiled, node, groups, base, own[0], hole)
                elif (memo := self.by_inputs.get(inputs)) is None:
                    outcome = self.app_outcome(compiled, node, groups)
                    # With the node's name in the key it would never be found again.
                    if not outcome.over_budget and not compiled.uses_node_identity:
                        self.by_inputs[inputs] = outcome
                else:
                    outcome = memo
                    self.reused += 1
            if before is not None and before.get(compiled.app.name) is not outcome.app:
                self.sharing.forget(before.get(compiled.app.name))
            if outcome.app is not None:
                result[compiled.app.name] = outcome.app
                if outcome.stamp is not None:
                    self.sharing.note(outcome.app, outcome.stamp.keys)
                    sources.append(outcome.stamp.keys)
                else:
                    sources.append(outcome.app)
            if outcome.problems:
                problems.extend(replace(p, node=node.name) for p in outcome.problems)
        if len(result) > 1:
            found = (
                self.sharing.problems(result, sources)
                if self.memoize
                else shared_objects(self.fleet.apps, result)
            )
            problems.extend(replace(p, node=node.name) for p in found)
        return result, problems

    def planned(
        self,
        compiled: CompiledApp,
        node: Node,
        groups: list[Group],
        base: tuple[Any, ...],
        own: tuple[Any, ...],
        hole: str,
    ) -> _Outcome:
        """`app_outcome` of an app reading only the node's printed name and its tags,
        from the plan (`plan`) shared by nodes whose inputs are the same but for the
        name: keyed like `by_inputs`, with the tags read and the name's placeholder.
        Most nodes get their entry from the plan's stamp (`stamp`)."""
        if compiled.app.name in self.over_budget:
            return self.app_outcome(compiled, node, groups)
        seen = (
            tuple(sorted(node.tags.items()))
            if compiled.node_tags is None
            else tuple(node.tags.get(k) for k in compiled.node_tags)
        )
        key = (*base[:2], seen, own, hole)
        plan = self.plans.get(key)
        context = None
        if plan is None:
            context = self.context(compiled.app, node, groups)
            plan = self.plans[key] = self.plan(self.memos[compiled.app.name], compiled, context)
        if not plan or any(step is None for step in plan):
            context = context or self.context(compiled.app, node, groups)
            return self.render(compiled, context, plan or None)
        if key not in self.stamps:
            self.stamps[key] = self.stamp(compiled, plan, hole)
        stamp = self.stamps[key]
        if stamp is not None:
            self.budget.begin(compiled.app.name, node.name)  # the caller may cancel
            entry = stamp.entry(node.name)
            if entry is not None:
                self.renders += 1
                return _Outcome(entry, stamp=stamp)
        return self.render(compiled, context or {"node": {"name": node.name}}, plan)

    def stamp(self, compiled: CompiledApp, plan: list[Any], hole: str) -> Stamp | None:
        """The plan's entry for every node (`stamps.Stamp`): the app rendered for the
        placeholder, when every template's objects come from the plan, each skeleton
        parsed (not left to each node's text) and nothing is wrong with them."""
        for step in plan:  # a problem: each node says it
            if not isinstance(step, list) and not (
                isinstance(step, Skeleton) and step.substitute(hole) is not None
            ):
                return None
        outcome = self.render(compiled, {"node": {"name": hole}}, plan)
        self.renders -= 1  # not a node's render
        if outcome.app is None or outcome.problems:
            return None
        memo = self.memos[compiled.app.name]
        shared = {id(obj) for step in plan if isinstance(step, list) for obj in step}
        encode = lambda obj: encoded(memo, obj) if id(obj) in shared else canonical_json(obj)  # noqa: E731
        return Stamp.build(compiled.app, hole, outcome.app, self.schemas, encode)

    def select(self, node: Node, tags_key: tuple[Any, ...]) -> _Selection:
        """Matching groups, and per matching app the part of the first memo key that
        nodes with these tags share.

        App defaults and fleet vars are the same for every node; what varies is which
        groups (among those defining a variable the templates read) match, what the
        templates read of the node's tags, and (`own_inputs`) the node's own variables
        and name.
        """
        groups = self.group_index.matching(node.tags)
        apps = []
        for app in self.app_index.matching(node.tags):
            compiled = self.compiled.get(app.name)
            if compiled is None:
                self.broken_apps_used.add(app.name)
                continue
            relevant = self.relevant[app.name]
            group_names = tuple(g.name for g in groups if g.name in relevant)
            seen: Any = None
            if compiled.uses_node_identity:
                seen = None  # the node name goes into own_inputs
            elif compiled.node_tags is None:
                seen = tags_key
            else:
                seen = tuple(node.tags.get(k) for k in compiled.node_tags)
            apps.append((compiled, (app.name, group_names, seen)))
        return groups, apps

    def own_inputs(self, compiled: CompiledApp, node: Node) -> tuple[Any, ...]:
        own = tuple((k, repr(v)) for k, v in sorted(node.vars.items()) if k in compiled.names)
        return (own, node.name if compiled.uses_node_identity else None)

    def secrets_of(self, node: Node) -> dict[str, str]:
        """`node.secrets` (controller.render.secrets), built once per node."""
        if not self.fleet.secrets:
            return {}
        if node.name not in self._secrets:
            self._secrets[node.name] = node_secrets(self.fleet, node)
        return self._secrets[node.name]

    def context(self, app: App, node: Node, groups: list[Group]) -> dict[str, Any]:
        values = context_values(self.fleet, node, app, groups)
        values["node"] = {"name": node.name, "tags": node.tags, "secrets": self.secrets_of(node)}
        values["app"] = {"name": app.name, "version": app.version, "namespace": app.namespace}
        values["fleet"] = self.fleet_context
        return values

    def app_outcome(self, compiled: CompiledApp, node: Node, groups: list[Group]) -> _Outcome:
        if compiled.app.name in self.over_budget:  # said once, for the first node
            return _Outcome(None, over_budget=True)
        context = self.context(compiled.app, node, groups)
        if not self.memoize:
            return self.render(compiled, context)
        if compiled.uses_node_identity:  # no two nodes share a name: skip the second memo
            return self.render(compiled, context)
        # The compiled app (the memo's owner) and these values decide the outcome.
        by_context = self.memos[compiled.app.name].by_context
        key = context_key(context, compiled.references)
        outcome = by_context.get(key)
        if outcome is None:
            outcome = self.render(compiled, context)
            if not outcome.over_budget:
                by_context[key] = outcome
        else:
            self.reused += 1
        return outcome

    def text(
        self, memo: AppMemo, template: CompiledTemplate, context: dict[str, Any]
    ) -> str | TemplateFailure:
        """One template's output; with the memo, once per distinct value of what it reads."""
        if self.memoize:
            key = (template.file, context_key(context, template.references))
            text: str | TemplateFailure | None = memo.texts.get(key)
            if text is not None:
                return text
        self.template_renders += 1
        text = template.render(context)
        if self.memoize and not (isinstance(text, TemplateFailure) and text.over_budget):
            memo.texts[key] = text
        return text

    def render(
        self, compiled: CompiledApp, context: dict[str, Any], plan: list[Any] | None = None
    ) -> _Outcome:
        """Render one app for one node (`plan`: most of it done already, see `plan`)."""
        self.renders += 1
        app = compiled.app
        resources: list[dict[str, Any]] = []
        sources: list[str] = []  # the template each resource came from
        fresh: list[bool] = []  # made for this node alone (not kept in the memo)
        problems: list[Problem] = []
        memo = self.memos[app.name]
        self.budget.begin(app.name, str(context["node"]["name"]))
        for index, template in enumerate(compiled.templates):
            step = plan[index] if plan is not None else None
            if step is None:
                parsed, own = self.template_objects(memo, app, template, context)
            elif isinstance(step, Skeleton):
                parsed, own = self.substituted(app, template.file, step, context), True
            else:
                parsed, own = step, False
            if isinstance(parsed, TemplateFailure):
                problems.append(
                    Problem(parsed.file, parsed.message, line=parsed.line, app=app.name)
                )
                if parsed.over_budget:
                    self.over_budget.add(app.name)
                    return _Outcome(None, problems, over_budget=True)
                continue
            if isinstance(parsed, Problem):
                problems.append(parsed)
            else:
                resources.extend(parsed)
                sources.extend(template.file for _ in parsed)
                fresh.extend(own for _ in parsed)
        problems.extend(duplicates(app, resources, sources))
        if self.memoize:  # each shared object is checked once
            checks = [
                self.entries.checks(memo, app, *entry)
                for entry in zip(resources, sources, fresh, strict=True)
            ]
            problems.extend(p for policy, _ in checks for p in policy)
            problems.extend(p for _, sealed in checks for p in sealed)
        else:
            problems.extend(policy_problems(app, resources, sources))
            problems.extend(sealed_problems(app.name, resources, sources))
        if problems:
            return _Outcome(None, problems)
        try:
            if self.memoize:
                return _Outcome(assemble(memo, app, resources, fresh))
            return _Outcome(DesiredApp.build(app.version, app.namespace, resources, app.policy))
        except (TypeError, ValueError) as exc:
            return _Outcome(
                None, [Problem(app.file, f"rendered objects are not JSON: {exc}", app=app.name)]
            )

    def template_objects(
        self, memo: AppMemo, app: App, template: CompiledTemplate, context: dict[str, Any]
    ) -> tuple[list[dict[str, Any]] | Problem | TemplateFailure, bool]:
        """One template's objects (or what is wrong), and whether they are this node's alone."""
        if self.memoize and template.prints_name:
            skeleton = self.skeleton(memo, template, context)
            if skeleton is not None:
                return self.substituted(app, template.file, skeleton, context), True
        text = self.text(memo, template, context)
        if isinstance(text, TemplateFailure):
            return text, False
        return self.checks.parse(memo, app, template.file, text, self.memoize), False

    def substituted(
        self, app: App, file: str, skeleton: Skeleton, context: dict[str, Any]
    ) -> list[dict[str, Any]] | Problem:
        """A template's objects for this node from its skeleton (a parse of its own
        text when the skeleton cannot show they are equal)."""
        name = context["node"]["name"]
        documents = skeleton.substitute(name)
        if documents is None:
            own = skeleton.text.replace(skeleton.hole, name)
            return self.checks.checked(app, file, parse_objects(app, file, own))
        objects = objects_from_documents(app, file, documents)
        if not isinstance(objects, Problem):
            for obj, same in zip(objects, skeleton.same_metadata, strict=True):
                if same:  # every node's copy equal: keep one
                    metadata = obj["metadata"]
                    obj["metadata"] = self.interned.setdefault(repr(metadata), metadata)
        return self.checks.checked(app, file, objects)

    def plan(
        self, memo: AppMemo, compiled: CompiledApp, context: dict[str, Any]
    ) -> list[Any] | None:
        """For an app reading only the name of the node (printed whole) and its tags:
        per template, the objects of one that does not read the name, or the skeleton
        of one that prints it (None: render it for the node). Shared by every node
        whose context is the same but for its name; None when there is no shortcut."""
        if not self.memoize:
            return None
        node = context["node"]
        hole = placeholder(node["name"])
        if hole is None:
            return None
        key = context_key({**context, "node": {**node, "name": hole}}, compiled.references)
        plan: list[Any] | None = memo.plans.get(key)
        if plan is None:
            plan = []
            for template in compiled.templates:
                if template.prints_name:
                    plan.append(self.skeleton(memo, template, context))
                    continue
                parsed, _ = self.template_objects(memo, compiled.app, template, context)
                if isinstance(parsed, TemplateFailure) and parsed.over_budget:
                    return None  # not kept: the limits may change from commit to commit
                plan.append(parsed)
            memo.plans[key] = plan
        return plan

    def skeleton(
        self, memo: AppMemo, template: CompiledTemplate, context: dict[str, Any]
    ) -> Skeleton | None:
        """The template's output with a placeholder for the node name, parsed once per
        distinct rest of the context (controller.render.placeholders); None: no shortcut."""
        name = context["node"]["name"]
        hole = placeholder(name)
        if hole is None:
            return None
        node = context["node"]
        key = (
            template.file,
            context_key({**context, "node": {**node, "name": hole}}, template.references),
        )
        found: Skeleton | bool | None = memo.skeletons.get(key)
        if found is None:

            def render(value: str) -> str | None:
                self.template_renders += 1
                text = template.render({**context, "node": {**node, "name": value}})
                return None if isinstance(text, TemplateFailure) else text

            text = skeleton_text(render, name)
            found = memo.skeletons[key] = Skeleton(text, hole) if text is not None else False
        return found if isinstance(found, Skeleton) else None
