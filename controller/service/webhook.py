"""Push webhooks from GitHub, GitLab and Gitea: check the signature, find the branch.

`controller.service.http` calls `check_push(headers, body, secret, branch)` for
`POST /webhook` and triggers a reconcile when it says so. With a secret set, a
request without a valid signature is refused (401) and changes nothing:

- GitHub (and Gitea, which sends it too): `X-Hub-Signature-256: sha256=<hmac hex>`
- Gitea: `X-Gitea-Signature: <hmac hex>` (HMAC-SHA256 of the body)
- GitLab: `X-Gitlab-Token: <secret>` (the secret itself, compared in constant time)

Every provider puts the pushed ref in the JSON body's `ref` (`refs/heads/<branch>`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookResult:
    status: int  # HTTP status to answer
    reason: str
    trigger: bool = False  # start a reconcile


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> str | None:
    """None when the request carries a valid signature for `secret`, else why not."""
    github = _header(headers, "X-Hub-Signature-256")
    if github is not None:
        expected = "sha256=" + _hmac_hex(secret, body)
        return None if hmac.compare_digest(github.strip(), expected) else "bad X-Hub-Signature-256"
    gitea = _header(headers, "X-Gitea-Signature")
    if gitea is not None:
        ok = hmac.compare_digest(gitea.strip(), _hmac_hex(secret, body))
        return None if ok else "bad X-Gitea-Signature"
    gitlab = _header(headers, "X-Gitlab-Token")
    if gitlab is not None:
        ok = hmac.compare_digest(gitlab.encode(), secret.encode())
        return None if ok else "bad X-Gitlab-Token"
    return "no signature (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"


def check_push(
    headers: Mapping[str, str], body: bytes, secret: str | None, branch: str
) -> WebhookResult:
    """Decide what a webhook request means for a controller following `branch`."""
    if secret:
        problem = verify(headers, body, secret)
        if problem is not None:
            return WebhookResult(401, problem)
    event = (
        _header(headers, "X-GitHub-Event")
        or _header(headers, "X-Gitea-Event")
        or _header(headers, "X-Gitlab-Event")
        or "push"
    )
    if event.lower() in ("ping", "system hook"):
        return WebhookResult(200, f"{event} event: nothing to do")
    if event.lower() not in ("push", "push hook"):
        return WebhookResult(202, f"ignored: {event} event (only pushes trigger a reconcile)")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return WebhookResult(400, "body is not JSON")
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if not isinstance(ref, str):
        # No ref (a test delivery, or a custom hook): fetching is cheap and harmless.
        return WebhookResult(202, f"no ref in the payload: checking {branch}", trigger=True)
    if ref != f"refs/heads/{branch}":
        return WebhookResult(202, f"ignored: push to {ref}, following refs/heads/{branch}")
    return WebhookResult(202, f"push to {ref}: reconciling", trigger=True)
