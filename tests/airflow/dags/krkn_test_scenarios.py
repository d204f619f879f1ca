"""Scenario types used only by the tests: real scenarios that fail on purpose.

Imported by the test DAG file, so they are registered wherever that file is parsed
(``dag.test()`` in the test process, or a worker under ``airflow standalone``).
"""

from __future__ import annotations

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios import register
from krkn_airflow_provider.scenarios.application_outage import ApplicationOutage
from krkn_airflow_provider.scenarios.hog import Hog
from krkn_airflow_provider.scenarios.plan import Plan


@register
class FailAfterInject(Hog):
    """A hog that fails right after creating its pods (the records stay pending)."""

    type_name = "fail_after_inject_scenarios"

    def inject(self, plan: Plan) -> None:
        super().inject(plan)
        raise ScenarioError("made to fail after its changes")


@register
class FailFirstTry(Hog):
    """A hog that fails after injecting on the task's first try only."""

    type_name = "fail_first_try_scenarios"

    def inject(self, plan: Plan) -> None:
        super().inject(plan)
        if self.ctx.journal.origin.try_number == 1:
            raise ScenarioError("made to fail on the first try")


@register
class FailingOutage(ApplicationOutage):
    """An application outage that fails right after creating its NetworkPolicy."""

    type_name = "failing_outage_scenarios"

    def inject(self, plan: Plan) -> None:
        super().inject(plan)
        raise ScenarioError("made to fail after its change")
