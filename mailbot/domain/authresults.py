"""Reading `Authentication-Results` (RFC 8601) to catch forged senders.

Anyone can write an Authentication-Results header into a mail, so only the
headers added by our own receiving server count: those whose authserv-id is
the configured `trusted_authserv_id`. Without that setting nothing is trusted
and nothing is treated as forged. DMARC decides when present (`dkim=fail` with
`dmarc=pass` is a forwarded or re-signed mail, not a spoof, SPEC §12); without
a DMARC result, an SPF or DKIM failure counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.domain.message import InboundMail

_RESULT_RE = re.compile(r"\b(dmarc|spf|dkim)\s*=\s*([a-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    forged: bool
    reason: str = ""


def check(mail: InboundMail, trusted_authserv_id: str | None) -> Verdict:
    if not trusted_authserv_id:
        return Verdict(False)
    wanted = trusted_authserv_id.strip().lower()
    seen: dict[str, list[str]] = {}
    for header in mail.header_all("Authentication-Results"):
        authserv, _, rest = header.partition(";")
        words = authserv.split()
        if not words or words[0].lower() != wanted:
            continue
        for method, result in _RESULT_RE.findall(rest):
            seen.setdefault(method.lower(), []).append(result.lower())
    # several DKIM signatures: one that passes is enough; otherwise the first result counts
    results = {m: ("pass" if "pass" in r else r[0]) for m, r in seen.items()}
    if "dmarc" in results:
        if results["dmarc"] == "fail":
            return Verdict(True, "dmarc=fail")
        return Verdict(False)
    for method in ("spf", "dkim"):
        if results.get(method) == "fail":
            return Verdict(True, f"{method}=fail")
    return Verdict(False)
