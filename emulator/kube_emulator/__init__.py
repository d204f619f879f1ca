"""An in-memory Kubernetes API server for tests and demos.

Start one with :class:`Emulator`; talk to it with the official ``kubernetes`` client (or
``kubectl``) through the kubeconfig it writes. See ``docs/emulator.md``.
"""

from __future__ import annotations

from ._emulator import KUBECONFIG_CONTEXT, Emulator
from ._errors import ApiError
from ._tls import CA_PEM
from ._types import ExecRecord, Fault, RequestRecord

__all__ = ["CA_PEM", "KUBECONFIG_CONTEXT", "ApiError", "Emulator", "ExecRecord", "Fault", "RequestRecord"]
