"""The Job controller: run pods until enough succeed, or the backoff limit is passed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _kinds
from .._api import condition, pod_is_active, pod_is_ready, set_condition
from .._resources import JOB, POD
from .._store import Key, Obj, deep_copy
from ._base import Controller

if TYPE_CHECKING:
    from .loop import Controllers

_COMPLETE = ("CompletionsReached", "Reached expected number of succeeded pods")
_BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")


class JobController(Controller):
    """Keyed by (namespace, name)."""

    def __init__(self, loop: Controllers) -> None:
        super().__init__(loop)
        #: job uid -> {pod uid: "Succeeded"|"Failed"}
        self.finished: dict[str, dict[str, str]] = {}

    def reset(self) -> None:
        self.finished.clear()

    def reconcile(self, key: Key) -> None:
        job = self.store.data[JOB].get(key)
        if job is None:
            return
        pods = self._owned(job)
        succeeded, failed = self._counts(job, pods)
        active = [p for p in pods if pod_is_active(p)]
        done = condition(job, "Complete") == "True" or condition(job, "Failed") == "True"
        new = deep_copy(job)
        status = new.setdefault("status", {})
        status.setdefault("startTime", _kinds.now())
        if not done and not job["metadata"].get("deletionTimestamp"):
            active = self._advance(key, job, new, active, succeeded, failed)
        for fld, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[fld] = value
            else:
                status.pop(fld, None)
        status["ready"] = sum(1 for p in active if pod_is_ready(p))
        status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        status["uncountedTerminatedPods"] = {}
        for cond in status.get("conditions") or []:
            cond["lastProbeTime"] = cond.get("lastProbeTime") or cond.get("lastTransitionTime")
        self._save(JOB, job, new)

    def _counts(self, job: Obj, pods: list[Obj]) -> tuple[int, int]:
        """(succeeded, failed), remembering pods that have since gone."""
        finished = self.finished.setdefault(job["metadata"]["uid"], {})
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                finished[pod["metadata"]["uid"]] = phase
            elif pod["metadata"].get("deletionTimestamp"):
                finished.setdefault(pod["metadata"]["uid"], "Failed")
        old_status = job.get("status") or {}
        succeeded = sum(1 for v in finished.values() if v == "Succeeded")
        failed = sum(1 for v in finished.values() if v == "Failed")
        return max(succeeded, int(old_status.get("succeeded", 0))), max(
            failed, int(old_status.get("failed", 0))
        )

    def _advance(
        self, key: Key, job: Obj, new: Obj, active: list[Obj], succeeded: int, failed: int
    ) -> list[Obj]:
        """Finish, fail, suspend or start pods; returns the pods active afterwards."""
        spec = job.get("spec") or {}
        completions = spec.get("completions")
        completions = int(completions) if completions is not None else 1
        if succeeded >= completions:
            set_condition(new, "SuccessCriteriaMet", "True", *_COMPLETE)
            set_condition(new, "Complete", "True", *_COMPLETE)
            new["status"]["completionTime"] = _kinds.now()
        elif failed > int(spec.get("backoffLimit", 6)):
            set_condition(new, "FailureTarget", "True", *_BACKOFF)
            set_condition(new, "Failed", "True", *_BACKOFF)
        elif not spec.get("suspend"):
            want = min(int(spec.get("parallelism", 1)), completions - succeeded) - len(active)
            if want > 0 and not self._recreate_wait("job", key):
                for _ in range(want):
                    self.api.create(POD, key[0], self._new_pod(job))
            return [p for p in self._owned(job) if pod_is_active(p)]
        for pod in active:
            self._delete_quietly(POD, pod)
        return []
