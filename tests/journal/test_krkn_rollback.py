"""Krkn's own version files: parsed with ast, mapped to undo records, replayed, never run."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider import cli
from krkn_airflow_provider.rollback import krkn
from tests.journal import krkn_files as kf
from tests.scenarios import catalogue_support as support


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def hijack_data(namespace: str) -> str:
    return kf.encode(
        {
            "service_name": "web",
            "service_namespace": namespace,
            "original_selectors": {"app": "web"},
            "webservice_pod_name": "service-hijacking-pod-abcde",
        }
    )


def pvc_data() -> str:
    return kf.encode(
        {
            "pod_name": "db-0",
            "container_name": "main",
            "mount_path": "/mnt/data",
            "file_name": "kraken.tmp",
            "full_path": "/mnt/data/kraken.tmp",
        }
    )


def write_all(root: Path, namespace: str) -> dict[str, Path]:
    """One file per mapped callable (and one unknown), in one Krkn run, oldest first."""
    context = kf.new_context(root)
    return {
        "outage": kf.write(context, "application_outages_scenarios", namespace, "krkn-deny-abcde"),
        "hog": kf.write(context, "hog_scenarios", namespace, "cpu-hog-fghij"),
        "syn": kf.write(
            context,
            "syn_flood_scenarios",
            namespace,
            kf.encode(["syn-flood-aaaaaaaaaa", "syn-flood-bbbbbbbbbb"]),
        ),
        "hijack": kf.write(context, "service_hijacking_scenarios", namespace, hijack_data(namespace)),
        "custom": kf.write(context, "custom_scenarios", namespace, "some-pod"),
    }


def test_every_mapped_callable_is_planned_offline(tmp_path: Path) -> None:
    files = write_all(tmp_path, "shop")
    kf.write(kf.new_context(tmp_path), "pvc_scenarios", "shop", pvc_data())
    items = krkn.plan(krkn.KrknStore(str(tmp_path)))
    found = {item.callable_name: (item.status, item.steps) for item in items}
    assert found == {
        "rollback_temp_file": (
            "ready",
            ("exec in Pod shop/db-0 container main: rm -f /mnt/data/kraken.tmp",),
        ),
        "rollback_custom_cleanup": ("not_importable", ()),
        "rollback_service_hijacking": (
            "ready",
            ("patch Service shop/web", "delete Pod shop/service-hijacking-pod-abcde"),
        ),
        "rollback_syn_flood_pods": (
            "ready",
            ("delete Pod shop/syn-flood-aaaaaaaaaa", "delete Pod shop/syn-flood-bbbbbbbbbb"),
        ),
        "rollback_hog_pod": ("ready", ("delete Pod shop/cpu-hog-fghij",)),
        "rollback_network_policy": ("ready", ("delete NetworkPolicy shop/krkn-deny-abcde",)),
    }
    # Newest first, as Krkn (since krkn#1494) and the provider replay them.
    assert [item.entry.file_name for item in items[1:]] == [p.name for p in reversed(files.values())]
    record = krkn.KrknStore(str(tmp_path)).load(items[2].entry).data
    assert record["steps"][0]["patch"] == {"spec": {"selector": {"app": "web", "service-hijacking": None}}}
    assert record["steps"][0]["expect"] == {"spec": {"selector": {"app": None}}}


def test_the_first_template_shape_from_krkn_docs_parses(tmp_path: Path) -> None:
    # The version file of Krkn's rollback docs: two-field dataclass, two-field content.
    path = kf.write(
        kf.new_context(tmp_path),
        "hog_scenarios",
        None,
        "",
        content=(
            'RollbackContent(namespace="test-application-outage", resource_identifier="memory-hog-ngdjp")'
        ),
    )
    text = path.read_text().replace(
        '    resource_identifier: str = ""\n    namespace: Optional[str] = None\n'
        "    cloud_type: Optional[str] = None\n    instance_ids: Optional[tuple] = None\n"
        "    skip_kubernetes: bool = False\n",
        "    resource_identifier: str\n    namespace: Optional[str] = None\n",
    )
    path.write_text(text)
    parsed = krkn.parse_krkn_file(text, source=str(path))
    assert parsed == krkn.KrknFile(
        "rollback_hog_pod", krkn.KrknContent("memory-hog-ngdjp", "test-application-outage")
    )


def objects(namespace: str) -> list[dict[str, Any]]:
    def pod(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "chaos"}},
            "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]},
        }

    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "krkn-deny-abcde"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]},
    }
    names = ["cpu-hog-fghij", "syn-flood-aaaaaaaaaa", "syn-flood-bbbbbbbbbb", "service-hijacking-pod-abcde"]
    return [
        policy,
        *(pod(name) for name in names),
        support.service("web", {"service-hijacking": "sh-abcde"}),  # as the hijack left it
        pod("some-pod"),  # named by the unknown callable's file: must stay
        pod("cpu-hog-zzzzz"),  # a look-alike no file names: must stay
    ]


def test_krkn_files_are_replayed_and_the_objects_they_name_removed(kube: Any, tmp_path: Path) -> None:
    support.create(kube, *objects(kube.namespace))
    files = write_all(tmp_path, kube.namespace)
    before = {path: path.read_text() for path in files.values()}

    code, out = run_cli("krkn", "execute", str(tmp_path), "--kubeconfig", str(kube.kubeconfig))

    assert code == cli.EXIT_FAILED, out  # the unknown callable's file is still pending
    assert "rollback_custom_cleanup: not importable (no mapping; left as is)" in out
    assert "replay of 4 record(s)" in out and "4 undone" in out and "1 left as is" in out
    for key in ("outage", "hog", "syn", "hijack"):
        path = files[key]
        assert not path.exists() and path.with_name(path.name + ".executed").read_text() == before[path]
    custom = files["custom"]
    assert custom.read_text() == before[custom]
    assert sorted(p.name for p in custom.parent.iterdir()) == sorted(
        [custom.name, *(files[k].name + ".executed" for k in ("outage", "hog", "syn", "hijack"))]
    )

    def gone() -> bool:
        return all(
            support.get(kube, api, kind, name) is None
            for api, kind, name in [
                ("networking.k8s.io/v1", "NetworkPolicy", "krkn-deny-abcde"),
                ("v1", "Pod", "cpu-hog-fghij"),
                ("v1", "Pod", "syn-flood-aaaaaaaaaa"),
                ("v1", "Pod", "syn-flood-bbbbbbbbbb"),
                ("v1", "Pod", "service-hijacking-pod-abcde"),
            ]
        )

    kube.wait_for(gone, timeout=60, message="the objects Krkn's files name to be deleted")
    service = support.get(kube, "v1", "Service", "web")
    assert service is not None and service["spec"]["selector"] == {"app": "web"}
    assert support.get(kube, "v1", "Pod", "some-pod") is not None
    assert support.get(kube, "v1", "Pod", "cpu-hog-zzzzz") is not None

    # A second run finds nothing more to do; the unknown file is still reported.
    code, out = run_cli("krkn", "execute", str(tmp_path), "--kubeconfig", str(kube.kubeconfig))
    assert code == cli.EXIT_FAILED and "0 to replay, 1 left as is" in out


def test_a_hijack_someone_already_changed_is_not_clobbered(kube: Any, tmp_path: Path) -> None:
    support.create(kube, support.service("web", {"app": "web-v2"}))
    kf.write(
        kf.new_context(tmp_path), "service_hijacking_scenarios", kube.namespace, hijack_data(kube.namespace)
    )
    code, out = run_cli("krkn", "execute", str(tmp_path), "--kubeconfig", str(kube.kubeconfig))
    assert code == cli.EXIT_OK, out
    assert "diverged" in out
    service = support.get(kube, "v1", "Service", "web")
    assert service is not None and service["spec"]["selector"] == {"app": "web-v2"}


def test_dry_run_changes_nothing(kube: Any, tmp_path: Path) -> None:
    support.create(kube, *objects(kube.namespace))
    files = write_all(tmp_path, kube.namespace)
    code, out = run_cli("krkn", "execute", str(tmp_path), "--dry-run", "--kubeconfig", str(kube.kubeconfig))
    assert code == cli.EXIT_FAILED  # the unknown callable's file stays pending
    assert "dry run of 4 record(s)" in out and "4 planned" in out
    assert all(path.exists() for path in files.values())
    assert support.get(kube, "v1", "Pod", "cpu-hog-fghij") is not None
    assert support.get(kube, "networking.k8s.io/v1", "NetworkPolicy", "krkn-deny-abcde") is not None


@pytest.mark.emulator_only("asserts the exact exec command on the emulator's exec log")
def test_pvc_temp_file_is_removed_by_exec(kube: Any, tmp_path: Path) -> None:
    emulator = kube.emulator
    workloads_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db-0"},
        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]},
    }
    support.create(kube, workloads_pod)
    path = kf.write(kf.new_context(tmp_path), "pvc_scenarios", kube.namespace, pvc_data())
    code, out = run_cli("krkn", "execute", str(tmp_path), "--kubeconfig", str(kube.kubeconfig))
    assert code == cli.EXIT_OK, out
    (record,) = [r for r in emulator.exec_log if r.pod == "db-0"]
    assert (record.namespace, record.container, record.command) == (
        kube.namespace,
        "main",
        ["rm", "-f", "/mnt/data/kraken.tmp"],
    )
    assert path.with_name(path.name + ".executed").exists()


MARKER_CODE = "open({marker!r}, 'w').write('ran')\n"


@pytest.mark.parametrize(
    "variant",
    ["top_level", "in_content", "in_main", "import", "truncated"],
)
def test_code_outside_the_shape_is_refused_and_never_run(tmp_path: Path, variant: str) -> None:
    marker = tmp_path / "ran.marker"
    root = tmp_path / "rollback"
    context = kf.new_context(root)
    code_line = MARKER_CODE.format(marker=str(marker))
    if variant == "top_level":
        path = kf.write(context, "hog_scenarios", "shop", "cpu-hog-abcde", extra=code_line)
    elif variant == "in_content":
        # Krkn pastes the identifier unescaped: a quote in it can smuggle a call in.
        injected = f'x" + str(open({str(marker)!r}, "w").write("ran")) + "'
        path = kf.write(context, "hog_scenarios", "shop", injected)
    elif variant == "in_main":
        path = kf.write(context, "hog_scenarios", "shop", "cpu-hog-abcde")
        text = path.read_text().replace(
            "    logging.info('Rollback completed.')",
            "    logging.info('Rollback completed.')\n    " + code_line,
        )
        path.write_text(text)
    elif variant == "import":
        path = kf.write(context, "hog_scenarios", "shop", "cpu-hog-abcde", extra="import subprocess\n")
    else:  # Krkn does not fsync: a crash can leave half a file
        path = kf.write(context, "hog_scenarios", "shop", "cpu-hog-abcde")
        path.write_text(path.read_text()[:1500])
    before = path.read_text()

    (item,) = krkn.plan(krkn.KrknStore(str(root)))
    assert item.status == "refused" and "not run" in item.reason
    code, out = run_cli("krkn", "execute", str(root))
    assert code == cli.EXIT_FAILED
    assert f"{context.name}/{path.name}  [refused]" in out
    assert path.read_text() == before and sorted(os.listdir(context)) == [path.name]
    assert not marker.exists()

    if variant == "top_level":
        # The marker code is real: running or importing the file, as Krkn does, runs it.
        subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60, cwd=tmp_path)
        assert marker.read_text() == "ran"


def test_symlinks_and_oversized_files_are_not_read(tmp_path: Path) -> None:
    context = kf.new_context(tmp_path)
    real = kf.write(context, "hog_scenarios", "shop", "cpu-hog-abcde")
    link = context / f"hog_scenarios_{int(real.name.split('_')[2]) + 1}_abcdefgh.py"
    link.symlink_to(real)
    big = kf.write(context, "hog_scenarios", "shop", "cpu-hog-vwxyz", extra="#" * krkn.MAX_FILE_BYTES + "\n")
    reasons = {item.entry.file_name: item.reason for item in krkn.plan(krkn.KrknStore(str(tmp_path)))}
    assert "not a regular file" in reasons[link.name]
    assert "byte cap" in reasons[big.name]
    assert reasons[real.name] == ""


def test_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    code, _ = run_cli("krkn", "list", str(tmp_path / "nope"))
    assert code == cli.EXIT_BAD_INPUT
