from __future__ import annotations

import pytest

from krkn_airflow_provider.errors import UnsafeName
from krkn_airflow_provider.rollback import naming


def test_run_uuid_is_shared_by_every_task_of_a_run() -> None:
    first = naming.run_uuid_for("gameday", "scheduled__2026-11-27T00:00:00+00:00")
    assert first == naming.run_uuid_for("gameday", "scheduled__2026-11-27T00:00:00+00:00")
    assert first != naming.run_uuid_for("gameday", "scheduled__2026-11-28T00:00:00+00:00")
    assert first != naming.run_uuid_for("gameday2", "scheduled__2026-11-27T00:00:00+00:00")
    assert naming.CONTEXT_RE.match(naming.context_name(1, first))


def test_record_names_are_exact() -> None:
    assert naming.record_stem("hog_scenarios", 1795000000000000000, "abcdefgh") == (
        "hog_scenarios_1795000000000000000_abcdefgh"
    )
    name, ext = naming.parse_record_name("pod_disruption_scenarios_17_abcdefgh.py.executed")
    assert (name.scenario, name.ts_ns, name.suffix, ext) == (
        "pod_disruption_scenarios",
        17,
        "abcdefgh",
        ".py.executed",
    )
    assert name.pending == "pod_disruption_scenarios_17_abcdefgh.py"
    assert name.claim == "pod_disruption_scenarios_17_abcdefgh.claim"


@pytest.mark.parametrize(
    "bad",
    [
        "../hog_scenarios_1_abcdefgh.py",
        "x/hog_scenarios_1_abcdefgh.py",
        "hog_scenarios_1_abcdefg.py",
        "hog_scenarios_1_ABCDEFGH.py",
        "hog_scenarios_1_abcdefgh.pyc",
        "..",
    ],
)
def test_unsafe_or_foreign_names_are_refused(bad: str) -> None:
    with pytest.raises(UnsafeName, match="not a version file name"):
        naming.parse_record_name(bad)


def test_context_names_are_validated() -> None:
    with pytest.raises(UnsafeName):
        naming.parse_context_name("123-../../etc")
    with pytest.raises(UnsafeName, match="not a run uuid"):
        naming.check_run_uuid("../x")
