"""An app's checked objects made into its `DesiredApp` entry, sharing work between nodes.

`rendering` calls `ObjectChecks.checks` for each object an app render produced (the
app's policy, and the rule that sealed values go only in a Secret's data) and
`assemble` to build the entry and its digest. Objects shared between nodes through
the render memo (a Deployment every node of a site has) are checked and encoded
once; an object made for one node (`fresh`, controller.render.placeholders) is
checked and encoded for that node, but the policy, which outside RBAC reads only
apiVersion, kind and metadata, is judged once per distinct value of those.
"""

from __future__ import annotations

from typing import Any

from controller.fleet.model import App
from controller.fleet.problems import Problem
from controller.render.manifests import policy_problems
from controller.render.rendercache import AppMemo
from controller.render.secrets import sealed_problems
from shadow import DesiredApp, canonical_array, canonical_json, canonical_object, digest_bytes


class ObjectChecks:
    """The policy and sealed-value checks of one fleet render."""

    def __init__(self) -> None:
        self.policies: dict[tuple[str, ...], list[Problem]] = {}  # see `fresh_policy`

    def checks(
        self, memo: AppMemo, app: App, obj: dict[str, Any], file: str, fresh: bool
    ) -> tuple[list[Problem], list[Problem]]:
        """What the app's policy and the sealed-value rule say of `obj`; once per shared object."""
        if not fresh:
            entry = memo.checks.get(id(obj))
            if entry is not None and entry[0] is obj:
                return entry[1], entry[2]
            policy = policy_problems(app, [obj], [file])
        else:
            policy = self.fresh_policy(app, obj, file)
        sealed = sealed_problems(app.name, [obj], [file])
        if not fresh:  # the entry holds the object, so its id names no other meanwhile
            memo.checks[id(obj)] = (obj, policy, sealed)
        return policy, sealed

    def fresh_policy(self, app: App, obj: dict[str, Any], file: str) -> list[Problem]:
        """The policy's problems with one node's object: outside RBAC (whose rules it
        reads) a policy reads only apiVersion, kind and metadata, so nodes share them."""
        api_version = obj.get("apiVersion")
        if not isinstance(api_version, str) or "rbac" in api_version:
            return policy_problems(app, [obj], [file])
        key = (app.name, file, api_version, repr(obj.get("kind")), repr(obj.get("metadata")))
        found = self.policies.get(key)
        if found is None:
            found = self.policies[key] = policy_problems(app, [obj], [file])
        return found


def assemble(
    memo: AppMemo, app: App, resources: list[dict[str, Any]], fresh: list[bool]
) -> DesiredApp:
    """`DesiredApp.build`, encoding each shared object once instead of once per app.

    The digest covers the canonical JSON of {version, namespace, resources};
    assembled from encoded parts, objects shared through the parse memo (a
    Deployment every node has) are encoded once.
    Tests and the benchmark check the result equals `DesiredApp.build`.
    """
    parts = []
    for obj, own in zip(resources, fresh, strict=True):
        if own:  # one node's object: encoded once anyway, not worth keeping
            parts.append(canonical_json(obj))
            continue
        parts.append(encoded(memo, obj))
    members = {
        "version": canonical_json(app.version),
        "namespace": canonical_json(app.namespace),
        "resources": canonical_array(parts),
    }
    if app.policy:  # a default policy is left out of the entry and its digest
        members["policy"] = canonical_json([p.to_dict() for p in app.policy])
    content = canonical_object(members)
    return DesiredApp(
        app.version, app.namespace, tuple(resources), digest_bytes(content), app.policy
    )


def encoded(memo: AppMemo, obj: dict[str, Any]) -> bytes:
    """The canonical JSON of an object shared through the memo, encoded once."""
    # The entry holds the object, so its id names no other object meanwhile.
    entry = memo.encoded.get(id(obj))
    if entry is None or entry[0] is not obj:
        entry = memo.encoded[id(obj)] = (obj, canonical_json(obj))
    return entry[1]
