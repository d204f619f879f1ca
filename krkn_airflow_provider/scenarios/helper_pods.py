"""The base of types that run their own pods in the configured namespace for the hold.

``hog_scenarios`` and ``syn_flood_scenarios`` create helper pods (each after its guarded
``delete`` record), hold while they run, and let cleanup delete them; recovery is those
pods being gone. The pod names are carried across a deferred hold.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from krkn_airflow_provider.scenarios import kube
from krkn_airflow_provider.scenarios.base import ConfigT, Scenario, ScenarioContext

GONE_TIMEOUT = 120.0


class HelperPods(Scenario[ConfigT]):
    """A scenario whose changes are pods it creates in ``config.namespace``."""

    namespace_fields = ("namespace",)
    deferrable = True
    carried = ("pods",)
    # What the pods are called in the recovery wait ("hog", "attacker").
    helper: ClassVar[str] = "helper"

    def __init__(self, config: ConfigT, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.pods: list[str] = []  # names of the pods created so far

    @property
    def namespace(self) -> str:
        return str(getattr(self.config, "namespace"))  # noqa: B009 - every subclass's config has one

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        # A hold deferred by the previous release carried hog pods as [namespace, name].
        self.pods = [pod if isinstance(pod, str) else str(pod[-1]) for pod in self.pods]

    def recover(self) -> float:
        started = time.monotonic()
        self.ctx.poll(
            lambda: all(
                kube.get(self.ctx.client, "v1", "Pod", name, self.namespace) is None for name in self.pods
            ),
            timeout=GONE_TIMEOUT,
            what=f"{self.helper} pods to be gone",
        )
        return time.monotonic() - started
