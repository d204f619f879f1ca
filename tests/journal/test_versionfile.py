"""Version files: what is written reads back, and anything else is refused by name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from krkn_airflow_provider.errors import CorruptRecord, DigestMismatch
from krkn_airflow_provider.rollback import Origin, Store, UndoRecord, naming, new_run_uuid, versionfile
from krkn_airflow_provider.rollback.records import reverse_merge_patch

from .conftest import delete_record, make_journal


def _written(
    tmp_path: Path, record: UndoRecord | None = None, key: bytes | None = None
) -> tuple[Store, Path]:
    store = Store(str(tmp_path / "rb"), hmac_key=key)
    entry = make_journal(store).record(record or delete_record())
    assert entry is not None
    return store, Path(store.path(entry))


def test_file_is_a_readable_python_program(tmp_path: Path) -> None:
    _, path = _written(tmp_path)
    text = path.read_text()
    ast.parse(text)  # valid Python as a whole
    assert text.startswith("#!/usr/bin/env python3\n# krkn-airflow-provider rollback version file")
    assert "# Undoes:    delete ConfigMap default/victim\n" in text
    assert "# DAG:       gameday\n" in text
    assert "\nROLLBACK = {'action': 'delete',\n" in text
    assert '\nDIGEST = "sha256:' in text
    assert "def apply_undo(" in text and 'if __name__ == "__main__":' in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(path.parent.parent.stat().st_mode & 0o777) == "0o700"


def test_round_trip_keeps_the_record(tmp_path: Path) -> None:
    before = {"spec": {"selector": {"app": "web"}, "type": "ClusterIP"}}
    change = {"spec": {"selector": {"app": "krkn-hijack", "extra": "1"}}}
    record = UndoRecord(
        action="patch",
        api_version="v1",
        kind="Service",
        namespace="shop",
        name="web",
        patch=reverse_merge_patch(before, change),
        expect=change,
    )
    store, _path = _written(tmp_path, record)
    parsed = store.load(store.entries()[0])
    assert parsed.data["patch"] == {"spec": {"selector": {"app": "web", "extra": None}}}
    assert parsed.data["expect"] == change
    assert parsed.record.origin is not None and parsed.record.origin.scenario == "pod_disruption_scenarios"


def test_names_with_quotes_and_newlines_cannot_inject_code(tmp_path: Path) -> None:
    nasty = 'x"""\nimport os; os.system("touch /tmp/pwned")\n#'
    store = Store(str(tmp_path / "rb"))
    origin = Origin(
        run_uuid=new_run_uuid(), scenario="hog_scenarios", dag_id=nasty, run_id=nasty, task_id=nasty
    )
    journal = make_journal(store)
    journal.origin = origin
    entry = journal.record(
        UndoRecord(action="delete", api_version="v1", kind="Pod", namespace="ns", name=nasty)
    )
    assert entry is not None
    text = Path(store.path(entry)).read_text()
    tree = ast.parse(text)
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    # Only the imports of the template and the undo code; none from the injected text.
    assert all("os.system" not in ast.unparse(node) for node in imports)
    assert "\nimport os; os.system" not in text
    assert store.load(entry).data["name"] == nasty


def test_tampered_record_is_refused_naming_the_file(tmp_path: Path) -> None:
    store, path = _written(tmp_path)
    path.write_text(path.read_text().replace("'name': 'victim'", "'name': 'kube-dns'"))
    with pytest.raises(DigestMismatch, match=rf"{path.name}: record does not match its digest"):
        store.load(store.entries()[0])


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    store, path = _written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptRecord, match=rf"{path.name}: truncated version file"):
        store.load(store.entries()[0])


@pytest.mark.parametrize("where", ["before the real one", "in the shared tail after it"])
def test_a_second_digest_line_is_refused(tmp_path: Path, where: str) -> None:
    _, path = _written(tmp_path)
    text = path.read_text()
    extra = 'DIGEST = "sha256:00"\n'
    if where == "before the real one":
        edited = text.replace("\n", "\n" + extra, 1)
    else:  # the part the reader skips searching while it equals the template's
        edited = text.replace(versionfile.END_MARKER, extra + versionfile.END_MARKER)
    with pytest.raises(DigestMismatch, match="needs exactly one DIGEST line"):
        versionfile.check_digest(edited, source=path.name)
    with pytest.raises(CorruptRecord, match="needs exactly one DIGEST line"):
        versionfile.seal(edited)


def test_a_second_bound_line_is_refused_even_when_malformed(tmp_path: Path) -> None:
    store, path = _written(tmp_path)
    # Resealed (anyone can, without a key): the binding check alone must refuse it.
    text = path.read_text().replace('\nSTATE = "pending"\n', '\nSTATE = "pending"\nSTATE = "Applied!"\n')
    path.write_text(versionfile.seal(text))
    with pytest.raises(CorruptRecord, match=rf"{path.name}: needs exactly one STATE line, found 2"):
        store.load(store.entries()[0])


def test_code_in_the_literal_is_refused(tmp_path: Path) -> None:
    store, path = _written(tmp_path)
    # Even with the digest recomputed (anyone can, without a key), code is never evaluated.
    text = path.read_text().replace("'name': 'victim'", "'name': __import__('os').getcwd()")
    path.write_text(versionfile.seal(text))
    with pytest.raises(CorruptRecord, match="ROLLBACK is not a plain literal"):
        store.load(store.entries()[0])


def test_unknown_action_is_refused_on_write_and_on_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="action"):
        UndoRecord(action="explode", api_version="v1", kind="Pod", name="x")  # type: ignore[arg-type]
    store, path = _written(tmp_path)
    # A file whose record has an unknown action, with a digest that matches it.
    text = path.read_text().replace("'action': 'delete'", "'action': 'explode'")
    path.write_text(versionfile.seal(text))
    with pytest.raises(CorruptRecord, match=rf"{path.name}: invalid undo record: action"):
        store.load(store.entries()[0])


@pytest.mark.parametrize(
    "record",
    [
        {"manifest": {"kind": "ConfigMap", "data": {"token": "abc"}}},
        {"manifest": {"kind": "Pod", "metadata": {"annotations": {"password": "x"}}}},
    ],
)
def test_credentials_are_never_recorded(record: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must not hold credentials"):
        UndoRecord(action="create", api_version="v1", kind="ConfigMap", namespace="n", name="x", **record)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Secrets are never recorded"):
        UndoRecord(
            action="create", api_version="v1", kind="Secret", namespace="n", name="x", manifest={"a": 1}
        )


def test_hmac_signed_records(tmp_path: Path) -> None:
    store, path = _written(tmp_path, key=b"k1")
    assert '\nDIGEST = "hmac-sha256:' in path.read_text()
    assert store.load(store.entries()[0]).data["name"] == "victim"
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        Store(store.location, hmac_key=b"other").load(store.entries()[0])
    with pytest.raises(DigestMismatch, match="record is signed; configure the HMAC key"):
        Store(store.location).load(store.entries()[0])
    unsigned, _ = _written(tmp_path / "u")
    with pytest.raises(DigestMismatch, match="not signed, but an HMAC key is configured"):
        Store(unsigned.location, hmac_key=b"k1").load(unsigned.entries()[0])


def test_file_checks_its_own_digest_when_run_by_hand(tmp_path: Path) -> None:
    _, path = _written(tmp_path)
    path.write_text(path.read_text().replace("'name': 'victim'", "'name': 'other'"))
    run = subprocess.run([sys.executable, str(path), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "refused: the record does not match its digest" in run.stdout


AWKWARD = {
    "quotes": 'it\'s "quoted" \'\'\' and """',
    "escapes": "tab\tnewline\nnul\x00 backslash\\ bell\x07",
    "unicode": "ünïcødé ✓ 𝄞 \u2028 line separator",
    "long": "x" * 500 + " words " * 40,
    "numbers": [0, -1, 2**70, 1.5, -0.0, 1e-300, 1e300, True, False, None],
    "nested": {"empty": {}, "list": [[], [{}], {"a": [1, "b", None]}]},
    "dollar": "$rollback ${digest} $$",
}


def _awkward_record(run_uuid: str) -> UndoRecord:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"}, "data": AWKWARD}
    origin = Origin(run_uuid=run_uuid, scenario="pod_disruption_scenarios")
    return UndoRecord(
        action="create",
        api_version="v1",
        kind="ConfigMap",
        namespace="n",
        name="odd",
        manifest=manifest,
        origin=origin,
    )


def test_the_cheaper_write_check_accepts_only_what_a_full_parse_reads_back() -> None:
    record = _awkward_record(new_run_uuid())
    name = "pod_disruption_scenarios_1764460000000000000_abcdefgh.py"
    for key in (None, b"k" * 32):
        text = versionfile.render_checked(record, file_name=name, key=key)
        parsed = versionfile.parse(text, source=name, keys=[key] if key else [])
        assert parsed.data == record.to_dict() and parsed.data["manifest"]["data"] == AWKWARD
        assert parsed.record_id == name.removesuffix(".py") and parsed.state == "pending"


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (lambda text: text.replace('\nSTATE = "pending"', '\nSTATE = "applied"'), "rendered STATE"),
        (lambda text: text.replace("$rollback", "$rollback\nROLLBACK = {}"), "ROLLBACK literal"),
        (lambda text: text.replace(versionfile.END_MARKER, ""), "end marker"),
    ],
)
def test_the_cheaper_write_check_fails_closed_on_a_broken_render(
    monkeypatch: pytest.MonkeyPatch, broken: object, why: str
) -> None:
    """A template that no longer matches what readers check: nothing is written."""
    template = versionfile._template().template
    assert callable(broken)
    patched = broken(template)
    assert patched != template, "the test's edit must apply to the template"
    monkeypatch.setattr(versionfile, "_template", lambda: versionfile.Template(patched))
    record = _awkward_record(new_run_uuid())
    with pytest.raises(CorruptRecord, match=why):
        versionfile.render_checked(
            record, file_name="pod_disruption_scenarios_1764460000000000000_abcdefgh.py"
        )


def test_the_rollback_literal_is_laid_out_for_a_reader_and_reads_back() -> None:
    """Long values go one item per line, indented under their key; short ones stay on one."""
    record = _awkward_record(new_run_uuid())
    name = "pod_disruption_scenarios_1764460000000000000_abcdefgh.py"
    text = versionfile.render(record, file_name=name)
    start = text.index(versionfile.ROLLBACK_PREFIX) + len(versionfile.ROLLBACK_PREFIX)
    literal = text[start : text.index(versionfile.DIGEST_PREFIX)]
    assert ast.literal_eval(literal) == record.to_dict()
    lines = literal.strip().splitlines()
    assert lines[0] == "{'action': 'create',"
    assert " 'manifest': {'apiVersion': 'v1'," in lines
    assert any(
        line.strip() == "'nested': {'empty': {}, 'list': [[], [{}], {'a': [1, 'b', None]}]},"
        for line in lines
    )


def test_record_suffixes_are_eight_lowercase_letters_and_differ() -> None:
    suffixes = {naming.new_suffix() for _ in range(2000)}
    assert len(suffixes) == 2000
    assert all(len(s) == 8 and s.isascii() and s.isalpha() and s.islower() for s in suffixes)
    assert set("".join(suffixes)) == set("abcdefghijklmnopqrstuvwxyz")
