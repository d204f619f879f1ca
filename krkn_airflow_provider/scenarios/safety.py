"""Blast radius: what a scenario may touch, checked by the runner after ``plan()``.

The checks run on the planned targets of every entry before the first change of that
entry, in one place (``check_plan``), so no scenario type implements them itself:

* ``max_targets``: at most this many targets per entry;
* ``max_percent``: at most this share of what the selection matched (a scenario that
  picks ``kill: 2`` out of 10 matching pods returns a ``Plan`` with ``matched=10``; one
  that hits everything it matched is at 100 %);
* protected namespaces (``kube-system``, ``kube-public``, ``kube-node-lease`` and the
  namespace Airflow runs in, when known) are refused unless
  ``allow_protected_namespaces`` is set.

``ScenarioContext.change`` checks the namespace of every undo record again, as a backstop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.scenarios.plan import Plan

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# Set by the kubelet in every pod that mounts a service account token.
SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
AIRFLOW_NAMESPACE_ENV = "KRKN_AIRFLOW_NAMESPACE"


class BlastRadiusExceeded(ScenarioError):
    """The planned targets exceed a limit, or lie in a protected namespace; nothing was changed."""


def airflow_namespace(service_account_file: str = SERVICE_ACCOUNT_NAMESPACE_FILE) -> str | None:
    """The namespace Airflow runs in: ``$KRKN_AIRFLOW_NAMESPACE``, else the in-cluster one."""
    value = os.environ.get(AIRFLOW_NAMESPACE_ENV, "").strip()
    if value:
        return value
    try:
        return Path(service_account_file).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def default_protected() -> frozenset[str]:
    own = airflow_namespace()
    return frozenset(SYSTEM_NAMESPACES + ((own,) if own else ()))


@dataclass(frozen=True)
class BlastRadius:
    """Limits on what one entry of a scenario may touch.

    :param max_targets: at most this many targets per entry (``None``: no limit).
    :param max_percent: at most this percentage of what the entry's selection matched.
    :param allow_protected_namespaces: allow targets and changes in protected namespaces.
    :param protected_namespaces: the protected namespaces; default: the system ones and
        the namespace Airflow runs in (``$KRKN_AIRFLOW_NAMESPACE`` or the service account's).
    """

    max_targets: int | None = None
    max_percent: float | None = None
    allow_protected_namespaces: bool = False
    protected_namespaces: frozenset[str] = field(default_factory=default_protected)

    def __post_init__(self) -> None:
        if self.max_targets is not None and self.max_targets < 1:
            raise ConfigError(f"max_targets must be at least 1, got {self.max_targets}")
        if self.max_percent is not None and not 0 < self.max_percent <= 100:
            raise ConfigError(f"max_percent must be in (0, 100], got {self.max_percent}")

    def refuse_namespace(self, namespace: str | None, what: str) -> None:
        """Raise when ``namespace`` is protected and not allowed."""
        if namespace and namespace in self.protected_namespaces and not self.allow_protected_namespaces:
            raise BlastRadiusExceeded(
                f"{what} is in protected namespace {namespace!r} "
                f"(protected: {', '.join(sorted(self.protected_namespaces))}); narrow the selection, "
                "or pass allow_protected_namespaces=True if this is really meant"
            )


def check_plan(limits: BlastRadius, plan: Plan, *, namespaces: tuple[str, ...] = ()) -> None:
    """Refuse a plan that exceeds ``limits``; called by the runner before any change.

    :param plan: the entry's planned targets, with how many its selection matched when
        they are a random subset (default: all matched were chosen).
    :param namespaces: namespaces the scenario writes into besides its targets' (where it
        creates its helper pods, policies...).
    """
    for namespace in namespaces:
        limits.refuse_namespace(namespace, "the scenario's namespace")
    for target in plan:
        limits.refuse_namespace(target.namespace, f"target {target}")
    if limits.max_targets is not None and len(plan) > limits.max_targets:
        raise BlastRadiusExceeded(
            f"the plan has {len(plan)} targets but max_targets={limits.max_targets}: "
            "select fewer (kill, count, instance_count, number-of-nodes...) or raise max_targets"
        )
    if limits.max_percent is not None:
        chosen, matched = plan.selected or (len(plan), len(plan))
        percent = 100.0 * chosen / matched if matched else 0.0
        if percent > limits.max_percent + 1e-9:
            raise BlastRadiusExceeded(
                f"the plan hits {chosen} of the {matched} its selection matched "
                f"({percent:.0f} %) but max_percent={limits.max_percent:g}: "
                "select fewer, widen the selection, or raise max_percent"
            )
