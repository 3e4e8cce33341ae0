"""Where the packaged templates and migrations live.

In a wheel they sit inside the package (`mailbot/templates`,
`mailbot/migrations`); in a source checkout they are the top-level folders
beside the package. Both layouts are found without configuration.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mailbot's {name} folder is missing from this installation")


def templates_dir() -> Path:
    return _find("templates")


def migrations_dir() -> Path:
    return _find("migrations")
