"""Only our own server's Authentication-Results count, and DMARC decides when present."""

from __future__ import annotations

import pytest

from mailbot.domain.authresults import check
from mailbot.mail.parse import parse

OURS = "mx.gemeente.example"


def mail_with(*results: str) -> bytes:
    headers = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (
        f"{headers}From: Anna Jansen <a.jansen@gemeente.example>\r\n"
        "To: leveranciers@gemeente.example\r\nSubject: AKKOORD\r\n\r\nAKKOORD\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("results", "forged", "reason"),
    [
        ((f"{OURS}; dmarc=fail header.from=gemeente.example",), True, "dmarc=fail"),
        ((f"{OURS}; spf=fail smtp.mailfrom=gemeente.example",), True, "spf=fail"),
        ((f"{OURS}; dkim=fail header.d=gemeente.example",), True, "dkim=fail"),
        # a forwarded or re-signed mail: DKIM broke, DMARC still passed (SPEC §12)
        ((f"{OURS}; dkim=fail; dmarc=pass header.from=gemeente.example",), False, ""),
        ((f"{OURS}; spf=pass; dkim=pass; dmarc=pass",), False, ""),
        # two signatures, one passes
        (
            (f"{OURS}; dkim=fail header.d=x.example", f"{OURS}; dkim=pass header.d=y.example"),
            False,
            "",
        ),
        # written by the sender or a server on the way: not ours, so not believed
        (("evil.example; dmarc=pass", "mx.elders.example; dmarc=fail"), False, ""),
        ((f"{OURS.upper()}; DMARC=FAIL",), True, "dmarc=fail"),
        ((), False, ""),
    ],
)
def test_it_reads_only_our_own_servers_verdict(
    results: tuple[str, ...], forged: bool, reason: str
) -> None:
    verdict = check(parse(mail_with(*results)), OURS)
    assert (verdict.forged, verdict.reason) == (forged, reason)


def test_it_trusts_no_header_when_no_server_is_configured() -> None:
    assert not check(parse(mail_with(f"{OURS}; dmarc=fail")), None).forged
    assert not check(parse(mail_with(f"{OURS}; dmarc=fail")), "").forged
