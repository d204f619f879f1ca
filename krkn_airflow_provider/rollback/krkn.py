"""Krkn's own version files: read with ``ast``, never imported, replayed as our undo records.

Krkn writes ``<dir>/<ts_ns>-<run_uuid>/<scenario>_<ts_ns>_<suffix>.py`` before each change:
a Python module holding a ``RollbackContent`` dataclass, the *source* of one rollback
callable copied out of a scenario plugin, ``rollback_content = RollbackContent(...)`` and a
``__main__`` block. Krkn imports the module to run it, so whatever else a person (or an
attacker) put in the file would run too. Here the file is parsed with ``ast`` and must have
exactly that shape — any other statement refuses the whole file. The callable is identified
by its name and never run; the provider's own undo code does what it did, on records
built from the ``RollbackContent`` literal, with the checks Krkn's content allows (the
object names Krkn generates, the selector the hijack left in place, the file path the fill
wrote). A callable without a mapping is reported as "not importable" and its file is left
as it is.

Names follow Krkn, so the journal store lists these folders as they are; a replayed file is
renamed ``.py.executed`` exactly as Krkn renames it.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import os
import posixpath
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from krkn_airflow_provider.errors import ConfigError, CorruptRecord, JournalError
from krkn_airflow_provider.rollback.policy import ReplayPolicy
from krkn_airflow_provider.rollback.records import Origin, UndoRecord, validate_record
from krkn_airflow_provider.rollback.storage import LocalBackend
from krkn_airflow_provider.rollback.store import Entry, Store
from krkn_airflow_provider.rollback.versionfile import ParsedVersionFile

MAX_FILE_BYTES = 256 * 1024
CONTENT_FIELDS = ("resource_identifier", "namespace", "cloud_type", "instance_ids", "skip_kubernetes")
# Modules Krkn's template imports; an import of anything else is outside the shape.
TEMPLATE_IMPORTS = frozenset(
    {
        "__future__",
        "dataclasses",
        "os",
        "logging",
        "typing",
        "json",
        "base64",
        "time",
        "krkn_lib.utils",
        "krkn_lib.ocp",
        "krkn_lib.telemetry.ocp",
    }
)
# The statements of the template's `__main__` block (CALLABLE and CONTENT stand for the
# callable's name and its argument), compared as syntax trees.
_MAIN_STATEMENTS = """
kubeconfig_path = os.getenv("KUBECONFIG", "~/.kube/config")
log_directory = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(log_directory, 'logs'), exist_ok=True)
telemetry_log_path = os.path.join(log_directory, 'logs', 'telemetry.log')
safe_logger = SafeLogger(telemetry_log_path)
lib_openshift = KrknOpenshift(kubeconfig_path=kubeconfig_path)
lib_telemetry = KrknTelemetryOpenshift(safe_logger=safe_logger, lib_openshift=lib_openshift)
CALLABLE(CONTENT, lib_telemetry)
"""
_ALLOWED_MAIN = frozenset(ast.dump(statement) for statement in ast.parse(_MAIN_STATEMENTS).body)
_DATACLASS = ast.dump(ast.parse("dataclass(frozen=True)", mode="eval").body)


class KrknFileRefused(CorruptRecord):
    """A Krkn version file holds code outside the shape Krkn writes; it is never run."""


class UnknownKrknCallable(JournalError):
    """A Krkn version file names a rollback callable the provider has no mapping for."""

    def __init__(self, name: str, source: str) -> None:
        super().__init__(f"{source}: {name}: not importable (no mapping for this Krkn rollback callable)")
        self.name = name


@dataclass(frozen=True)
class KrknContent:
    """The ``RollbackContent(...)`` literal of one file."""

    resource_identifier: str = ""
    namespace: str | None = None
    cloud_type: str | None = None
    instance_ids: tuple[str, ...] | None = None
    skip_kubernetes: bool = False

    def decoded(self, source: str) -> Any:
        """``resource_identifier`` as Krkn's plugins encode it: base64 of a JSON document."""
        try:
            return json.loads(base64.b64decode(self.resource_identifier.encode(), validate=True))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise KrknFileRefused(f"{source}: resource_identifier is not base64-encoded JSON") from None


@dataclass(frozen=True)
class KrknFile:
    """One parsed Krkn version file: which callable, with which content."""

    callable_name: str
    content: KrknContent


# -- parsing ----------------------------------------------------------------------------


def _refuse(source: str, node: ast.AST | None, why: str) -> KrknFileRefused:
    line = f" (line {node.lineno})" if node is not None and hasattr(node, "lineno") else ""
    return KrknFileRefused(f"{source}{line}: {why}; the file is outside the shape Krkn writes and is not run")


def _content_call(node: ast.expr, source: str) -> KrknContent:
    if not (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "RollbackContent"
    ):
        raise _refuse(source, node, "rollback_content is not a RollbackContent(...) value")
    if node.args:
        raise _refuse(source, node, "RollbackContent takes keyword arguments only")
    values: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg not in CONTENT_FIELDS or keyword.arg in values:
            raise _refuse(source, node, f"RollbackContent has no field {keyword.arg!r}")
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            raise _refuse(source, keyword.value, f"RollbackContent.{keyword.arg} is not a literal") from None
    content = KrknContent(**values)
    if not isinstance(content.resource_identifier, str) or not (
        content.namespace is None or isinstance(content.namespace, str)
    ):
        raise _refuse(source, node, "RollbackContent namespace and resource_identifier must be strings")
    return content


def _check_dataclass(node: ast.ClassDef, source: str) -> None:
    decorator = node.decorator_list[0] if len(node.decorator_list) == 1 else None
    if node.name != "RollbackContent" or node.bases or decorator is None or ast.dump(decorator) != _DATACLASS:
        raise _refuse(source, node, f"unexpected class {node.name!r}")
    for item in node.body:
        docstring = isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)
        field = (
            isinstance(item, ast.AnnAssign)
            and isinstance(item.target, ast.Name)
            and item.target.id in CONTENT_FIELDS
            and (item.value is None or isinstance(item.value, ast.Constant))
        )
        if not (docstring or field):
            raise _refuse(source, item, "RollbackContent holds more than its fields")


def _normalise_main(statement: ast.stmt, callable_name: str) -> str:
    """The statement's syntax tree with the callable's name and argument made generic."""
    if (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id == callable_name
        and len(statement.value.args) == 2
    ):
        call = statement.value
        first = call.args[0]
        if (isinstance(first, ast.Name) and first.id == "rollback_content") or isinstance(first, ast.Call):
            generic = ast.Expr(
                ast.Call(
                    func=ast.Name("CALLABLE", ast.Load()),
                    args=[ast.Name("CONTENT", ast.Load()), call.args[1]],
                    keywords=call.keywords,
                )
            )
            return ast.dump(generic)
    return ast.dump(statement)


def _inert(node: ast.AST) -> bool:
    """Only literals, names and `logging.<x>(...)` calls: what Krkn's logging lines hold."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            if not (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "logging"
            ):
                return False
        elif not isinstance(
            child, (ast.Constant, ast.Name, ast.Attribute, ast.keyword, ast.List, ast.Load, ast.expr_context)
        ):
            return False
    return True


def _is_logging_line(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) and _inert(statement.value)
    )


def _check_main(node: ast.If, callable_name: str, source: str) -> ast.Call | None:
    """Check the ``__main__`` block; return the old template's inline content argument."""
    inline: ast.Call | None = None
    for statement in node.body:
        if _is_logging_line(statement):
            continue
        if _normalise_main(statement, callable_name) not in _ALLOWED_MAIN:
            raise _refuse(source, statement, "unexpected statement in the __main__ block")
        call = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Call):
            inline = call.args[0]
    if node.orelse:
        raise _refuse(source, node, "unexpected else branch of the __main__ block")
    return inline


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        and len(node.test.ops) == 1
        and isinstance(node.test.ops[0], ast.Eq)
        and len(node.test.comparators) == 1
        and isinstance(node.test.comparators[0], ast.Constant)
        and node.test.comparators[0].value == "__main__"
    )


def parse_krkn_file(text: str, *, source: str) -> KrknFile:
    """Read a Krkn version file's callable name and content; never imports or runs it.

    Raises ``KrknFileRefused`` for any statement Krkn's writer does not produce.
    """
    try:
        module = ast.parse(text, filename=source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise KrknFileRefused(f"{source}: not valid Python ({error}); it is not run") from None
    functions = [node for node in module.body if isinstance(node, ast.FunctionDef)]
    if len(functions) != 1:
        raise _refuse(source, None, f"expected one rollback callable, found {len(functions)} functions")
    function = functions[0]
    if function.decorator_list or len(function.args.args) != 2 or function.args.vararg or function.args.kwarg:
        raise _refuse(source, function, "the rollback callable must take (rollback_content, lib_telemetry)")
    content: KrknContent | None = None
    main_content: ast.Call | None = None
    for index, node in enumerate(module.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a module docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if not all(name in TEMPLATE_IMPORTS for name in names):
                raise _refuse(source, node, f"import of {', '.join(names)}")
        elif isinstance(node, ast.ClassDef):
            _check_dataclass(node, source)
        elif node is function:
            continue
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            target = node.targets[0].id
            if target in ("lib_openshift", "lib_telemetry") and ast.dump(node.value) == ast.dump(
                ast.Constant(None)
            ):
                continue
            if target == "rollback_content" and content is None:
                content = _content_call(node.value, source)
                continue
            raise _refuse(source, node, f"unexpected assignment to {target!r}")
        elif _is_main_guard(node):
            assert isinstance(node, ast.If)
            main_content = _check_main(node, function.name, source)
        else:
            raise _refuse(source, node, f"unexpected {type(node).__name__} statement")
    if content is None and main_content is not None:
        content = _content_call(main_content, source)  # the first template passed it inline
    if content is None:
        raise _refuse(source, None, "no rollback_content = RollbackContent(...) value")
    return KrknFile(function.name, content)


# -- mapping to undo records --------------------------------------------------------------

Mapper = Callable[[KrknContent, str], list[UndoRecord]]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _name(value: Any, pattern: str, what: str, source: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise KrknFileRefused(f"{source}: {what} {value!r} is not a name Krkn generates ({pattern})")
    return value


def _namespace(value: Any, source: str) -> str:
    if not isinstance(value, str) or not DNS_LABEL.match(value):
        raise KrknFileRefused(f"{source}: namespace {value!r} is not a Kubernetes namespace name")
    return value


def _delete(api_version: str, kind: str, namespace: str, name: str) -> UndoRecord:
    return UndoRecord(action="delete", api_version=api_version, kind=kind, namespace=namespace, name=name)


def _network_policy(content: KrknContent, source: str) -> list[UndoRecord]:
    # application_outages_scenarios: a deny-all policy named krkn-deny-<5 random>.
    name = _name(content.resource_identifier, r"krkn-deny-[a-z0-9]{5}", "network policy", source)
    return [_delete("networking.k8s.io/v1", "NetworkPolicy", _namespace(content.namespace, source), name)]


def _hog_pod(content: KrknContent, source: str) -> list[UndoRecord]:
    # hog_scenarios: one privileged stress pod per node, <type>-hog-<5 random>.
    name = _name(content.resource_identifier, r"(cpu|memory|io)-hog-[a-z0-9]{5}", "hog pod", source)
    return [_delete("v1", "Pod", _namespace(content.namespace, source), name)]


def _syn_flood_pods(content: KrknContent, source: str) -> list[UndoRecord]:
    # syn_flood_scenarios: base64 JSON list of attacker pods, syn-flood-<10 random>.
    names = content.decoded(source)
    if not isinstance(names, list) or not names:
        raise KrknFileRefused(f"{source}: expected a list of syn flood pod names")
    namespace = _namespace(content.namespace, source)
    return [
        _delete("v1", "Pod", namespace, _name(name, r"syn-flood-[a-z0-9]{10}", "syn flood pod", source))
        for name in names
    ]


HIJACK_KEY = "service-hijacking"


def _service_hijacking(content: KrknContent, source: str) -> list[UndoRecord]:
    # service_hijacking_scenarios: the Service's selector replaced by {service-hijacking:
    # sh-<5>}, pointing at a responder pod. Restore the selector only while none of the
    # original keys is back (a person may have restored or changed it), then delete the pod.
    data = content.decoded(source)
    if not isinstance(data, dict):
        raise KrknFileRefused(f"{source}: expected the service hijacking rollback data")
    namespace = _namespace(data.get("service_namespace"), source)
    if content.namespace not in (None, namespace):
        raise KrknFileRefused(f"{source}: namespace {content.namespace!r} differs from service_namespace")
    service = _name(data.get("service_name"), r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "service", source)
    original = data.get("original_selectors")
    if not isinstance(original, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k != HIJACK_KEY for k, v in original.items()
    ):
        raise KrknFileRefused(f"{source}: original_selectors must map label names to values")
    pod = _name(data.get("webservice_pod_name"), r"service-hijacking-pod-[a-z0-9]{5}", "hijacker pod", source)
    restore = UndoRecord(
        action="patch",
        api_version="v1",
        kind="Service",
        namespace=namespace,
        name=service,
        patch={"spec": {"selector": {**original, HIJACK_KEY: None}}},
        expect={"spec": {"selector": dict.fromkeys(original)}},
    )
    return [restore, _delete("v1", "Pod", namespace, pod)]


def _pvc_temp_file(content: KrknContent, source: str) -> list[UndoRecord]:
    # pvc_scenarios: a file filled into the mounted claim; remove exactly that file.
    data = content.decoded(source)
    if not isinstance(data, dict):
        raise KrknFileRefused(f"{source}: expected the pvc rollback data")
    mount, file_name, full = data.get("mount_path"), data.get("file_name"), data.get("full_path")
    if not (isinstance(mount, str) and isinstance(file_name, str) and isinstance(full, str)):
        raise KrknFileRefused(f"{source}: mount_path, file_name and full_path must be strings")
    if (
        not mount.startswith("/")
        or "/" in file_name
        or file_name in ("", ".", "..")
        or posixpath.normpath(posixpath.join(mount, file_name)) != posixpath.normpath(full)
    ):
        raise KrknFileRefused(f"{source}: full_path {full!r} is not {file_name!r} inside {mount!r}")
    pod = _name(data.get("pod_name"), r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", "pod", source)
    container = data.get("container_name")
    if not isinstance(container, str) or not DNS_LABEL.match(container):
        raise KrknFileRefused(f"{source}: container_name {container!r} is not a container name")
    return [
        UndoRecord(
            action="exec",
            api_version="v1",
            kind="Pod",
            namespace=_namespace(content.namespace, source),
            name=pod,
            container=container,
            command=["rm", "-f", posixpath.normpath(full)],
        )
    ]


# Krkn's rollback callables by name (krkn/scenario_plugins/*), and what replays each.
KRKN_CALLABLES: dict[str, Mapper] = {
    "rollback_network_policy": _network_policy,
    "rollback_hog_pod": _hog_pod,
    "rollback_syn_flood_pods": _syn_flood_pods,
    "rollback_service_hijacking": _service_hijacking,
    "rollback_temp_file": _pvc_temp_file,
}


def undo_records(parsed: KrknFile, *, source: str) -> list[UndoRecord]:
    """The undo records that do what ``parsed``'s callable did; raise if it has no mapping."""
    mapper = KRKN_CALLABLES.get(parsed.callable_name)
    if mapper is None:
        raise UnknownKrknCallable(parsed.callable_name, source)
    if parsed.content.skip_kubernetes:
        raise UnknownKrknCallable(parsed.callable_name, source)
    return mapper(parsed.content, source)


# -- the folder ------------------------------------------------------------------------


class KrknStore(Store):
    """A Krkn rollback folder seen as a journal: same layout, Krkn's files as records.

    ``load`` parses a file with ``ast`` and returns its undo records (a bundle of steps when
    the callable did several things); nothing else differs, so ``replay`` claims, applies,
    and marks ``.executed`` as for the provider's own files. Local folders only (Krkn
    writes to a local path); symlinks and files over ``MAX_FILE_BYTES`` are refused
    before they are read.
    """

    def __init__(self, location: str) -> None:
        super().__init__(location)
        if not isinstance(self.backend, LocalBackend):
            raise ConfigError(f"{location}: a Krkn rollback folder must be a local path")
        if not os.path.isdir(self.backend.root):
            raise ConfigError(
                f"{location}: no such folder; give Krkn's rollback_versions_directory "
                "(kraken.rollback_versions_directory, default ~/.krkn/rollback)"
            )

    def read_text(self, entry: Entry) -> str:
        path = self.path(entry)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise JournalError(f"{path}: no longer exists") from None
        if not stat.S_ISREG(info.st_mode):
            raise KrknFileRefused(f"{path}: not a regular file (a symlink?); it is not read")
        if info.st_size > MAX_FILE_BYTES:
            raise KrknFileRefused(f"{path}: {info.st_size} bytes, over the {MAX_FILE_BYTES} byte cap")
        return super().read_text(entry)

    def parse(self, entry: Entry) -> KrknFile:
        return parse_krkn_file(self.read_text(entry), source=self.path(entry))

    def load(self, entry: Entry) -> ParsedVersionFile:
        source = self.path(entry)
        parsed = self.parse(entry)
        records = undo_records(parsed, source=source)
        typed_origin = Origin(run_uuid=entry.run_uuid, scenario=entry.name.scenario)
        origin = typed_origin.model_dump(exclude_none=True)
        steps = [{**record.to_dict(), "origin": origin} for record in records]
        for step in steps:
            validate_record(step, source=source)
        data: dict[str, Any] = steps[0] if len(steps) == 1 else {"steps": steps, "origin": origin}
        return ParsedVersionFile(
            record=records[0].model_copy(update={"origin": typed_origin}),
            data=data,
            digest=f"krkn:{parsed.callable_name}",
            header=parsed.callable_name,
            record_id=entry.id,
            run_uuid=entry.run_uuid,
            state=entry.state,
        )

    def _executed_text(self, entry: Entry, verified_text: str | None) -> str:
        """Krkn's file is renamed ``.executed`` as Krkn does; its text stays Krkn's (no seal)."""
        return self.read_text(entry.name_in("pending"))


@dataclass(frozen=True)
class KrknPolicy(ReplayPolicy):
    """The replay policy for Krkn's files.

    Krkn labels nothing, so the guard-label rule cannot hold; the mapping above is the
    policy instead: every step was built by a known callable from names checked against the
    patterns Krkn generates. What remains to check is the protected-namespace rule.
    """

    def problem(self, record: Mapping[str, Any]) -> str | None:
        for step in record.get("steps", [record]):
            namespace = step.get("namespace")
            if namespace in self.protected_namespaces and not self.allow_protected_namespaces:
                what = f"{step.get('action')} {step.get('kind')} {namespace}/{step.get('name')}"
                return f"{what} is in protected namespace {namespace!r}"
        return None


@dataclass(frozen=True)
class PlanItem:
    """One Krkn file and what a replay would do with it.

    ``status``: ``executed`` (Krkn or a replay already ran it), ``ready`` (mapped),
    ``not_importable`` (a callable without a mapping) or ``refused`` (outside the shape).
    """

    entry: Entry
    status: str
    callable_name: str = ""
    steps: tuple[str, ...] = ()
    reason: str = ""


def plan(store: KrknStore, *, run_uuid: str | None = None) -> list[PlanItem]:
    """Every version file under the folder, newest first, with what replaying it means."""
    from krkn_airflow_provider.rollback.undo import describe

    items = []
    for entry in reversed(store.entries(run_uuid=run_uuid)):
        if entry.state == "executed":
            items.append(PlanItem(entry, "executed"))
            continue
        source = store.path(entry)
        try:
            parsed = store.parse(entry)
        except JournalError as error:
            items.append(PlanItem(entry, "refused", reason=str(error)))
            continue
        try:
            records = undo_records(parsed, source=source)
        except UnknownKrknCallable:
            items.append(PlanItem(entry, "not_importable", parsed.callable_name))
            continue
        except JournalError as error:
            items.append(PlanItem(entry, "refused", parsed.callable_name, reason=str(error)))
            continue
        steps = tuple(describe(record.to_dict()) for record in records)
        items.append(PlanItem(entry, "ready", parsed.callable_name, steps))
    return items
