"""Access to the shared corpora of real and malformed mail (../shared/corpora).

They are read in place, never copied into the repository. A missing corpus is
an error, not a skip: the tests that use it would otherwise prove nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
_NOT_MAIL = {".json", ".md", ".rb", ".py", ".php", ".js", ".yml", ".yaml", ".pl", ".t"}
_META = ("LICENSE", "SOURCE_", "MISSING_FROM", "PROVENANCE", "README", "SOURCE_NOTE")


def corpus_root() -> Path:
    if not ROOT.is_dir():
        raise RuntimeError(f"the shared corpora are missing: expected them at {ROOT}")
    return ROOT


@cache
def corpus_messages() -> list[Path]:
    """Every file of the corpora that could be a mail (all of them are fed to ingest)."""
    files = []
    for path in sorted(corpus_root().rglob("*")):
        if not path.is_file() or path.suffix.lower() in _NOT_MAIL:
            continue
        if path.name.startswith(_META) or "/expected/" in str(path):
            continue
        files.append(path)
    return files


def corpus_id(path: Path) -> str:
    """A readable test id: the path inside the corpora."""
    return str(path.relative_to(ROOT))
