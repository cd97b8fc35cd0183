"""The labels shoal puts on every object it applies: written by both sides, read by both.

The controller adds them when it renders an app (`controller/render/manifests.py`), the
edge sets them again when it applies (`edge/runtime`), and anyone with kubectl can
find what shoal manages (`-l app.kubernetes.io/managed-by=shoal`) or one app's objects
(`-l shoal.dev/app=web`). Defined once here so the two sides cannot drift apart.
"""

from __future__ import annotations

from typing import Final

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "shoal"
APP_LABEL: Final = "shoal.dev/app"
# In a template, `shoal.dev/adopt: "true"` lets the edge take over an existing object
# shoal did not create (like Helm's adoption); without it such an object is refused.
ADOPT_ANNOTATION: Final = "shoal.dev/adopt"


def shoal_labels(app: str) -> dict[str, str]:
    """The labels of an object that app `app` owns: managed by shoal, and which app."""
    return {MANAGED_BY_LABEL: MANAGED_BY, APP_LABEL: app}
