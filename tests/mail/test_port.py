"""The small helpers every mailbox backend shares."""

from __future__ import annotations

import pytest

from mailbot.mail.port import MailboxError, folder_report


def test_it_reports_found_and_missing_folders_and_skips_the_inbox() -> None:
    def find(name: str) -> None:
        if name == "Quarantaine":
            raise MailboxError("no such folder")

    report = folder_report(["INBOX", "complimenten", "Quarantaine"], find)
    assert report == [
        "folder 'complimenten': found",
        "folder 'Quarantaine': missing (created at start)",
    ]


def test_it_does_not_call_a_permanent_error_a_missing_folder() -> None:
    def find(name: str) -> None:
        raise MailboxError("access denied", permanent=True)

    with pytest.raises(MailboxError, match="access denied"):
        folder_report(["complimenten"], find)
