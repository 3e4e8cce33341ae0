"""Outlook's Thread-Index for our mails: one conversation root per case.

Outlook and Exchange keep a conversation by the first 22 bytes of the
Thread-Index header and add 5 bytes per reply. Giving every mail of a case the
same root (derived from the installation and the case ref) lets matching rule
3 find the case even when a reply lost its subject tag and threading headers.
"""

from __future__ import annotations

import base64
import hashlib

THREAD_ROOT_BYTES = 22


def thread_index_root(instance_id: str, ref: str) -> bytes:
    return hashlib.sha256(f"{instance_id}\0{ref}".encode()).digest()[:THREAD_ROOT_BYTES]


def thread_index(instance_id: str, ref: str) -> str:
    """The header value (base64 of the 22-byte root); also stored as `cases.thread_root`."""
    return base64.b64encode(thread_index_root(instance_id, ref)).decode()
