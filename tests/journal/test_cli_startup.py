"""The CLI on a local journal starts without importing Airflow (seconds of start-up)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from krkn_airflow_provider.rollback import Store

from .conftest import delete_record, make_journal


def test_opening_a_local_journal_never_imports_airflow(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    journal.record(delete_record())
    script = textwrap.dedent(
        """
        import sys
        from krkn_airflow_provider.cli import main

        code = main(["list", "--location", sys.argv[1]])
        leaked = sorted(name for name in sys.modules if name == "airflow" or name.startswith("airflow."))
        print("airflow modules:", leaked[:5])
        sys.exit(3 if leaked else code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rb")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "airflow modules: []" in done.stdout
