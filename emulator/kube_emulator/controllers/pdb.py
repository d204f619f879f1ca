"""PodDisruptionBudget status: healthy pods, disruptions allowed, the DisruptionAllowed condition."""

from __future__ import annotations

from .._api import pdb_status, set_condition
from .._resources import PDB
from .._store import deep_copy
from ._base import Controller


class DisruptionController(Controller):
    """Keyed by namespace: every budget in it is recomputed."""

    def reconcile(self, namespace: str) -> None:
        for pdb in list(self.store.iter(PDB, namespace)):
            status = pdb_status(self.store, pdb)
            new = deep_copy(pdb)
            old_status = pdb.get("status") or {}
            new["status"] = {**status, "conditions": deep_copy(old_status.get("conditions") or [])}
            if status["disruptionsAllowed"] > 0:
                set_condition(new, "DisruptionAllowed", "True", "SufficientPods")
            else:
                set_condition(new, "DisruptionAllowed", "False", "InsufficientPods")
            for cond in new["status"]["conditions"]:
                cond.pop("lastProbeTime", None)
                cond.setdefault("message", "")
                cond["observedGeneration"] = pdb["metadata"].get("generation", 1)
            self._save(PDB, pdb, new)
