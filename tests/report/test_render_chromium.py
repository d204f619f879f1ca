"""The HTML report renders in headless Chromium with its recovery chart visible."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from krkn_airflow_provider.report import write_report
from krkn_airflow_provider.report.charts import SERIES
from krkn_airflow_provider.rollback import Store

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's ``chromium``, installed with apt-get when missing (skip when that cannot be done)."""
    path = find_chromium()
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and apt-get cannot run here (not root or not Debian)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=300, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            check=True,
            capture_output=True,
            timeout=600,
            env=env,
        )
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"chromium could not be installed with apt-get: {error}")
    path = find_chromium()
    if not path:
        pytest.skip("apt-get install chromium finished but no chromium binary was found")
    return path


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit, non-interlaced RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        previous = line
        rgb = bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
    return width, height, rows


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.mark.timeout(900)
def test_report_renders_with_a_visible_chart(chromium: str, run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_uuid = run
    files = write_report(store, run_uuid, output=str(tmp_path / "report"))
    shot = tmp_path / "shot.png"
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1000,900",
        Path(files.html).as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    width, height, rows = read_png(shot)
    assert (width, height) == (1000, 900)
    # Where each series colour of the recovery chart appears on the screenshot.
    for _, name, colour in SERIES:
        want = hex_rgb(colour)
        hits = [
            (x, y)
            for y, row in enumerate(rows)
            for x in range(0, width)
            if abs(row[3 * x] - want[0]) < 8
            and abs(row[3 * x + 1] - want[1]) < 8
            and abs(row[3 * x + 2] - want[2]) < 8
        ]
        assert len(hits) > 100, f"{name}: only {len(hits)} pixel(s) of {colour}"
    # The chart area (below the header and score, above the fold) is not blank.
    chart = [row[3 * 40 : 3 * 800] for row in rows[250:520]]
    non_white = sum(1 for row in chart for i in range(0, len(row), 3) if row[i : i + 3] != b"\xff\xff\xff")
    assert non_white > 5000, non_white


# Appended to a copy of the report (the report itself has no scripts): what the browser
# laid out — the verdict, the task rows, the score, and any box wider than its card.
LAYOUT_PROBE = """<script>
const wide = [...document.querySelectorAll('section')].filter(s => s.scrollWidth > s.clientWidth + 1);
const out = {
  verdict: document.querySelector('#verdict').innerText,
  score: document.querySelector('#score .big').innerText,
  tasks: [...document.querySelectorAll('tr.task')].map(r => [...r.cells].slice(0, 4).map(c => c.innerText)),
  pageWider: document.documentElement.scrollWidth > window.innerWidth,
  overflowing: wide.map(s => s.id),
  verdictVisible: document.querySelector('#verdict').getBoundingClientRect().top < window.innerHeight,
};
const pre = document.createElement('pre');
pre.id = 'layout-probe';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def dump_dom(chromium: str, page: Path, profile: Path, *, width: int) -> str:
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},900",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "layout-probe" in done.stdout, done.stderr[-2000:]
    return done.stdout


@pytest.mark.timeout(900)
def test_killed_task_report_in_chromium(chromium: str, killed_run: tuple[Store, str], tmp_path: Path) -> None:
    import html
    import json
    import re

    store, run_uuid = killed_run
    files = write_report(store, run_uuid, output=str(tmp_path / "report"))
    page = tmp_path / "probed.html"
    page.write_text(Path(files.html).read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    for width in (1400, 1000):
        dom = dump_dom(chromium, page, tmp_path / f"profile-{width}", width=width)
        match = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S)
        assert match, dom[-2000:]
        seen = json.loads(html.unescape(match[1]))
        assert seen["verdict"].startswith("FAILED"), seen
        assert "outage killed" in seen["verdict"] and seen["verdictVisible"]
        assert float(seen["score"]) < 100
        assert [row[0] for row in seen["tasks"]] == ["kill_web #1", "outage #1", "hog"]
        assert [row[2] for row in seen["tasks"]] == ["success", "killed", "upstream failed"]
        assert [row[3] for row in seen["tasks"]] == ["success", "failed", "upstream_failed"]
        assert not seen["pageWider"] and seen["overflowing"] == [], (width, seen)
