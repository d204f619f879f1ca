"""The control plane the emulator fakes: kube-controller-manager, scheduler and kubelets.

Everything runs as one asyncio task on the server's loop (:mod:`.loop`). Delays
(``pod_ready_delay``, ``recreate_delay``, ``pod_terminate_delay``) are loop timers that mark
a key dirty again. One module per controller:

* always on — garbage collection (:mod:`.gc`: ownerReferences, foreground deletion) and the
  namespace lifecycle (:mod:`.namespace`: default ServiceAccount and ``kube-root-ca.crt``,
  deleting contents, finalizing);
* switchable (``Emulator(controllers=...)``/``set_controllers``) — :mod:`.deployment`,
  :mod:`.replicaset`, :mod:`.statefulset`, :mod:`.daemonset`, :mod:`.job`, the
  :mod:`.scheduler`, the :mod:`.kubelet`, node lifecycle taints (:mod:`.nodelifecycle`),
  PodDisruptionBudget status (:mod:`.pdb`).
"""

from __future__ import annotations

from .loop import Controllers

#: signal names a ``kill`` in an exec session understands, with their numbers
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "STOP": 19}

__all__ = ["SIGNALS", "Controllers"]
