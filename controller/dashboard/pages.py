"""The dashboard's pages as HTML: the fleet overview, an app, a node, a fleet revision,
and the 404 and 400 pages.

Called by `controller.dashboard.handler`, which parses the URL and hands each
function a `Snapshot` (controller/dashboard/snapshot.py). Each returns
`(title, header, body, live)` for `layout.page`; `live` is the part refreshed in place.
"""

from __future__ import annotations

import bisect
import difflib
import heapq
import time
from typing import Any

from controller.dashboard.history import Change, Revision
from controller.dashboard.layout import (
    app_link,
    badge,
    esc,
    filter_form,
    filter_rows,
    node_link,
    node_table,
    online_cell,
    revision_cell,
    revision_link,
    since,
    table,
)
from controller.dashboard.queries import Query
from controller.dashboard.snapshot import STATES, Snapshot
from controller.status.rows import APP_STATES, UNKNOWN_NODE, message_lines, shared_messages

Parts = tuple[str, str, str, str]
ATTENTION_SHOWN = 20  # lagging or offline nodes listed on the overview
SHARERS_SHOWN = 10  # node names listed under a shared message


def _served_line(snap: Snapshot, rejected: Any) -> str:
    parts = [f"Serving {revision_link(snap.served)}"]
    if snap.head and snap.head != snap.served:
        why = "rejected" if rejected is not None and rejected.revision == snap.head else "new"
        parts.append(f'branch head {revision_link(snap.head)} <span class="bad">{why}</span>')
    elif snap.head:
        parts.append("the branch head")
    return " · ".join(parts)


def _rejected_box(rejected: Any, snap: Snapshot) -> str:
    if rejected is None or rejected.revision != snap.head:
        return ""
    problems = "".join(f"<li><code>{esc(p)}</code></li>" for p in rejected.problems[:50])
    more = len(rejected.problems) - 50
    extra = f"<li>and {more} more</li>" if more > 0 else ""
    served = revision_link(snap.served) if snap.served else "nothing yet"
    return (
        f'<section class="alert" id="rejected"><h2>Commit {revision_link(rejected.revision)} '
        f"is not published</h2><p>It does not validate or render; the nodes keep "
        f"{served}. Fix it in git:</p><ul>{problems}{extra}</ul></section>"
    )


def _state_cards(snap: Snapshot, path: str, counts: dict[str, int]) -> str:
    cards = []
    for state in STATES:
        count = counts.get(state, 0)
        if count or state in ("Synced", "Failed"):
            href = esc(Query(state=state).link(path))
            cards.append(
                f'<a class="card s-{esc(state.replace(" ", "-").lower())}" href="{href}" '
                f'data-state="{esc(state)}"><b>{count}</b> {esc(state)}</a>'
            )
    return f'<div class="cards" id="states">{"".join(cards)}</div>'


def _attention(snap: Snapshot, now: float) -> str:
    """Nodes behind the served revision or offline, the longest-silent first."""
    late = [r for r in snap.rows if r.get("behind") or r.get("online") is False]
    if not late:
        return '<p class="ok" id="attention">No node is behind or offline.</p>'
    rows = []
    for r in heapq.nsmallest(ATTENTION_SHOWN, late, key=lambda r: r.get("lastSeen") or 0):
        what = []
        if r.get("online") is False:
            what.append('<span class="bad">offline</span>')
        if r.get("behind"):
            what.append('<span class="warn">behind</span>')
        rows.append(
            (node_link(r["node"]), " ".join(what), revision_cell(r), since(r.get("lastSeen"), now))
        )
    more = len(late) - ATTENTION_SHOWN
    tail = f'<p class="muted">and {more} more</p>' if more > 0 else ""
    return (
        '<section id="attention"><h2>Behind or offline</h2>'
        + table(("Node", "What", "Observes", "Last report"), rows)
        + tail
        + "</section>"
    )


def _apps_table(snap: Snapshot) -> str:
    if not snap.app_states:
        return '<p class="muted">No app has reported yet.</p>'
    rows = []
    for app, counts in snap.app_states.items():
        cells = [app_link(app)]
        for state in APP_STATES:
            n = counts.get(state, 0)
            css = f' class="s-{state.lower()}"' if n and state != "Ready" else ""
            cells.append(f"<span{css}>{n}</span>")
        rows.append(cells)
    return table(("App", *APP_STATES), rows, "apps")


def overview(snap: Snapshot, query: Query, rejected: Any) -> Parts:
    now = time.time()
    name = snap.fleet_name or "fleet"
    header = f"fleet <b>{esc(name)}</b>"
    rows = filter_rows(snap.rows, query, snap.tags)
    body = f'<h2 class="sr">Nodes</h2>{filter_form("/", query, STATES)}'
    live = (
        f'<p class="revision" id="revision">{_served_line(snap, rejected)}</p>'
        + _rejected_box(rejected, snap)
        + _state_cards(snap, "/", dict(snap.states))
        + f'<div class="split"><section><h2>Apps</h2>{_apps_table(snap)}</section>'
        + f"<section>{_attention(snap, now)}</section></div>"
        + f"<section><h2>Nodes</h2>{node_table('/', rows, query, now)}</section>"
    )
    return f"{name}", header, body, live


def app_page(snap: Snapshot, app: str, query: Query) -> Parts:
    now = time.time()
    path = f"/apps/{app}"
    mine = [r for r in snap.rows if app in (r.get("apps") or {})]
    counts = {s: 0 for s in APP_STATES}
    for r in mine:
        state = str(r["apps"][app].get("state"))
        counts[state] = counts.get(state, 0) + 1
    cards = "".join(
        f'<span class="card s-{esc(s.lower())}" data-state="{esc(s)}"><b>{n}</b> {esc(s)}</span>'
        for s, n in counts.items()
    )
    shared = shared_messages(mine, app)
    if shared:
        items = []
        for text, nodes in shared.items():
            names = ", ".join(node_link(n) for n in nodes[:SHARERS_SHOWN])
            more = f" and {len(nodes) - SHARERS_SHOWN} more" if len(nodes) > SHARERS_SHOWN else ""
            items.append(
                f'<li><span class="message">{esc(text)}</span> '
                f'<span class="muted">{len(nodes)} node{"s" if len(nodes) != 1 else ""}:</span> '
                f"{names}{more}</li>"
            )
        messages = f'<ul class="messages" id="messages">{"".join(items)}</ul>'
    else:
        messages = '<p class="ok" id="messages">No node reports a problem with this app.</p>'
    header = f"app <b>{esc(app)}</b>"
    body = filter_form(path, query, STATES)
    rows = filter_rows(mine, query, snap.tags)
    live = (
        f'<div class="cards" id="app-states">{cards}</div>'
        f"<section><h2>What its nodes say</h2>{messages}</section>"
        f"<section><h2>Nodes running {esc(app)}</h2>{node_table(path, rows, query, now)}</section>"
    )
    return f"app {app}", header, body, live


def _explained(explanation: dict[str, Any] | None, row: dict[str, Any], snap: Snapshot) -> str:
    if explanation is None:
        return (
            f'<p class="bad">Not a node of the fleet at {revision_link(snap.served)}: removed '
            "since, or a report published under a name the fleet does not have.</p>"
        )
    tags = "".join(
        f"<li><code>{esc(k)}={esc(v)}</code></li>" for k, v in explanation["tags"].items()
    )
    groups = "".join(
        f"<li>{esc(g['name'])} <span class='muted'>(priority {esc(g['priority'])}, "
        f"selector <code>{esc(g['selector'])}</code>)</span></li>"
        for g in explanation["groups"]
        if g["matches"]
    )
    return (
        '<div class="split"><section><h2>Tags</h2>'
        f'<ul class="tags" id="tags">{tags or "<li class=muted>no tags</li>"}</ul></section>'
        f'<section><h2>Groups</h2><ul id="groups">{groups or "<li class=muted>none</li>"}</ul>'
        "</section></div>"
    )


def _resources(app: str, desired: Any, reported: dict[str, Any]) -> str:
    """Each resource of the app as the node should run it, and whether it is ready."""
    not_ready = {
        (r.get("kind"), r.get("namespace"), r.get("name")): r.get("message") or ""
        for r in reported.get("notReady") or []
    }
    rows = []
    for resource in desired.resources if desired is not None else ():
        meta = resource.get("metadata") or {}
        key = (resource.get("kind"), meta.get("namespace") or desired.namespace, meta.get("name"))
        if not reported:
            ready = '<span class="muted">no report</span>'
        elif key in not_ready:
            ready = '<span class="bad">not ready</span>'
        else:
            ready = "ready" if reported.get("state") == "Ready" else '<span class="muted">-</span>'
        rows.append((esc(key[0]), esc(f"{key[1]}/{key[2]}"), ready, esc(not_ready.pop(key, ""))))
    for (kind, namespace, name), message in not_ready.items():  # reported, not desired now
        rows.append(
            (
                esc(kind),
                esc(f"{namespace}/{name}"),
                '<span class="bad">not ready</span>',
                esc(message),
            )
        )
    if not rows:
        return ""
    return table(("Kind", "Namespace/name", "Ready", "Message"), rows, "resources")


def _apps(explanation: dict[str, Any] | None, row: dict[str, Any], desired: dict[str, Any]) -> str:
    reported = row.get("apps") or {}
    names = [a["name"] for a in (explanation or {}).get("apps", []) if a["matches"]]
    names += [n for n in sorted(reported) if n not in names]
    if not names:
        return '<p class="muted">No app selects this node.</p>'
    parts = []
    for name in names:
        mine = reported.get(name) or {}
        state = badge(mine.get("state")) if mine else '<span class="muted">not reported</span>'
        message = f'<p class="message">{esc(mine["message"])}</p>' if mine.get("message") else ""
        parts.append(
            f'<section class="app-detail" data-app="{esc(name)}"><h3>{app_link(name)} {state}</h3>'
            f"{message}{_resources(name, desired.get(name), mine)}</section>"
        )
    return "".join(parts)


def _history(changes: list[Change] | None, now: float) -> str:
    if changes is None:
        return '<p class="muted">The controller does not write a status branch (--no-status).</p>'
    if not changes:
        return '<p class="muted">No status commit records this node yet.</p>'
    rows = [
        (
            since(c.time, now),
            badge(c.state),
            revision_link(c.revision),
            f'<code class="sha">{esc(c.commit[:7])}</code> {esc(c.subject)}',
        )
        for c in changes
    ]
    return table(("When", "State", "Observed", "Status commit"), rows, "history")


def node_page(
    snap: Snapshot,
    node: str,
    explanation: dict[str, Any] | None,
    desired: dict[str, Any],
    changes: list[Change] | None,
) -> Parts:
    now = time.time()
    row = snap.by_node[node]
    state = row.get("state")
    facts = [
        (
            "State",
            badge(state)
            + (f" (reported {esc(row.get('reportedState'))})" if state == UNKNOWN_NODE else ""),
        ),
        ("Online", online_cell(row)),
        ("Observes", revision_cell(row)),
        ("Serving", revision_link(snap.served)),
        ("Last report", since(row.get("lastSeen"), now)),
    ]
    info = row.get("nodeInfo") or {}
    if info.get("kubernetes"):
        facts.append(("Kubernetes", esc(info["kubernetes"])))
    agent, declared = row.get("agent") or info.get("agent"), row.get("agentDeclared")
    if agent or declared:
        wants = f" (the fleet declares {esc(declared)})" if declared and declared != agent else ""
        facts.append(("Agent", esc(agent or "unknown") + wants))
    if row.get("verified") is not None:  # signed reports (docs/security.md)
        signed = f"verified, signed by key {esc(row.get('keyId'))}"
        facts.append(("Reports", signed if row["verified"] else "unverified: no reportKey in git"))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    lines = message_lines(row, "the served revision")
    messages = (
        '<ul class="messages" id="node-messages">'
        + "".join(f'<li class="message">{esc(line)}</li>' for line in lines)
        + "</ul>"
        if lines
        else ""
    )
    header = f"node <b>{esc(node)}</b>"
    body = _explained(explanation, row, snap)
    live = (
        f'<dl class="facts" id="facts">{dl}</dl>{messages}'
        f"<section><h2>Apps</h2>{_apps(explanation, row, desired)}</section>"
        f"<section><h2>History</h2>{_history(changes, now)}</section>"
    )
    return f"node {node}", header, body, live


def revision_page(revision: Revision, snap: Snapshot, rejected: Any) -> Parts:
    now = time.time()
    observing = [
        r["node"] for r in snap.rows if (r.get("observed") or {}).get("revision") == revision.sha
    ]
    what = "served" if revision.sha == snap.served else ""
    if rejected is not None and rejected.revision == revision.sha:
        what = "rejected"
    files = "".join(f"<li><code>{esc(s)} {esc(p)}</code></li>" for s, p in revision.files)
    names = ", ".join(node_link(n) for n in observing[:50]) or '<span class="muted">none</span>'
    more = f" and {len(observing) - 50} more" if len(observing) > 50 else ""
    problems = ""
    if what == "rejected":
        problems = (
            "<h2>Problems</h2><ul>"
            + "".join(f"<li><code>{esc(p)}</code></li>" for p in rejected.problems[:50])
            + "</ul>"
        )
    body = (
        f'<h2 id="subject">{esc(revision.subject)}</h2>'
        f'<dl class="facts"><dt>Commit</dt><dd><code>{esc(revision.sha)}</code> {badge(what) if what else ""}</dd>'
        f"<dt>Author</dt><dd>{esc(revision.author)}</dd><dt>When</dt><dd>{since(revision.time, now)}</dd></dl>"
        + (f"<pre>{esc(revision.body)}</pre>" if revision.body else "")
        + problems
        + f"<h2>Files</h2><ul>{files}</ul>"
    )
    live = f"<section><h2>Nodes observing it ({len(observing)})</h2><p>{names}{more}</p></section>"
    return f"revision {revision.sha[:7]}", f"revision <b>{esc(revision.sha[:7])}</b>", body, live


def close_names(name: str, known: list[str], around: int = 100) -> list[str]:
    """The known names closest to `name` (difflib), looked for among the names next to
    it in sorted order and in the order of their reversed spelling: a typo at either
    end stays near, and 10,000 names cost two sorts, not 10,000 comparisons."""
    if len(known) > 4 * around:
        candidates: set[str] = set()
        for ordered, key in ((sorted(known), name), (sorted(n[::-1] for n in known), name[::-1])):
            at = bisect.bisect_left(ordered, key)
            near = ordered[max(0, at - around) : at + around]
            candidates.update(near if key is name else (n[::-1] for n in near))
        known = sorted(candidates)
    return difflib.get_close_matches(name, known, n=3, cutoff=0.6)


def not_found(kind: str, name: str, known: list[str]) -> Parts:
    """404: no such `kind` (node, app, revision, page), with close names as links."""
    close = close_names(name, known)
    hint = ""
    if close and kind in ("node", "app"):
        links = " or ".join((node_link if kind == "node" else app_link)(c) for c in close)
        hint = f"<p id='did-you-mean'>Did you mean {links}?</p>"
    elif kind == "page":
        hint = "<p>The dashboard has <a href='/'>/</a>, /apps/&lt;app&gt;, /nodes/&lt;node&gt; and /revisions/&lt;sha&gt;.</p>"
    body = (
        f"<h2>No {esc(kind)} {esc(repr(name))}</h2>{hint}<p><a href='/'>Back to the fleet</a></p>"
    )
    return f"no {kind} {name}", "not found", body, ""


def bad_request(reason: str, path: str) -> Parts:
    body = (
        f"<h2>Bad request</h2><p id='reason'>{esc(reason)}</p>"
        f"<p><a href='{esc(path)}'>This page without filters</a></p>"
    )
    return "bad request", "bad request", body, ""
