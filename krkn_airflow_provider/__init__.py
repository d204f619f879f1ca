"""Chaos experiments on Kubernetes as Airflow tasks, with a durable undo journal."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
