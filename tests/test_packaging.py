"""A plain `pip install .` gives a working mailbot: templates and migrations ship in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_it_ships_templates_and_migrations_inside_the_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("mailbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in ("nl", "en"):
        assert f"mailbot/templates/{lang}/step1.txt" in names
        assert f"mailbot/templates/{lang}/_layout.html" in names
    assert "mailbot/migrations/env.py" in names
    assert any(n.startswith("mailbot/migrations/versions/") and n.endswith(".py") for n in names)
    assert "mailbot/py.typed" in names
    template_files = {
        p.relative_to(REPO / "templates") for p in (REPO / "templates").rglob("*") if p.is_file()
    }
    shipped = {
        Path(n).relative_to("mailbot/templates")
        for n in names
        if n.startswith("mailbot/templates/")
    }
    assert template_files == shipped, "every template is in the wheel"
