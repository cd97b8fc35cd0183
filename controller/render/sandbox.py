"""The sandboxed Jinja environment apps' templates render in, within a render budget.

`templating.compile_app` makes one environment per app with `make_environment`.
It is Jinja's `ImmutableSandboxedEnvironment` (no access to Python internals, no
mutation of the context) with `TracedUndefined` (a missing variable is an error),
the filters of `controller.render.filters`, `file()` reading the app's own folder
(`controller.render.appfolder`), and these limits, because a bad pull request must
not stall `shoal validate` in CI or wedge the controller:

- every `{% for %}` loop turn and every call ticks the `RenderBudget` (time, memory,
  cancellation): the loop's iterable is wrapped when the template is parsed;
- a string or list is refused before it is built when it would be over the budget's
  `max_items`: `*`, `+`, `~`, `%`, `**` (by the size of the integer), `str.format`,
  `ljust`/`rjust`/`center`/`zfill`/`expandtabs`/`replace`/`join`, and the filters
  `join`, `center`, `indent`, `format`, `replace`, `wordwrap`; `range` is Jinja's
  (at most 100,000 items).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from controller.render.appfolder import AppFolder
from controller.render.budget import RenderBudget, RenderLimits, RenderOverBudget
from controller.render.filters import FILTERS
from controller.render.secrets import secret
from controller.render.undefined import TracedUndefined

MAX_POWER_BITS = 10_000  # size of an integer `**` may produce

_DIGITS = re.compile(r"\d+")
# str methods whose result can be far longer than their input: name -> size estimate.
_GROWING: dict[str, Callable[[str, tuple[Any, ...], Mapping[str, Any]], int]] = {
    "ljust": lambda s, a, k: _int(a[0] if a else k.get("width")),
    "rjust": lambda s, a, k: _int(a[0] if a else k.get("width")),
    "center": lambda s, a, k: _int(a[0] if a else k.get("width")),
    "zfill": lambda s, a, k: _int(a[0] if a else k.get("width")),
    "expandtabs": lambda s, a, k: len(s) + s.count("\t") * _int(a[0] if a else k.get("tabsize", 8)),
    "replace": lambda s, a, k: _replaced(s, *a[:2]) if len(a) >= 2 else len(s),
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _replaced(text: Any, old: Any, new: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    count = len(text) + 1 if old == "" else text.count(old)
    return len(text) + count * (len(new) - len(old))


# Widths and precisions in `%` and `str.format` specs: `%10s`, `%.3f`, `{:>30}`, `{0:.2f}`.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d*)(?:\.(\d*))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


def _widest(numbers: Iterable[str]) -> int:
    return max((int(d) if len(d) < 20 else 10**20 for d in numbers if d), default=0)


def _percent_width(text: str) -> int:
    return _widest(n for match in _PERCENT_SPEC.finditer(text) for n in match.groups() if n)


def _format_width(text: str) -> int:
    return _widest(d for spec in _FORMAT_SPEC.findall(text) for d in _DIGITS.findall(spec))


def _ints(values: Iterable[Any]) -> list[int]:
    return [v for v in values if type(v) is int]


class _Budgeted(NodeTransformer):
    """Wrap each loop's iterable and each `~` in a call the budget watches."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("budgeted_iter"), [node.iter], [], None, None
        ).set_lineno(node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("budgeted_concat"), [nodes.List(node.nodes)], [], None, None
        ).set_lineno(node.lineno)


class FleetSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, watched by a `RenderBudget` (see the module docstring)."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.budget = RenderBudget(RenderLimits())

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        budgeted = _Budgeted().visit(tree)
        assert isinstance(budgeted, nodes.Template)
        budgeted.set_environment(self)
        return budgeted

    # --- called by compiled templates --------------------------------------------------

    def budgeted_iter(self, iterable: Any) -> Iterator[Any]:
        tick = self.budget.tick
        for item in iterable:
            tick()
            yield item

    def budgeted_concat(self, parts: list[Any]) -> str:
        texts = [str(part) for part in parts]
        self.budget.allow(sum(map(len, texts)), "a string joined with ~")
        return "".join(texts)

    def concat(self, parts: Iterable[Any]) -> str:  # a macro's or block's output
        texts = list(parts)
        self.budget.allow(sum(map(len, texts)), "the output of a macro or block")
        return "".join(texts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.budget.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            estimate = _GROWING.get(name)
            if estimate is not None:
                __self.budget.allow(estimate(owner, args, kwargs), f"str.{name}()")
            elif name == "join" and args:
                items = [str(item) for item in args[0]]
                size = sum(map(len, items)) + len(owner) * max(0, len(items) - 1)
                __self.budget.allow(size, "str.join()")
                return owner.join(items)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_too_large(left, right):
            raise SecurityError(f"{left} ** {right} is too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    self.budget.allow(len(sequence) * count, "repeating a string or list")
        elif operator == "+" and isinstance(left, str | list | tuple):
            if isinstance(right, str | list | tuple):
                self.budget.allow(len(left) + len(right), "adding strings or lists")
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            widest = max([_percent_width(left), *_ints(values)])
            self.budget.allow(widest + len(left), "a % format")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            numbers = _ints((*args, *kwargs.values()))
            self.budget.allow(max([_format_width(text), *numbers]) + len(text), "str.format()")
            return wrapped(*args, **kwargs)

        return checked


def _power_too_large(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0:
        return False
    return abs(base) > 1 and base.bit_length() * exponent > MAX_POWER_BITS


def _checked_filters(env: FleetSandbox) -> dict[str, Callable[..., Any]]:
    """Jinja's filters that can build a string far longer than their input."""
    base = dict(env.filters)  # the originals, before these replace them

    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        size = sum(len(str(i)) for i in items) + len(str(d)) * max(0, len(items) - 1)
        env.budget.allow(size, "the join filter's result")
        return base["join"](eval_ctx, items, d, attribute)

    def center(value: Any, width: int = 80) -> Any:
        env.budget.allow(_int(width), "the center filter's result")
        return base["center"](value, width)

    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        pad = len(width) if isinstance(width, str) else _int(width)
        text = str(value)
        env.budget.allow(len(text) + pad * (text.count("\n") + 1), "the indent filter's result")
        return base["indent"](value, width, first, blank)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(value)
        widest = max([_percent_width(text), *_ints((*args, *kwargs.values()))])
        env.budget.allow(widest + len(text), "the format filter's result")
        return base["format"](value, *args, **kwargs)

    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        env.budget.allow(_replaced(str(s), str(old), str(new)), "the replace filter's result")
        return base["replace"](eval_ctx, s, old, new, count)

    @jinja2.pass_environment
    def wordwrap(environment: Any, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        text = str(value)
        wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
        lines = len(text) // max(1, _int(width)) + text.count("\n") + 1
        env.budget.allow(len(text) + lines * len(str(wrap)), "the wordwrap filter's result")
        return base["wordwrap"](environment, value, width, *args, **kwargs)

    # Jinja passes the eval context to the filters it marks so; keep the marks.
    join = jinja2.pass_eval_context(join)
    replace = jinja2.pass_eval_context(replace)
    return {
        "join": join,
        "center": center,
        "indent": indent,
        "format": format_,
        "replace": replace,
        "wordwrap": wordwrap,
    }


def make_environment(folder: AppFolder, sources: Mapping[str, str]) -> FleetSandbox:
    """The sandbox for one app; `{% include %}` finds only the app's own templates.

    `sources` maps a name relative to `templates/` (`deployment.yaml.j2`,
    `partials/probe.j2`) to its text: nothing else can be loaded.
    """

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        if name not in sources:
            return None
        return sources[name], f"{folder.rel}/templates/{name}", lambda: True

    env = FleetSandbox(
        undefined=TracedUndefined,
        loader=jinja2.FunctionLoader(load),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters.update(_checked_filters(env))
    env.filters.update(FILTERS)
    # Renders must be deterministic: equal inputs, equal digests, no needless republish.
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.globals["file"] = folder.read
    env.globals["secret"] = secret  # the node's sealed token (controller.render.secrets)
    return env


__all__ = ["FleetSandbox", "RenderOverBudget", "make_environment"]
