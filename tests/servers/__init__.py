"""Real servers for the tests, each started privately on a free loopback port.

When a server's program is missing, a test that needs it is skipped on a
developer's machine but FAILS under `CI=true`: CI installs the Debian packages,
so a skip there would hide that an integration test never ran.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(program: str, package: str) -> str:
    """Path of `program`, or skip (fail in CI) naming the Debian package to install."""
    path = shutil.which(program) or next(
        (
            p
            for p in (f"/usr/sbin/{program}", f"/usr/lib/postgresql/15/bin/{program}")
            if os.path.exists(p)
        ),
        None,
    )
    if path:
        return path
    message = f"{program} is not installed (Debian package: {package})"
    if in_ci():
        pytest.fail(message + " — CI must run this test for real", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
