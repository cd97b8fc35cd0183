"""The pieces every dashboard page is made of: the page shell, escaping, links, state
badges, ages, the filter form, the node table and its pagination.

Everything that comes from the fleet or a report (node names, messages, tags) goes
through `esc` before it reaches HTML: a node name or a message is text, never markup.
The part of a page inside `<div id="live">` is what the page's script fetches again
every second (`X-Shoal-Partial: 1`) and swaps in, so the page updates without a
reload while the filter form, outside it, keeps what the person is typing.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from controller.dashboard.queries import PER_PAGE, Query

STYLE_VERSION = "2"  # bump when static files change, so browsers fetch them again


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def node_link(node: str) -> str:
    return f'<a href="/nodes/{quote(node, safe="")}">{esc(node)}</a>'


def app_link(app: str) -> str:
    return f'<a href="/apps/{quote(app, safe="")}">{esc(app)}</a>'


def revision_link(revision: str | None) -> str:
    if not revision:
        return '<span class="muted">-</span>'
    return f'<a class="sha" href="/revisions/{quote(revision, safe="")}">{esc(revision[:7])}</a>'


def badge(state: Any) -> str:
    text = str(state)
    css = text.replace(" ", "-").lower()
    return f'<span class="badge s-{esc(css)}">{esc(text)}</span>'


def age(seconds: float | None) -> str:
    """`42 s`, `7 min`, `3 h`, `2 d`."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def since(epoch: float | None, now: float) -> str:
    if epoch is None:
        return '<span class="muted">never</span>'
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
    return f'<time datetime="{esc(stamp)}" title="{esc(stamp)}">{age(now - epoch)} ago</time>'


def page(title: str, header: str, body: str, live: str) -> str:
    """A whole page: `body` is static, `live` is refreshed in place every second."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · shoal</title>
<link rel="stylesheet" href="/static/dashboard.css?v={STYLE_VERSION}">
<script src="/static/dashboard.js?v={STYLE_VERSION}" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="/">shoal</a><span class="where">{header}</span>
<span id="live-state" class="muted" title="the page refreshes itself every second">live</span></header>
<main>
{body}
<div id="live">
{live}
</div>
</main>
</body>
</html>
"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    """An HTML table; cells are HTML already (escape before)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def filter_form(path: str, query: Query, states: Sequence[str]) -> str:
    options = ['<option value="">any state</option>'] + [
        f'<option value="{esc(s)}"{" selected" if s == query.state else ""}>{esc(s)}</option>'
        for s in states
    ]
    clear = f' <a href="{esc(path)}">clear</a>' if query.filtered else ""
    return f"""<form class="filters" method="get" action="{esc(path)}">
<label>State <select name="state">{"".join(options)}</select></label>
<label>Selector <input name="selector" value="{esc(query.selector_text)}" placeholder="site=paris,role in (gw)" size="22"></label>
<label>Name <input name="q" type="search" value="{esc(query.search)}" placeholder="part of a name" size="14"></label>
<button type="submit">Filter</button>{clear}
</form>"""


def filter_rows(
    rows: list[dict[str, Any]], query: Query, tags: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    if not query.filtered:
        return rows
    selector, search, state = query.selector, query.search.lower(), query.state
    out = []
    for row in rows:
        if state and row.get("state") != state:
            continue
        if search and search not in row["node"].lower():
            continue
        if selector is not None and not selector.matches(tags.get(row["node"], {})):
            continue
        out.append(row)
    return out


def revision_cell(row: dict[str, Any]) -> str:
    revision = str((row.get("observed") or {}).get("revision") or "")
    if not revision:
        return '<span class="muted">-</span>'
    behind = row.get("behind")
    if behind is None:
        return f'{revision_link(revision)} <span class="warn">unknown revision</span>'
    if behind:
        return f'{revision_link(revision)} <span class="warn">{behind} behind</span>'
    return revision_link(revision)


def online_cell(row: dict[str, Any]) -> str:
    online = row.get("online")
    if online is None:
        return '<span class="muted">-</span>'
    return "yes" if online else '<span class="bad">offline</span>'


def apps_cell(row: dict[str, Any]) -> str:
    return " ".join(
        f'<span class="app s-{esc(str(a.get("state")).lower())}">{esc(name)}</span>'
        for name, a in sorted((row.get("apps") or {}).items())
    )


def node_table(path: str, rows: list[dict[str, Any]], query: Query, now: float) -> str:
    """One page of `rows` (already filtered), with the pager."""
    total = len(rows)
    pages = max(1, -(-total // PER_PAGE))
    number = min(query.page, pages)
    shown = rows[(number - 1) * PER_PAGE : number * PER_PAGE]
    body = [
        f'<tr data-node="{esc(r["node"])}" data-state="{esc(r.get("state"))}">'
        f"<td>{node_link(r['node'])}</td><td>{badge(r.get('state'))}</td>"
        f"<td>{online_cell(r)}</td><td>{revision_cell(r)}</td>"
        f'<td class="wide">{apps_cell(r)}</td><td>{since(r.get("lastSeen"), now)}</td></tr>'
        for r in shown
    ]
    head = "".join(
        f"<th{' class=wide' if h == 'Apps' else ''}>{h}</th>"
        for h in ("Node", "State", "Online", "Revision", "Apps", "Last report")
    )
    first = (number - 1) * PER_PAGE + 1 if total else 0
    pager = [
        f'<span class="count">{first}-{first + len(shown) - 1 if total else 0} of {total} nodes</span>'
    ]
    if number > 1:
        pager.append(f'<a rel="prev" href="{esc(query.link(path, page=number - 1))}">previous</a>')
    if number < pages:
        pager.append(f'<a rel="next" href="{esc(query.link(path, page=number + 1))}">next</a>')
    if not total:
        return '<p class="muted" id="nodes-empty">No node matches.</p>'
    return (
        f'<div class="scroll"><table class="nodes"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div><p class="pager">{" ".join(pager)}</p>'
    )
