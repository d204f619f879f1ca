"""How ``krkn-rollback`` reaches a cluster: a dynamic client from a kubeconfig, one-line errors."""

from __future__ import annotations

import os
from typing import Any

from krkn_airflow_provider.errors import ConfigError, KrknError


def dynamic_client(kubeconfig: str | None, context: str | None) -> Any:
    """A ``DynamicClient`` from a kubeconfig (or in-cluster config when none is given)."""
    from kubernetes import config, dynamic
    from kubernetes.client import ApiClient

    if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
        except Exception as error:  # missing file, not YAML, no such context
            reason = " ".join(str(error).split())[:300]
            raise ConfigError(f"cannot load kubeconfig {kubeconfig or '~/.kube/config'}: {reason}") from error
    else:
        config.load_incluster_config()
        api = ApiClient()
    try:
        return dynamic.DynamicClient(api)  # discovery: the first request to the server
    except Exception as error:
        raise KrknError(unreachable(api.configuration.host, error)) from error


def unreachable(host: str, error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return f"cannot reach the Kubernetes API server at {host}: {' '.join(str(reason).split())[:300]}"
