"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

NAME = "Krkn chaos"
OPERATOR_MODULES = (
    "krkn_airflow_provider.operators.chaos",
    "krkn_airflow_provider.operators.rollback",
    "krkn_airflow_provider.operators.watcher",
    "krkn_airflow_provider.operators.preflight",
    "krkn_airflow_provider.operators.experiment",
)

# The ``[krkn]`` options: name -> (description, example). All are strings, empty by default.
KRKN_OPTIONS = {
    "rollback_location": (
        "Root of the rollback journal: a local or NFS path shared by every worker, or "
        "an object storage URL such as ``s3://bucket/krkn``. An operator's "
        "``rollback_location`` argument wins; when both are empty the environment "
        "variable ``KRKN_ROLLBACK_LOCATION`` is used, then ``~/.krkn/rollback``.\n",
        "s3://chaos-journal/krkn",
    ),
    "rollback_conn_id": (
        "Airflow connection used to reach an object storage ``rollback_location`` "
        "(passed to ``ObjectStoragePath``). Empty: ``$KRKN_ROLLBACK_CONN_ID``, else "
        "fsspec's own credentials.\n",
        "aws_default",
    ),
    "hmac_key_variable": (
        "Name of an Airflow Variable (or secrets backend entry) holding the key that "
        "signs records (HMAC-SHA256); unsigned or mis-signed records are then refused. "
        "Empty: ``$KRKN_ROLLBACK_HMAC_KEY`` if set, else the Variable "
        "``krkn_rollback_hmac_key``, created with a random key by the first task that "
        "needs it. The key itself is never stored in the configuration.\n",
        "krkn_rollback_hmac_key",
    ),
    "hmac_old_keys_variable": (
        "Name of an Airflow Variable holding retired keys (comma or newline "
        "separated) whose signatures are still accepted when reading: key rotation. "
        "Empty: ``$KRKN_ROLLBACK_HMAC_OLD_KEYS``.\n",
        "krkn_rollback_hmac_old_keys",
    ),
}


def _string_option(description: str, example: str) -> dict[str, str]:
    return {
        "description": description,
        "version_added": "0.1.0",
        "type": "string",
        "example": example,
        "default": "",
    }


def get_provider_info() -> dict[str, Any]:
    return {
        # Must equal the distribution name: Airflow refuses to start on a mismatch.
        "package-name": "krkn-airflow-provider",
        "name": NAME,
        "description": "Krkn-style chaos experiments on Kubernetes with a durable undo journal.\n",
        "integrations": [
            {"integration-name": NAME, "external-doc-url": "https://krkn-chaos.dev/", "tags": ["software"]}
        ],
        "hooks": [{"integration-name": NAME, "python-modules": ["krkn_airflow_provider.hooks.krkn"]}],
        "operators": [{"integration-name": NAME, "python-modules": list(OPERATOR_MODULES)}],
        "extra-links": ["krkn_airflow_provider.operators.report_link.GamedayReportLink"],
        "config": {
            "krkn": {
                "description": "Where chaos tasks write their undo records (version files).\n",
                "options": {name: _string_option(*option) for name, option in KRKN_OPTIONS.items()},
            }
        },
    }
