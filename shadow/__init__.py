"""shoal's shadow contract: what the controller and the edge agent both write and read.

The documents (`documents`), their canonical JSON and digests (`canonical`), topics
(`topics`), generations (`generations`), agent releases (`release`) and the labels on
applied objects (`labels`).
No I/O; both sides import it, it imports neither. The public surface is `__all__`,
pinned with the controller's and transport's by tests/test_public_api.py.
"""

from shadow.canonical import (
    apps_digest,
    canonical_array,
    canonical_json,
    canonical_object,
    digest,
    digest_bytes,
)
from shadow.documents import (
    API_VERSION,
    APP_STATES,
    NODE_STATES,
    AppState,
    AppStatus,
    DesiredApp,
    DesiredDocument,
    DocumentError,
    NodeInfo,
    NodeState,
    Rejection,
    ReportedDocument,
    Resource,
    ResourceStatus,
    node_digest,
    parse_json,
    utc_now,
)
from shadow.generations import is_newer, next_generation, now_ms
from shadow.labels import (
    ADOPT_ANNOTATION,
    APP_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    shoal_labels,
)
from shadow.release import AgentRelease, AgentUpdate, ReleaseError
from shadow.topics import DEFAULT_PREFIX, Channel, Topics, is_valid_node_name

__all__ = [
    "ADOPT_ANNOTATION",
    "API_VERSION",
    "APP_LABEL",
    "APP_STATES",
    "DEFAULT_PREFIX",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "NODE_STATES",
    "AgentRelease",
    "AgentUpdate",
    "AppState",
    "AppStatus",
    "Channel",
    "DesiredApp",
    "DesiredDocument",
    "DocumentError",
    "NodeInfo",
    "NodeState",
    "Rejection",
    "ReleaseError",
    "ReportedDocument",
    "Resource",
    "ResourceStatus",
    "Topics",
    "apps_digest",
    "canonical_array",
    "canonical_json",
    "canonical_object",
    "digest",
    "digest_bytes",
    "is_newer",
    "is_valid_node_name",
    "next_generation",
    "node_digest",
    "now_ms",
    "parse_json",
    "shoal_labels",
    "utc_now",
]
