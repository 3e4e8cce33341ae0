"""Writing benchmark results into docs/performance.md, one section per benchmark.

Each benchmark owns one `## <title>` section; writing replaces only that
section, so results of different benchmarks (and machines) live side by side.
"""

from __future__ import annotations

import platform
import re
import subprocess
from datetime import date
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=DOC.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(
    title: str,
    lines: list[str],
    *,
    machine: str | None = None,
    doc: Path = DOC,
    heading: str = "# Performance\n",
) -> None:
    header = (
        f"## {title}\n\n_Measured {date.today().isoformat()} on {machine or platform.node()} "
        f"(Python {platform.python_version()}, commit {_commit()})._\n\n"
    )
    body = header + "\n".join(lines) + "\n"
    text = doc.read_text(encoding="utf-8") if doc.exists() else heading
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    text = pattern.sub(body + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    doc.write_text(text, encoding="utf-8")
