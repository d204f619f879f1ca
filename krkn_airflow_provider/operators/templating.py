"""Jinja for scenario files: always sandboxed, also in a DAG that renders native objects.

Airflow renders a DAG with ``render_template_as_native_obj=True`` in a plain (unsandboxed)
``NativeEnvironment``: a scenario template could then reach ``__globals__`` and run
``os.popen``. A scenario file is data that many people edit, so the chaos operators render
it in Airflow's ``SandboxedEnvironment`` with the DAG's own settings (search path, macros,
filters, undefined), keeping native types when the DAG asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2
from airflow.sdk.definitions._internal.templater import SandboxedEnvironment
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat

if TYPE_CHECKING:
    from airflow.sdk import DAG


class SandboxedNativeEnvironment(SandboxedEnvironment):  # type: ignore[misc]
    """Airflow's sandbox, with the native code generator: ``{{ params.config }}`` stays a dict."""

    code_generator_class = NativeCodeGenerator
    concat = staticmethod(native_concat)  # type: ignore[assignment]
    template_class = NativeTemplate


def sandboxed_env(dag: DAG | None, *, native: bool) -> jinja2.Environment:
    """A sandboxed environment with ``dag``'s template settings (or none without a DAG)."""
    options: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
    }
    if dag is not None:
        options["undefined"] = dag.template_undefined
        options["loader"] = jinja2.FileSystemLoader([dag.folder, *(dag.template_searchpath or [])])
        options.update(dag.jinja_environment_kwargs or {})
    env: jinja2.Environment = (SandboxedNativeEnvironment if native else SandboxedEnvironment)(**options)  # type: ignore[no-untyped-call]
    if dag is not None:
        env.globals.update(dag.user_defined_macros or {})
        env.filters.update(dag.user_defined_filters or {})
    return env
