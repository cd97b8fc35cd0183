"""Writes to the API server through the official client's `ApiClient`, JSON in and out.

`KubernetesRuntime` (edge/runtime/kubernetes.py) sends every server-side apply and
every namespace it creates through `send`: the same request `DynamicClient` would
make (the discovered resource's path, the query, `Accept`/`Content-Type`, the
configured credentials, timeouts and connection pool) and the same errors (the
`DynamicApiError` family: `ConflictError` on 409 and so on), but the body goes out
as JSON text made once, and the answer comes back as a plain dict. The dynamic
client would walk the body to sanitise it and wrap every field of the answer in an
object, which costs the agent as much as the rest of its work on an object.
Reads (`get`, discovery) still go through `DynamicClient`.
"""

from __future__ import annotations

import json
from typing import Any

APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: what kubectl sends too
JSON = "application/json"


def send(
    dynamic: Any,
    method: str,
    path: str,
    body: dict[str, Any],
    query: list[tuple[str, Any]],
    content_type: str = JSON,
    timeout: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """One request with `body`; the answer's object (a dict).

    `dynamic` is a `kubernetes.dynamic.DynamicClient`; a failure raises what its own
    calls raise (`DynamicApiError` subclasses, or urllib3's errors when unreachable)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import api_exception

    api = dynamic.client
    # The client encodes an application/json body itself (whatever its type); any other
    # content type is sent as given when it is text.
    payload: Any = body if content_type == JSON else json.dumps(body)
    request = api.param_serialize(
        method,
        path,
        query_params=query,
        header_params={"Accept": JSON, "Content-Type": content_type},
        body=payload,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()
        try:
            api.response_deserialize(response, {})  # raises ApiException with the Status
        except ApiException as exc:
            raise api_exception(exc) from None  # type: ignore[no-untyped-call]
    answer: dict[str, Any] = json.loads(response.response.data)
    return answer
