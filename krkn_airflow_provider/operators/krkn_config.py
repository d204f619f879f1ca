"""``dag_from_krkn_config``: a Krkn ``config.yaml`` as an Airflow DAG.

Krkn runs ``kraken.chaos_scenarios`` in order — every file of every type — sleeps
``tunings.wait_duration`` after each, and repeats it all ``tunings.iterations`` times (or
forever with ``tunings.daemon_mode``). The DAG does the same with one
``ChaosScenarioOperator`` per file, a ``ChaosWaitOperator`` between two of them, and the
rollback and watcher of ``chaos_experiment`` after the last. Reading the config touches no
cluster and no connection; a scenario type the provider does not run is refused here, so
the DAG shows an import error naming it instead of failing at run time.

Daemon mode: a scheduler already repeats a DAG, so ``daemon_mode: true`` becomes one
iteration per DAG run with ``schedule="@continuous"`` and ``max_active_runs=1`` — the
next run starts when the previous one ends, like Krkn's endless loop, but each run has its
own journal context, rollback and report.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from airflow.sdk import DAG, BaseOperator
from airflow.sdk.exceptions import AirflowException

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.operators.chaos import ChaosScenarioOperator
from krkn_airflow_provider.operators.experiment import chaos_experiment
from krkn_airflow_provider.scenarios import known_types

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

# The keys this module reads; every other key is reported once as not used.
USED_KEYS = {
    "kraken": {"chaos_scenarios", "kubeconfig_path"},
    "tunings": {"wait_duration", "iterations", "daemon_mode"},
}
DEFAULT_START = datetime(2026, 1, 1)


@dataclass(frozen=True)
class KrknScenarioFile:
    """One entry of ``kraken.chaos_scenarios``: its type and the file, resolved."""

    scenario_type: str
    path: Path
    written_as: str


@dataclass(frozen=True)
class KrknConfig:
    """What the provider takes from a Krkn ``config.yaml``."""

    path: Path
    scenarios: list[KrknScenarioFile]
    wait_duration: float = 60.0
    iterations: int = 1
    daemon_mode: bool = False
    kubeconfig_path: str | None = None
    unused: list[str] = field(default_factory=list)


def _number(section: Mapping[str, Any], key: str, default: float, source: Path) -> float:
    value = section.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{source}: tunings.{key} must be a number of seconds or a count, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{source}: tunings.{key} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{source}: tunings.{key} must not be negative")
    return number


def _flag(value: Any, key: str, source: Path) -> bool:
    # Krkn reads YAML booleans; its sample files also carry "True"/"False" strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None:
        return False
    raise ConfigError(f"{source}: tunings.{key} must be true or false, not {value!r}")


def _files(entry: Any, scenario_type: str, source: Path, unused: list[str]) -> list[str]:
    """The scenario files of one ``{type: [...]}`` entry, in order.

    Older Krkn configs give some items as ``[scenario_file, post_action.py]``; the
    post action is a script Krkn ran after the scenario — not run here, only reported.
    """
    if not isinstance(entry, list):
        raise ConfigError(
            f"{source}: kraken.chaos_scenarios.{scenario_type} must be a list of scenario files, "
            f"not {type(entry).__name__}"
        )
    files = []
    for item in entry:
        if isinstance(item, list) and item and all(isinstance(part, str) for part in item):
            files.append(item[0].strip())
            unused.extend(f"post action {part.strip()} ({scenario_type})" for part in item[1:])
        elif isinstance(item, str) and item.strip():
            files.append(item.strip())
        else:
            raise ConfigError(
                f"{source}: kraken.chaos_scenarios.{scenario_type} holds {item!r}; "
                "give the path of a scenario file"
            )
    return files


def read_krkn_config(path: str | os.PathLike[str]) -> KrknConfig:
    """Read a Krkn ``config.yaml``; never reads a cluster or a connection.

    Scenario file paths resolve relative to the config file. Raises ``ConfigError``
    naming the key, type or file for anything the provider cannot run.
    """
    source = Path(path).expanduser().resolve()
    document, kraken, tunings = _sections(source)
    unused = _unused_keys(document, kraken, tunings)
    scenarios = _scenario_files(kraken, source, unused)
    iterations = _number(tunings, "iterations", 1, source)
    if iterations < 1 or iterations != int(iterations):
        raise ConfigError(f"{source}: tunings.iterations must be a whole number of at least 1")
    kubeconfig = kraken.get("kubeconfig_path")
    return KrknConfig(
        path=source,
        scenarios=scenarios,
        wait_duration=_number(tunings, "wait_duration", 60, source),
        iterations=int(iterations),
        daemon_mode=_flag(tunings.get("daemon_mode"), "daemon_mode", source),
        kubeconfig_path=str(kubeconfig) if kubeconfig else None,
        unused=unused,
    )


def _sections(source: Path) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """The parsed file, its ``kraken`` section and its ``tunings`` section (may be empty)."""
    try:
        document = yaml.safe_load(source.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read Krkn config {source}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a Krkn config is a mapping with a `kraken` section")
    kraken = document.get("kraken")
    if not isinstance(kraken, dict) or "chaos_scenarios" not in kraken:
        raise ConfigError(f"{source}: `kraken.chaos_scenarios` is missing; list the scenario files there")
    tunings = document.get("tunings") or {}
    if not isinstance(tunings, dict):
        raise ConfigError(f"{source}: `tunings` must be a mapping")
    return document, kraken, tunings


def _unused_keys(document: dict[Any, Any], kraken: dict[Any, Any], tunings: dict[Any, Any]) -> list[str]:
    """The keys of the file this module does not read, top level first."""
    unused: list[str] = []
    for key in document:
        if key not in USED_KEYS:
            unused.append(str(key))
    for section_name, section in (("kraken", kraken), ("tunings", tunings)):
        unused.extend(f"{section_name}.{key}" for key in section if key not in USED_KEYS[section_name])
    return unused


def _scenario_files(kraken: dict[Any, Any], source: Path, unused: list[str]) -> list[KrknScenarioFile]:
    """Every file of ``kraken.chaos_scenarios``, in order, of a supported type and found on disk."""
    supported = set(known_types())
    scenarios: list[KrknScenarioFile] = []
    entries = kraken["chaos_scenarios"] or []
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: kraken.chaos_scenarios must be a list of {{<type>: [files]}}")
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(
                f"{source}: each item of kraken.chaos_scenarios is one {{<type>: [files]}}, not {entry!r}"
            )
        ((scenario_type, files),) = entry.items()
        names = _files(files, str(scenario_type), source, unused)
        if scenario_type not in supported:
            shown = ", ".join(names) or "(no files)"
            raise ConfigError(
                f"{source}: scenario type {scenario_type!r} (file {shown}) is not supported by "
                f"krkn-airflow-provider; supported types: {', '.join(sorted(supported))}"
            )
        for name in names:
            resolved = (source.parent / os.path.expanduser(name)).resolve()
            if not resolved.is_file():
                raise ConfigError(
                    f"{source}: scenario file {name} ({scenario_type}) not found at {resolved}; "
                    "paths are relative to the config file"
                )
            scenarios.append(KrknScenarioFile(str(scenario_type), resolved, name))
    if not scenarios:
        raise ConfigError(f"{source}: kraken.chaos_scenarios lists no scenario file")
    return scenarios


class ChaosWaitOperator(BaseOperator):
    """Wait ``seconds`` between two chaos tasks, as Krkn's ``tunings.wait_duration``.

    It sleeps in the worker rather than deferring: Krkn's waits are about a minute, a
    sleeping task needs no triggerer, and it stops at once when it is marked failed or
    cleared (SIGTERM). For waits of many minutes, a deferrable sensor frees the slot.

    :param seconds: how long to wait.
    """

    template_fields: Sequence[str] = ("seconds",)
    ui_color = "#e8e8e8"

    def __init__(self, *, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds
        self._stop = threading.Event()

    def execute(self, context: Context) -> float:
        seconds = float(self.seconds)
        self.log.info("waiting %.1f s before the next scenario (tunings.wait_duration)", seconds)
        if self._stop.wait(seconds):
            raise AirflowException("wait interrupted")
        return seconds

    def on_kill(self) -> None:
        self._stop.set()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "scenario"


def dag_from_krkn_config(
    path: str | os.PathLike[str],
    *,
    dag_id: str,
    schedule: Any = None,
    start_date: datetime = DEFAULT_START,
    catchup: bool = False,
    kubernetes_conn_id: str = "kubernetes_default",
    rollback_location: str | None = None,
    storage_conn_id: str | None = None,
    teardown: bool = False,
    operator_kwargs: dict[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """Build a DAG that runs a Krkn ``config.yaml`` (call it at module level of a DAG file).

    One ``ChaosScenarioOperator`` per scenario file, in Krkn's order, repeated
    ``tunings.iterations`` times; a ``ChaosWaitOperator`` of ``tunings.wait_duration``
    between two of them; then ``chaos_experiment``'s rollback and watcher.
    ``kraken.kubeconfig_path`` is not used: the cluster is the Airflow connection.

    :param path: the Krkn config file; scenario files resolve relative to it.
    :param dag_id: the DAG's id.
    :param schedule: the DAG's schedule; with ``daemon_mode`` and no schedule given,
        ``"@continuous"``.
    :param kubernetes_conn_id: the cncf.kubernetes connection for every task.
    :param rollback_location: journal root for every task; default ``[krkn] rollback_location``.
    :param storage_conn_id: connection for an object storage journal.
    :param teardown: the setup/teardown shape of ``chaos_experiment``.
    :param operator_kwargs: extra arguments for every ``ChaosScenarioOperator`` (probes, ...).
    :param dag_kwargs: any other ``DAG`` argument (params, tags, template_searchpath, ...).
    """
    config = read_krkn_config(path)
    if config.unused:
        log.info(
            "%s: keys not used by krkn-airflow-provider (ignored): %s", config.path, ", ".join(config.unused)
        )
    iterations, schedule = _iterations_and_schedule(config, schedule)
    dag_folder = Path(sys._getframe(1).f_code.co_filename).resolve().parent
    root, searchpath = _template_root(config, dag_folder, dag_kwargs.pop("template_searchpath", None))
    common: dict[str, Any] = {
        "kubernetes_conn_id": kubernetes_conn_id,
        "rollback_location": rollback_location,
        "storage_conn_id": storage_conn_id,
    }
    dag = DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=catchup,
        template_searchpath=searchpath or None,
        **_with_dag_defaults(config, dag_kwargs),
    )
    with dag:
        tasks = _chaos_tasks(config, iterations, root, common, operator_kwargs or {})
        chaos_experiment(tasks, teardown=teardown, **common)
    return dag


def _with_dag_defaults(config: KrknConfig, dag_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``dag_kwargs`` with this module's defaults for what they leave out."""
    # Krkn runs one scenario at a time; two runs of one gameday must not overlap either.
    return {
        "max_active_runs": 1,
        "description": f"Krkn config {config.path.name}, run as a DAG",
        "tags": ["chaos", "krkn"],
        **dag_kwargs,
    }


def _iterations_and_schedule(config: KrknConfig, schedule: Any) -> tuple[int, Any]:
    """Iterations per DAG run, and the schedule: in daemon mode one iteration, runs back to back."""
    if not config.daemon_mode:
        return config.iterations, schedule
    return 1, "@continuous" if schedule is None else schedule


def _template_root(
    config: KrknConfig, dag_folder: Path, searchpath: Sequence[str] | None
) -> tuple[Path, list[str]]:
    """The folder scenario files are named relative to, and the DAG's ``template_searchpath``.

    Scenario files are Jinja templates, looked up in the DAG file's folder first (Airflow
    puts it before template_searchpath). Name them relative to that folder when they are
    inside it, so a file of the same name elsewhere cannot be picked instead; otherwise
    add the one folder that holds them all (so `../` in Krkn's paths works too).
    """
    files = [item.path for item in config.scenarios]
    root = Path(os.path.commonpath([config.path.parent, *files]))
    paths = list(searchpath or [])
    if all(path.is_relative_to(dag_folder) for path in files):
        root = dag_folder
    else:
        paths.append(str(root))
    return root, paths


def _chaos_tasks(
    config: KrknConfig, iterations: int, root: Path, common: dict[str, Any], operator_kwargs: dict[str, Any]
) -> list[BaseOperator]:
    """One chaos task per scenario file and iteration, a wait task between two of them."""
    tasks: list[BaseOperator] = []
    used: set[str] = set()
    for iteration in range(1, iterations + 1):
        for item in config.scenarios:
            task_id = _task_id(item, iteration if iterations > 1 else None, used)
            if tasks and config.wait_duration > 0:
                tasks.append(
                    ChaosWaitOperator(task_id=f"wait_before_{task_id}", seconds=config.wait_duration)
                )
            tasks.append(
                ChaosScenarioOperator(
                    task_id=task_id,
                    scenario_type=item.scenario_type,
                    scenario_file=item.path.relative_to(root).as_posix(),
                    doc_md=f"Krkn `{item.scenario_type}`: `{item.written_as}` ({config.path.name})",
                    **common,
                    **operator_kwargs,
                )
            )
    return tasks


def _task_id(item: KrknScenarioFile, iteration: int | None, used: set[str]) -> str:
    """The file's stem (with the iteration), made unique among ``used`` (and added to it)."""
    base = _slug(item.path.stem)
    if iteration is not None:
        base = f"{base}_{iteration}"
    task_id, n = base, 2
    while task_id in used:
        task_id, n = f"{base}_{n}", n + 1
    used.add(task_id)
    return task_id
