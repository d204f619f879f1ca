"""``scripts/demo.sh`` end to end: a green gameday, then a step that fails and is undone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_shows_an_undo(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "KRKN_"))}
    env.pop("KUBECONFIG", None)
    env.update({"VENV": str(Path(sys.executable).parent.parent), "TMPDIR": str(tmp_path)})
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=800,
        start_new_session=True,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    # Part 1: every step succeeded and cleaned up after itself.
    assert "run of chaos_gameday ended success" in out
    assert "(PASSED: all 3 chaos task(s) succeeded" in out
    # Part 2: the step failed after its change; the rollback task undid it; the run failed.
    part2 = out[out.index("== 2/2 chaos_undo_demo") :]
    assert "task failed: demo_failing_outage_scenarios failed: demo: the step failed" in part2
    assert re.search(r"\[1/1\] delete NetworkPolicy demo/krkn-outage-[a-z]{8} … undone in", part2)
    assert "run of chaos_undo_demo ended failed" in part2
    # The watcher's failure message names the report.
    named = r"watcher: chaos experiment failed: .*; gameday report: /\S+/gameday-report\.html"
    assert re.search(named, part2)
    assert "verdict:  FAILED: 1 of 1 chaos task(s) did not succeed (application_outage failed)" in part2
    (report,) = re.findall(r"^   (/\S+/gameday-report\.html)$", part2, re.M)
    assert Path(report).read_text().count("FAILED") >= 1
    # krkn-rollback list: both runs, nothing pending.
    listing = out[out.index("== krkn-rollback list") :]
    assert "(dag chaos_undo_demo, run manual__" in listing and "0 pending, 1 executed" in listing
    assert "[pending]" not in listing
    assert re.search(r"== done in [0-9]+ s", out)
