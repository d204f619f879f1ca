"""``python -m krkn_airflow_provider.cli``: the same as the ``krkn-rollback`` command."""

from __future__ import annotations

from krkn_airflow_provider.cli import main

raise SystemExit(main())
