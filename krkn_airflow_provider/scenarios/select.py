"""Random subsets of what a selection matched, the same for every scenario type.

``pick_pods`` refuses a selection with too few matches, or one that reaches a protected
namespace whatever the random draw, and returns the ``Plan`` of the pods drawn.
"""

from __future__ import annotations

from typing import Any

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios.plan import Plan, Target, pick
from krkn_airflow_provider.scenarios.safety import BlastRadius


def pick_pods(
    limits: BlastRadius, pods: list[dict[str, Any]], count: int, *, key: str, noun: str, selection: str
) -> Plan:
    """``count`` of ``pods`` at random.

    :param key: the config key that asked for ``count`` (for the message).
    :param noun: what matched (``pod``, ``ready pod``), for the message.
    :param selection: the config that selected ``pods``, for the message.
    """
    if not pods:
        raise ScenarioError(f"no {noun} matches {selection}")
    if len(pods) < count:
        raise ScenarioError(f"{key}={count} but only {len(pods)} {noun}(s) match {selection}")
    for namespace in sorted({pod["metadata"]["namespace"] for pod in pods}):
        limits.refuse_namespace(namespace, f"{selection} matches a pod that")
    return pick([Target.of(pod, "Pod") for pod in pods], count)
