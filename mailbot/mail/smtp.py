"""SMTP submission for the Maildir and IMAP backends.

One connection per message keeps the relay stateless: mailbot sends a handful
of mails an hour, and a long-lived connection would only add timeouts to
handle. A refused recipient is an error for the whole message (the outbox
retries it and, after a few tries, tells the admin), never silently dropped.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from mailbot.mail.port import Envelope, MailboxError

if TYPE_CHECKING:
    from mailbot.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config: Config) -> SmtpRelay | None:
        """The `[smtp]` section as a relay, or None when there is none."""
        if config.smtp is None:
            return None
        smtp = config.smtp
        return cls(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=config.secrets.get("smtp.password"),
            timeout=smtp.timeout,
        )

    def send(self, raw: bytes, envelope: Envelope) -> list[str]:
        """Submit one message; returns the recipients the server refused.

        Partly refused is still sent (retrying would send it twice to the
        others); the caller records the refused addresses.
        """
        context = ssl.create_default_context()
        try:
            client: smtplib.SMTP
            if self.security == "tls":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.security == "starttls":
                    client.starttls(context=context)
                    client.ehlo()
                if self.username and self.password is not None:
                    client.login(self.username, self.password.get_secret_value())
                refused = client.sendmail(envelope.sender, list(envelope.recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            permanent = all(code >= 500 for code, _ in exc.recipients.values())
            raise MailboxError(
                f"SMTP server refused every recipient: {sorted(exc.recipients)}",
                permanent=permanent,
            ) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise MailboxError(
                f"SMTP server refused the message: {exc.smtp_code} {exc.smtp_error!r}",
                permanent=exc.smtp_code >= 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailboxError(f"SMTP delivery via {self.host}:{self.port} failed: {exc}") from exc
        if refused:
            log.warning("SMTP server refused %d recipient(s) of a message", len(refused))
        return sorted(refused)
