"""The Graph backend: Microsoft Graph for Exchange Online (msal client credentials + httpx).

Microsoft blocks EWS in Exchange Online from October 2026, so Microsoft 365
mailboxes are reached through Graph with an app registration (a client secret
or a certificate) that has `Mail.ReadWrite` and `Mail.Send`, ideally limited
to the one shared mailbox (see docs/exchange.md).

**Keys** are immutable message ids: every request says
`Prefer: IdType="ImmutableId"`, so an id survives moves and `move()` hands back
the same id (taken from the response all the same).

**Listing** is a delta query per folder. A page ends either in a nextLink (more
to come: the checkpoint is `{"next": link}`) or in a deltaLink (the
checkpoint is `{"delta": link}`, next time only what changed). Removed entries
are ignored; changed entries (a read flag) come back as keys the core already
knows and ignores. A delta link the server no longer knows (410 Gone) starts a
full resync.

**Reading and moving in bulk**: `fetch_many()` and `move_many()` put up to 20
requests in one JSON batch (`/$batch`), so a backlog costs a few requests per
hundred messages instead of two per message. `$value` bodies come back
base64-encoded inside the batch.

**Sending** posts the MIME itself (base64, `text/plain`) to `sendMail`, so the
threading headers and our Message-ID are the ones we composed; then the copy
in Sent Items tells which Message-ID the server kept. Drafts are created from
MIME too (`POST /messages` creates them in Drafts).

**Being a good citizen**: at most 4 requests at a time (Exchange Online allows
4 concurrent requests per mailbox), and 429/503/504 are retried after the
`Retry-After` the server asked for, up to a bounded total wait; then the
request fails as a temporary `MailboxError`.

**Waiting**: Graph change notifications need a public HTTPS endpoint, which a
daemon behind a firewall does not have, so `wait()` polls a delta link of its
own per watched folder (one request per folder per poll). It is only a
wake-up: the core's checkpoints stay the source of truth.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msal
import requests

from mailbot.config import Config, ConfigError
from mailbot.mail.parse import message_ids
from mailbot.mail.port import INBOX, Envelope, Listing, MailboxError, SentCopy, folder_report

log = logging.getLogger(__name__)

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
MAX_CONCURRENT = 4
BATCH_SIZE = 20  # Graph accepts at most 20 requests in one batch
PAGE_SIZE = 200
DEFAULT_MAX_WAIT = 120.0
POLL_INTERVAL = 30.0
SENT_LOOKUP_SECONDS = 10.0
TIMEOUT = 60.0
IMMUTABLE_IDS = 'IdType="ImmutableId"'
_DELTA_SELECT = "id,internetMessageId,receivedDateTime"
_THROTTLED = (429, 503, 504)
_GONE_CODES = ("ErrorItemNotFound", "ErrorInvalidIdMalformed", "ResourceNotFound")
# Token errors that retrying cannot cure: the operator must fix the app registration.
_PERMANENT_TOKEN_ERRORS = (
    "invalid_client",
    "unauthorized_client",
    "invalid_request",
    "invalid_scope",
    "invalid_grant",
    "invalid_resource",
)


@dataclass(frozen=True)
class Certificate:
    """A certificate credential: the private key (PEM) and the SHA-1 thumbprint of its cert."""

    private_key: str
    thumbprint: str

    @classmethod
    def from_file(cls, path: Path, thumbprint: str | None = None) -> Certificate:
        """A PEM file holding the private key and (for a computed thumbprint) the certificate."""
        text = path.read_text(encoding="utf-8")
        if thumbprint is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes

            if "BEGIN CERTIFICATE" not in text:
                raise ConfigError(
                    [
                        "mailbox.graph.certificate_thumbprint: required when "
                        "certificate_file holds no certificate"
                    ]
                )
            cert = x509.load_pem_x509_certificate(text.encode())
            thumbprint = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - what Entra ID uses
        return cls(private_key=text, thumbprint=thumbprint.replace(":", "").upper())


def _angle(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"


def _bare(message_id: str | None) -> str | None:
    ids = message_ids(message_id)
    return ids[0] if ids else None


def _odata_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return "", response.text[:200]
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))
    return str(error), ""


def _retry_after(headers: Mapping[str, str], attempt: int) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            moment = email.utils.parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - time.time())
    return float(min(2**attempt, 30))


def _header_addresses(raw: bytes) -> set[str]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
    return {addr.lower() for _, addr in email.utils.getaddresses(values) if addr}


def _header_message_id(raw: bytes) -> str | None:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return _bare(str(headers.get("Message-ID") or ""))


def _with_bcc(raw: bytes, extra: Sequence[str]) -> bytes:
    """Graph takes recipients from the MIME only: envelope-only recipients become Bcc."""
    return b"Bcc: " + ", ".join(extra).encode() + b"\r\n" + raw


def _batch_body(body: Any) -> bytes:
    """A `$value` body inside a batch: base64 text (community-observed), or plain text."""
    if isinstance(body, str):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return body.encode()
    if isinstance(body, dict | list):
        return json.dumps(body).encode()
    return b""


class _PinnedSession(requests.Session):
    """A requests session that keeps its own CA bundle.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `session.verify`
    (psf/requests#3829), which would ignore the CA file given in the config.
    """

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(
            url, proxies, stream, verify, cert
        )
        settings["verify"] = self.verify
        return settings


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def _token_roles(token: str) -> list[str]:
    """The application permissions in an access token (read for check-config, not verified)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return []
    roles = claims.get("roles", [])
    return [str(r) for r in roles] if isinstance(roles, list) else []


class GraphMailbox:
    """See `mailbot.mail.port.Mailbox` and the module docstring."""

    def __init__(
        self,
        *,
        user: str,
        tenant_id: str,
        client_id: str,
        client_secret: str | None = None,
        certificate: Certificate | None = None,
        authority: str | None = None,
        graph_url: str = DEFAULT_GRAPH_URL,
        verify: bool | str = True,
        validate_authority: bool = True,
        max_concurrent: int = MAX_CONCURRENT,
        max_wait: float = DEFAULT_MAX_WAIT,
        page_size: int = PAGE_SIZE,
        batch_size: int = BATCH_SIZE,
        poll_interval: float = POLL_INTERVAL,
        sent_lookup_seconds: float = SENT_LOOKUP_SECONDS,
        timeout: float = TIMEOUT,
        config_folders: Sequence[str] = (),
    ) -> None:
        if (client_secret is None) == (certificate is None):
            raise ValueError("give a client secret or a certificate")
        self.user = user
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._credential: str | dict[str, str] = (
            client_secret
            if client_secret is not None
            else {"private_key": certificate.private_key, "thumbprint": certificate.thumbprint}  # type: ignore[union-attr]
        )
        base = (authority or DEFAULT_AUTHORITY).rstrip("/")
        self.authority = base if base.endswith("/" + tenant_id) else f"{base}/{tenant_id}"
        self.graph_url = graph_url.rstrip("/")
        self.api = f"{self.graph_url}/v1.0"
        self.base = f"{self.api}/users/{quote(user)}"
        self.user_path = f"/users/{quote(user)}"
        self.verify = verify
        self.validate_authority = validate_authority
        self.max_wait = max_wait
        self.page_size = page_size
        self.batch_size = min(batch_size, BATCH_SIZE)
        self.poll_interval = poll_interval
        self.sent_lookup_seconds = sent_lookup_seconds
        self.config_folders = tuple(config_folders)
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=_ssl_verify(verify),
            headers={"Prefer": IMMUTABLE_IDS, "Accept": "application/json"},
            limits=httpx.Limits(max_connections=max_concurrent),
        )
        self._msal: Any = None
        self._token_lock = threading.Lock()
        self._token_value: str | None = None
        self._folders: dict[str, str] = {}
        self._folder_lock = threading.Lock()
        self._stop = threading.Event()
        self._watched: list[str] = [INBOX]
        self._watch_links: dict[str, str] = {}

    # -- authentication ---------------------------------------------------------------

    def _app(self) -> Any:
        if self._msal is None:
            session = None
            if self.verify is not True:
                session = _PinnedSession()
                session.verify = self.verify
            try:
                self._msal = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._credential,
                    authority=self.authority,
                    validate_authority=self.validate_authority,
                    instance_discovery=None if self.validate_authority else False,
                    http_client=session,
                    timeout=TIMEOUT,
                )
            except ValueError as exc:  # msal: the tenant's OIDC discovery failed (4xx)
                raise MailboxError(
                    f"Graph sign-in: tenant {self.tenant_id} not found at {self.authority}: {exc}",
                    permanent=True,
                ) from exc
        return self._msal

    def _token(self, *, renew: bool = False) -> str:
        with self._token_lock:
            try:
                app = self._app()
                if renew:
                    app.remove_tokens_for_client()
                result = app.acquire_token_for_client(scopes=[f"{self.graph_url}/.default"])
            except requests.RequestException as exc:
                raise MailboxError(f"Graph sign-in: {self.authority} unreachable: {exc}") from exc
            token = result.get("access_token") if isinstance(result, dict) else None
            if token:
                self._token_value = str(token)
                return self._token_value
            error = str(result.get("error", "unknown_error"))
            description = str(result.get("error_description", "")).splitlines()[0:1]
            detail = description[0] if description else ""
            raise MailboxError(
                f"Graph sign-in refused for app {self.client_id} in tenant {self.tenant_id}: "
                f"{error}: {detail}",
                permanent=error in _PERMANENT_TOKEN_ERRORS,
            )

    # -- HTTP -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        prefer: str | None = None,
        once: bool = False,
    ) -> httpx.Response:
        """One Graph request: throttling retried within `max_wait`, auth trouble permanent.

        Other non-2xx answers are returned for the caller to judge. `once` marks a
        request that must not run twice (sending): it is repeated only when the
        server surely did not act on it (no connection, 429, 503), never after a
        timeout or a 504, where it may have.
        """
        deadline = time.monotonic() + self.max_wait
        renewed = False
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self._token()}"}
            if prefer:
                headers["Prefer"] = f"{IMMUTABLE_IDS}, {prefer}"
            if content_type:
                headers["Content-Type"] = content_type
            try:
                with self._slots:
                    response = self._http.request(
                        method,
                        self._url(path),
                        params=params,
                        json=json_body,
                        content=content,
                        headers=headers,
                    )
            except httpx.TransportError as exc:
                delay = float(min(2**attempt, 30))
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (
                    (once and not unsent)
                    or self._stop.is_set()
                    or time.monotonic() + delay > deadline
                ):
                    raise MailboxError(f"Graph unreachable ({method} {path}): {exc}") from exc
                attempt += 1
                time.sleep(delay)
                continue
            status = response.status_code
            if status in _THROTTLED and not (once and status == 504):
                delay = _retry_after(response.headers, attempt)
                if time.monotonic() + delay > deadline:
                    raise MailboxError(
                        f"Graph kept throttling ({status}) {method} {path}; gave up after "
                        f"{self.max_wait:.0f} s"
                    )
                log.info("Graph asked to wait %.1f s (%s)", delay, status)
                attempt += 1
                time.sleep(delay)
                continue
            if status == 401:
                if not renewed:
                    renewed = True
                    self._token(renew=True)
                    continue
                code, message = _error_of(response)
                raise MailboxError(
                    f"Graph refused the access token for {self.user}: {code} {message}",
                    permanent=True,
                )
            if status == 403:
                code, message = _error_of(response)
                raise MailboxError(
                    f"Graph denied access to {self.user} ({code}: {message}); check Mail.ReadWrite "
                    "and Mail.Send and the mailbox scope of the app (docs/exchange.md)",
                    permanent=True,
                )
            return response

    def _expect(self, response: httpx.Response, what: str, *ok: int) -> httpx.Response:
        if response.status_code in ok:
            return response
        code, message = _error_of(response)
        raise MailboxError(
            f"Graph: {what} failed: {response.status_code} {code} {message}",
            permanent=400 <= response.status_code < 500,
        )

    def _batch(self, requests_: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Run up to 20 requests in one `/$batch`; throttled ones are retried after Retry-After."""
        deadline = time.monotonic() + self.max_wait
        pending = {str(r["id"]): r for r in requests_}
        answers: dict[str, dict[str, Any]] = {}
        attempt = 0
        while pending:
            response = self._request(
                "POST", f"{self.api}/$batch", json_body={"requests": list(pending.values())}
            )
            data = self._expect(response, "a batch", 200).json()
            delay = 0.0
            for answer in data.get("responses", []):
                request_id = str(answer.get("id"))
                if int(answer.get("status", 0)) in _THROTTLED:
                    delay = max(delay, _retry_after(answer.get("headers") or {}, attempt))
                    continue
                answers[request_id] = answer
                pending.pop(request_id, None)
            if pending:
                if time.monotonic() + delay > deadline:
                    raise MailboxError("Graph kept throttling a batch; gave up")
                attempt += 1
                time.sleep(delay)
        return answers

    def _sub_request(
        self, request_id: int, method: str, path: str, body: Any = None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "id": str(request_id),
            "method": method,
            "url": self.user_path + path,
            "headers": {"Prefer": IMMUTABLE_IDS},
        }
        if body is not None:
            request["body"] = body
            request["headers"]["Content-Type"] = "application/json"
        return request

    # -- folders ----------------------------------------------------------------------

    def open(self, folders: Sequence[str]) -> None:
        self._token()
        self._expect(
            self._request("GET", "/mailFolders/inbox", params={"$select": "id"}),
            "reading Inbox",
            200,
        )
        for name in folders:
            self._folder_id(name, create=True)

    def close(self) -> None:
        self._stop.set()
        self._http.close()

    def _folder_id(self, name: str, *, create: bool = False) -> str:
        """Graph folder id of a logical name; `/` nests below the mailbox's top level."""
        if name.upper() == INBOX:
            return "inbox"
        with self._folder_lock:
            cached = self._folders.get(name)
            if cached is not None:
                return cached
            parent = "msgfolderroot"
            parts = [p for p in name.split("/") if p]
            if not parts:
                raise MailboxError(f"folder name {name!r} is empty", permanent=True)
            for depth, part in enumerate(parts, start=1):
                path = "/".join(parts[:depth])
                child = self._folders.get(path) or self._child(parent, part)
                if child is None:
                    if not create:
                        raise MailboxError(f"folder {path!r} does not exist in the mailbox")
                    child = self._create_child(parent, part)
                    log.info("created folder %r in %s", path, self.user)
                self._folders[path] = child
                parent = child
            return parent

    def _child(self, parent: str, name: str) -> str | None:
        response = self._request(
            "GET",
            f"/mailFolders/{parent}/childFolders",
            params={"$filter": f"displayName eq {_odata_quote(name)}", "$select": "id,displayName"},
        )
        for folder in (
            self._expect(response, f"finding folder {name!r}", 200).json().get("value", [])
        ):
            if str(folder.get("displayName", "")).lower() == name.lower():
                return str(folder["id"])
        return None

    def _create_child(self, parent: str, name: str) -> str:
        response = self._request(
            "POST", f"/mailFolders/{parent}/childFolders", json_body={"displayName": name}
        )
        if response.status_code == 409:  # made by someone else meanwhile
            found = self._child(parent, name)
            if found is not None:
                return found
        return str(self._expect(response, f"creating folder {name!r}", 201).json()["id"])

    def _forget_folder(self, name: str) -> None:
        with self._folder_lock:
            for path in [p for p in self._folders if p == name or p.startswith(name + "/")]:
                del self._folders[path]

    # -- listing ----------------------------------------------------------------------

    def _delta_page(self, folder: str, link: str | None, select: str) -> dict[str, Any]:
        """One delta page; a link the server forgot (410) starts over."""
        folder_id = self._folder_id(folder)
        fresh = f"/mailFolders/{folder_id}/messages/delta"
        params = None if link else {"$select": select}
        response = self._request(
            "GET", link or fresh, params=params, prefer=f"odata.maxpagesize={self.page_size}"
        )
        if response.status_code == 410 and link is not None:
            log.warning(
                "delta state of %r expired (%s); listing it again", folder, _error_of(response)[0]
            )
            return self._delta_page(folder, None, select)
        if response.status_code == 404 and folder.upper() != INBOX:
            self._forget_folder(folder)
        data: dict[str, Any] = self._expect(response, f"listing {folder!r}", 200).json()
        return data

    def scan(self, folder: str, since: Mapping[str, Any] | None = None) -> Listing:
        """One delta page; see the module docstring for the checkpoint."""
        link = None
        if since:
            link = since.get("next") or since.get("delta")
        data = self._delta_page(folder, link, _DELTA_SELECT)
        entries = [e for e in data.get("value", []) if "@removed" not in e and e.get("id")]
        entries.sort(key=lambda e: str(e.get("receivedDateTime") or ""))
        keys = [str(e["id"]) for e in entries]
        if data.get("@odata.nextLink"):
            return Listing(keys, {"next": data["@odata.nextLink"]}, more=True)
        return Listing(keys, {"delta": data.get("@odata.deltaLink")}, more=False)

    # -- reading and moving -----------------------------------------------------------

    def fetch(self, folder: str, key: str) -> bytes:
        response = self._request("GET", f"/messages/{quote(key, safe='=')}/$value")
        if response.status_code in (400, 404) and _error_of(response)[0] in (*_GONE_CODES, ""):
            raise MailboxError(f"message {key} is no longer in {folder!r}", permanent=True)
        return self._expect(response, f"fetching a message from {folder!r}", 200).content

    def fetch_many(self, folder: str, keys: Sequence[str]) -> dict[str, bytes]:
        """Raw bytes of several messages, 20 per batch; keys that are gone are left out."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size]
            answers = self._batch(
                [
                    self._sub_request(i, "GET", f"/messages/{quote(key, safe='=')}/$value")
                    for i, key in enumerate(chunk)
                ]
            )
            for i, key in enumerate(chunk):
                answer = answers.get(str(i), {})
                status = int(answer.get("status", 0))
                if status == 200:
                    found[key] = _batch_body(answer.get("body"))
                elif status in (400, 404):
                    continue
                else:
                    raise MailboxError(f"Graph: fetching {key} from {folder!r} failed: {status}")
        return found

    def _destination(self, destination: str) -> str:
        return self._folder_id(destination, create=True)

    def move(self, folder: str, key: str, destination: str) -> str | None:
        target = self._destination(destination)
        response = self._request(
            "POST", f"/messages/{quote(key, safe='=')}/move", json_body={"destinationId": target}
        )
        if response.status_code in (400, 404):
            return None
        moved = self._expect(response, f"moving a message to {destination!r}", 200, 201).json()
        return str(moved.get("id") or key)

    def move_many(
        self, folder: str, keys: Sequence[str], destination: str
    ) -> dict[str, str | None]:
        """Move several messages, 20 per batch; maps each key to its new key (None: gone)."""
        target = self._destination(destination)
        unique = list(dict.fromkeys(keys))
        moved: dict[str, str | None] = {}
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size]
            answers = self._batch(
                [
                    self._sub_request(
                        i,
                        "POST",
                        f"/messages/{quote(key, safe='=')}/move",
                        {"destinationId": target},
                    )
                    for i, key in enumerate(chunk)
                ]
            )
            for i, key in enumerate(chunk):
                answer = answers.get(str(i), {})
                status = int(answer.get("status", 0))
                if status in (200, 201):
                    body = answer.get("body")
                    moved[key] = str(body.get("id") or key) if isinstance(body, dict) else key
                elif status in (400, 404):
                    moved[key] = None
                else:
                    raise MailboxError(f"Graph: moving {key} to {destination!r} failed: {status}")
        return moved

    # -- writing ----------------------------------------------------------------------

    def _find(self, folder: str, message_id: str) -> dict[str, Any] | None:
        response = self._request(
            "GET",
            f"/mailFolders/{folder}/messages",
            params={
                "$filter": f"internetMessageId eq {_odata_quote(_angle(message_id))}",
                "$select": "id,internetMessageId",
                "$top": "1",
            },
        )
        found = self._expect(response, f"searching {folder}", 200).json().get("value", [])
        return found[0] if found else None

    def send(self, raw: bytes, envelope: Envelope, message_id: str) -> str:
        """sendMail with our MIME; the copy in Sent Items gives the Message-ID actually used."""
        extra = [r for r in envelope.recipients if r.lower() not in _header_addresses(raw)]
        mime = _with_bcc(raw, extra) if extra else raw
        ours = _header_message_id(raw) or message_id  # what the MIME really carries
        try:
            response = self._request(
                "POST",
                "/sendMail",
                content=base64.b64encode(mime),
                content_type="text/plain",
                once=True,
            )
            self._expect(response, "sending a message", 202)
        except MailboxError as exc:
            # a timeout may hide a message that did go out: Sent Items tells
            if exc.permanent or self._find("sentitems", ours) is None:
                raise
            log.warning("sending %s seemed to fail, but its copy is in Sent Items", ours)
        deadline = time.monotonic() + self.sent_lookup_seconds
        delay = 0.25
        while True:
            copy = self._find("sentitems", ours)
            if copy is not None:
                return _bare(copy.get("internetMessageId")) or message_id
            if time.monotonic() + delay > deadline:
                log.warning(
                    "sent %s, but its copy did not show up in Sent Items in time", message_id
                )
                return message_id
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def was_sent(self, message_id: str) -> bool:
        return self._find("sentitems", message_id) is not None

    def save_draft(self, raw: bytes, message_id: str) -> str:
        response = self._request(
            "POST", "/messages", content=base64.b64encode(raw), content_type="text/plain", once=True
        )
        return str(self._expect(response, "saving a draft", 201).json()["id"])

    def has_draft(self, message_id: str) -> bool:
        return self._find("drafts", message_id) is not None

    def sent_messages(self, since_key: str | None) -> tuple[list[SentCopy], str | None]:
        """New items in Sent Items since a delta link; the key is the delta link after them.

        Graph's delta does not tell a new item from a changed one, so an older copy
        whose flags changed may come back; callers recognise it by its Message-ID.
        """
        link = since_key
        ids: list[str] = []
        while True:
            data = self._delta_page_sent(link)
            ids += [str(e["id"]) for e in data.get("value", []) if "@removed" not in e]
            link = data.get("@odata.nextLink")
            if not link:
                newest = data.get("@odata.deltaLink")
                break
        copies = []
        for start in range(0, len(ids), 25):  # a group at a time: only headers are kept
            group = ids[start : start + 25]
            raws = self.fetch_many("Sent", group)
            copies += [SentCopy.from_header(key, raws[key]) for key in group if key in raws]
        return copies, newest

    def sent_marker(self) -> str | None:
        """The key of "now" in Sent Items, without reading a single message.

        What `sent_messages(None)` returns as its key, at the cost of the delta
        pages alone (ids only): for a first look at Sent, where everything is history.
        """
        link = None
        while True:
            data = self._delta_page_sent(link)
            link = data.get("@odata.nextLink")
            if not link:
                newest = data.get("@odata.deltaLink")
                return str(newest) if newest else None

    def _delta_page_sent(self, link: str | None) -> dict[str, Any]:
        response = self._request(
            "GET",
            link or "/mailFolders/sentitems/messages/delta",
            params=None if link else {"$select": "id"},
            prefer=f"odata.maxpagesize={self.page_size}",
        )
        if response.status_code == 410 and link is not None:
            return self._delta_page_sent(None)
        data: dict[str, Any] = self._expect(response, "listing Sent Items", 200).json()
        return data

    # -- waiting ----------------------------------------------------------------------

    def watch(self, folders: Sequence[str]) -> None:
        """Which folders `wait()` polls (the daemon's watched ones)."""
        self._watched = list(folders)
        self._watch_links = {}

    def _poll(self, folder: str) -> bool:
        """Follow this folder's own delta link; True when anything but removals came back."""
        link = self._watch_links.get(folder)
        arrived = False
        while True:
            data = self._delta_page(folder, link, "id")
            if link is not None:  # the first round only learns where "now" is
                arrived = arrived or any("@removed" not in e for e in data.get("value", []))
            next_link = data.get("@odata.nextLink")
            if next_link:
                link = next_link
                continue
            self._watch_links[folder] = data["@odata.deltaLink"]
            return arrived

    def wait(self, timeout: float) -> bool:
        """Polls a delta link per watched folder every `poll_interval` seconds."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            woke = False
            for folder in self._watched:
                woke = self._poll(folder) or woke
            if woke:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(self.poll_interval, remaining))
        return False

    # -- check-config ---------------------------------------------------------------------------

    def probe(self) -> list[str]:
        """What `mailbot check-config` reports; creates nothing.

        Raises `MailboxError` when the tenant, the app or the mailbox cannot be reached.
        """
        token = self._token()
        roles = _token_roles(token)
        lines = [
            f"Graph: signed in as app {self.client_id} in tenant {self.tenant_id} "
            f"({self.authority})",
            "application permissions in the token: " + (", ".join(roles) or "none"),
        ]
        for label, folder in (
            ("Inbox", "inbox"),
            ("Sent Items", "sentitems"),
            ("Drafts", "drafts"),
        ):
            response = self._request(
                "GET",
                f"/mailFolders/{folder}",
                params={"$select": "displayName,totalItemCount,unreadItemCount"},
            )
            data = self._expect(response, f"reading {label} of {self.user}", 200).json()
            lines.append(
                f"folder {label}: found ({data.get('totalItemCount', '?')} messages, "
                f"{data.get('unreadItemCount', '?')} unread)"
            )
        lines += folder_report(self.config_folders, self._folder_id)
        if "Mail.Send" in roles:
            lines.append("sending: Mail.Send granted (check-config sends nothing)")
        else:
            lines.append(
                "sending: Mail.Send is not in the token; sending will fail unless it is granted "
                "through Exchange RBAC for Applications"
            )
        return lines


# -- configuration -------------------------------------------------------------------


def from_config(config: Config) -> GraphMailbox:
    """Builds the mailbox; nothing connects until it is opened."""
    graph = config.mailbox.graph
    if graph is None:
        raise ConfigError(['backend = "graph" needs a [mailbox.graph] section'])
    secret = config.secrets.get("mailbox.graph.client_secret")
    certificate = None
    if graph.certificate_file:
        path = (config.base_dir / graph.certificate_file).resolve()
        try:
            certificate = Certificate.from_file(path, graph.certificate_thumbprint)
        except OSError as exc:
            raise ConfigError(
                [f"mailbox.graph.certificate_file: cannot read {path}: {exc.strerror}"]
            ) from exc
    if (secret is None) == (certificate is None):
        raise ConfigError(
            [
                "mailbox.graph: give client_secret_env / client_secret_file "
                "or certificate_file, exactly one"
            ]
        )
    folders = config.mailbox.folders
    return GraphMailbox(
        user=graph.user,
        tenant_id=graph.tenant_id,
        client_id=graph.client_id,
        client_secret=secret.get_secret_value() if secret is not None else None,
        certificate=certificate,
        authority=graph.authority,
        graph_url=graph.graph_url,
        config_folders=(folders.compliments, folders.processed, folders.triage, folders.quarantine),
    )
