"""An Ansible stdout callback for the conformance suite (tests/conformance/oracle.py).

Ansible loads it by name (`ANSIBLE_STDOUT_CALLBACK=shoal_dump`); it prints one JSON
line at the end of the run: every `msg` the hosts' `debug` tasks returned, and every failure.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "shoal_dump"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.failures: list[dict[str, str]] = []

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._task.action in ("debug", "ansible.builtin.debug"):
            self.seen.append(result._result.get("msg"))

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self.failures.append({"host": result._host.get_name(), "msg": str(result._result)})

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self.failures.append({"host": result._host.get_name(), "msg": "unreachable"})

    def v2_playbook_on_stats(self, stats: Any) -> None:
        print(json.dumps({"seen": self.seen, "failures": self.failures}))
