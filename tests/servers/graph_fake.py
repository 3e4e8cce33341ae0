"""An in-process Microsoft Graph + Entra ID endpoint, so msal's and httpx's real code runs.

It serves HTTPS on a loopback port with a throw-away certificate authority
(msal accepts only https authorities; the clients are given the CA file, the
same `verify` a site with a TLS-inspecting proxy needs). It answers:

- Entra ID: `/{tenant}/v2.0/.well-known/openid-configuration` and the
  client-credentials grant at `/{tenant}/oauth2/v2.0/token`, with a client
  secret or a certificate (the signed client assertion is verified);
- Graph v1.0 under `/users/{user}`: `mailFolders/{id}`, `childFolders`
  (list with `$filter=displayName eq '…'`, create), `messages/delta` with
  `$skiptoken`/`$deltatoken` links, `messages?$filter=internetMessageId eq
  '…'`, `messages/{id}/$value`, `messages/{id}/move`, `sendMail` and
  `POST messages` with a base64 MIME body (`Content-Type: text/plain`), and
  JSON batching (`/$batch`, up to 20 requests, `$value` bodies base64).

The JSON follows Microsoft's Graph reference: `@odata.nextLink`,
`@odata.deltaLink`, `@removed`, the `{"error": {"code", "message"}}` shape,
410 `SyncStateNotFound` for a forgotten delta token, 429 with `Retry-After`,
AADSTS errors from the token endpoint. Ids honour `Prefer:
IdType="ImmutableId"`: immutable ids survive moves, the default ids change.

What it cannot show: real paging sizes and ordering, how Exchange Online
rewrites MIME, Retry-After values under real load, the delay before a sent
message shows up in Sent Items. See docs/exchange.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.utils
import itertools
import json
import re
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"
SECRET = "geheim~secret"


# -- TLS material --------------------------------------------------------------------

_tls_lock = threading.Lock()
_tls: tuple[Path, Path] | None = None


def tls_files() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made once per test run)."""
    global _tls
    with _tls_lock:
        if _tls is None:
            folder = Path(tempfile.mkdtemp(prefix="graph-fake-tls-"))
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
            now = dt.datetime.now(dt.UTC)
            import ipaddress

            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1))
                .not_valid_after(now + dt.timedelta(days=2))
                .add_extension(
                    x509.SubjectAlternativeName(
                        [
                            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                            x509.DNSName("localhost"),
                        ]
                    ),
                    critical=False,
                )
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            cert_path = folder / "cert.pem"
            key_path = folder / "key.pem"
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            _tls = (cert_path, key_path)
        return _tls


def app_certificate() -> tuple[str, str, str]:
    """An app registration's certificate: (private key + cert PEM, cert PEM, SHA-1 thumbprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailbot")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    return key_pem + cert_pem, cert_pem, thumbprint


# -- the mailbox model ---------------------------------------------------------------


def _new_id() -> str:
    raw = b"\x00\x00\x00\x00" + uuid.uuid4().bytes + uuid.uuid4().bytes + uuid.uuid4().bytes
    return base64.urlsafe_b64encode(raw).decode()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GraphFolder:
    id: str
    name: str
    parent: str | None
    wellknown: str | None = None


@dataclass
class GraphMessage:
    immutable_id: str
    rest_id: str
    folder: str
    mime: bytes
    received: dt.datetime
    internet_message_id: str | None
    is_read: bool = False
    is_draft: bool = False

    def header(self, name: str) -> str | None:
        value = BytesHeaderParser(policy=compat32).parsebytes(self.mime).get(name)
        return str(value) if value is not None else None


@dataclass
class Throttle:
    remaining: int
    retry_after: float
    status: int
    operation: str | None


@dataclass
class Answer:
    status: int
    body: Any = None  # dict -> JSON, bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, dict(headers))


class GraphFakeServer:
    """See the module docstring. `start()`, then point the mailbox at `url`."""

    def __init__(self, user: str = "leveranciers@gemeente.example") -> None:
        self.user = user.lower()
        self.lock = threading.RLock()
        self.folders: dict[str, GraphFolder] = {}
        self.messages: dict[str, GraphMessage] = {}
        self.log: list[tuple[int, str, str, str]] = []  # (seq, folder, kind, immutable id)
        self._seq = itertools.count(1)
        self.counts: Counter[str] = Counter()
        self.batched: Counter[str] = Counter()
        self.sent: list[tuple[list[str], bytes]] = []
        self.throttles: list[Throttle] = []
        self.generation = 1
        self.replace_message_ids = False
        self.secret = SECRET
        self.app_certificate_pem: str | None = None
        self.roles = ["Mail.ReadWrite", "Mail.Send"]
        self.denied = False
        self.token_lifetime = 3599
        self.in_flight = 0
        self.max_in_flight = 0
        self.slow_seconds = 0.0
        self.late_answers: dict[str, float] = {}  # operation -> seconds to wait after acting
        self.tokens_issued = 0
        self.signing_key = uuid.uuid4().hex * 2
        root = self._add("Top of Information Store", None, "msgfolderroot")
        for name, wellknown in (
            ("Inbox", "inbox"),
            ("Sent Items", "sentitems"),
            ("Drafts", "drafts"),
            ("Deleted Items", "deleteditems"),
        ):
            self._add(name, root.id, wellknown)
        self.httpd: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> GraphFakeServer:
        server = self
        cert, key = tls_files()

        class Handler(_Handler):
            fake = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="graph-fake", daemon=True
        ).start()
        return self

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def ca_file(self) -> str:
        return str(tls_files()[0])

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        for sock in list(self._connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- outside view and controls ----------------------------------------------------

    def _add(self, name: str, parent: str | None, wellknown: str | None = None) -> GraphFolder:
        folder = GraphFolder(_new_id(), name, parent, wellknown)
        self.folders[folder.id] = folder
        return folder

    def _folder(self, ref: str) -> GraphFolder | None:
        ref = unquote(ref)
        return self.folders.get(ref) or next(
            (f for f in self.folders.values() if f.wellknown and f.wellknown == ref.lower()), None
        )

    def folder_by_path(self, path: str) -> GraphFolder | None:
        with self.lock:
            if path.upper() == "INBOX":
                return self._folder("inbox")
            if path in ("Sent", "Sent Items"):
                return self._folder("sentitems")
            if path == "Drafts":
                return self._folder("drafts")
            folder = self._folder("msgfolderroot")
            assert folder is not None
            for part in [p for p in path.split("/") if p]:
                child = next(
                    (
                        f
                        for f in self.folders.values()
                        if f.parent == folder.id and f.name.lower() == part.lower()
                    ),
                    None,
                )
                if child is None:
                    return None
                folder = child
            return folder

    def _in(self, folder_id: str) -> list[GraphMessage]:
        return sorted(
            (m for m in self.messages.values() if m.folder == folder_id), key=lambda m: m.received
        )

    def _store(self, folder_id: str, mime: bytes, **fields: Any) -> GraphMessage:
        parsed = BytesHeaderParser(policy=compat32).parsebytes(mime)
        message_id = parsed.get("Message-ID")
        message = GraphMessage(
            immutable_id=_new_id(),
            rest_id=_new_id(),
            folder=folder_id,
            mime=mime,
            received=dt.datetime.now(dt.UTC),
            internet_message_id=str(message_id).strip() if message_id else None,
            **fields,
        )
        self.messages[message.immutable_id] = message
        self.log.append((next(self._seq), folder_id, "create", message.immutable_id))
        return message

    def deliver(self, path: str, raw: bytes) -> str:
        with self.lock:
            folder = self.folder_by_path(path)
            assert folder is not None, f"no folder {path!r}"
            return self._store(folder.id, raw).immutable_id

    def folder_messages(self, path: str) -> list[bytes]:
        with self.lock:
            folder = self.folder_by_path(path)
            return [] if folder is None else [m.mime for m in self._in(folder.id)]

    def folder_items(self, path: str) -> list[GraphMessage]:
        with self.lock:
            folder = self.folder_by_path(path)
            return [] if folder is None else self._in(folder.id)

    def mark_read(self, immutable_id: str) -> None:
        with self.lock:
            message = self.messages[immutable_id]
            message.is_read = True
            self.log.append((next(self._seq), message.folder, "update", immutable_id))

    def throttle(
        self,
        times: int = 1,
        retry_after: float = 1,
        status: int = 429,
        operation: str | None = None,
    ) -> None:
        """The next `times` requests (of `operation`) are answered 429/503 with Retry-After."""
        with self.lock:
            self.throttles.append(Throttle(times, retry_after, status, operation))

    def revoke_tokens(self) -> None:
        """Access tokens issued so far stop working (as after a key rollover or a revocation)."""
        with self.lock:
            self.signing_key = uuid.uuid4().hex * 2

    def expire_delta_links(self) -> None:
        with self.lock:
            self.generation += 1

    def total_requests(self) -> int:
        return sum(v for k, v in self.counts.items() if k not in ("token", "openid"))

    # -- Entra ID ---------------------------------------------------------------------

    def openid(self, tenant: str) -> Answer:
        if tenant != TENANT:
            return Answer(
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found. Check to make "
                    "sure you have the correct tenant ID and are signing into the correct cloud.",
                    "error_codes": [90002],
                },
            )
        base = f"{self.url}/{tenant}"
        return Answer(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{self.url}/{tenant}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            },
        )

    def token(self, tenant: str, form: dict[str, str]) -> Answer:
        def refused(code: int, description: str) -> Answer:
            now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
            trace = uuid.uuid4()
            return Answer(
                401,
                {
                    "error": "invalid_client",
                    "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
                    f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {now}",
                    "error_codes": [code],
                    "timestamp": now,
                    "trace_id": str(trace),
                    "error_uri": f"https://login.microsoftonline.com/error?code={code}",
                },
            )

        if form.get("grant_type") != "client_credentials" or form.get("client_id") != CLIENT_ID:
            return refused(
                700016, f"Application with identifier '{form.get('client_id')}' was not found."
            )
        if "client_assertion" in form:
            if self.app_certificate_pem is None:
                return refused(700027, "Client assertion failed signature validation.")
            public = x509.load_pem_x509_certificate(self.app_certificate_pem.encode()).public_key()
            try:
                jwt.decode(
                    form["client_assertion"],
                    public,  # type: ignore[arg-type]
                    algorithms=["RS256", "PS256"],
                    audience=f"{self.url}/{tenant}/oauth2/v2.0/token",
                )
            except jwt.PyJWTError as exc:
                return refused(700027, f"Client assertion failed signature validation. ({exc})")
        elif form.get("client_secret") != self.secret:
            return refused(
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{CLIENT_ID}'.",
            )
        now = int(time.time())
        token = jwt.encode(
            {
                "aud": "https://graph.microsoft.com",
                "iss": f"https://sts.windows.net/{tenant}/",
                "iat": now,
                "nbf": now,
                "exp": now + self.token_lifetime,
                "appid": CLIENT_ID,
                "roles": self.roles,
                "tid": tenant,
            },
            self.signing_key,
            algorithm="HS256",
        )
        self.tokens_issued += 1
        return Answer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
        )

    def valid_token(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        try:
            jwt.decode(
                header[7:],
                self.signing_key,
                algorithms=["HS256"],
                audience="https://graph.microsoft.com",
            )
        except jwt.PyJWTError:
            return False
        return True

    # -- Graph ------------------------------------------------------------------------

    def _operation(self, method: str, path: str) -> str:
        if path.endswith("/$value"):
            return "$value"
        if path.endswith("/move"):
            return "move"
        if path.endswith("/sendMail"):
            return "sendMail"
        if path.endswith("/messages/delta"):
            return "delta"
        if path.endswith("/childFolders"):
            return "createFolder" if method == "POST" else "childFolders"
        if path.endswith("/messages"):
            return "createMessage" if method == "POST" else "messages"
        if path == "/$batch":
            return "$batch"
        return f"{method} {re.sub(r'/users/[^/]+', '/users/x', path)}"

    def _throttled(self, operation: str) -> Answer | None:
        for throttle in self.throttles:
            if throttle.remaining > 0 and throttle.operation in (None, operation):
                throttle.remaining -= 1
                return _error(
                    throttle.status,
                    "ApplicationThrottled" if throttle.status == 429 else "ServiceUnavailable",
                    "Application is over its MailboxConcurrency limit.",
                    **{"Retry-After": f"{throttle.retry_after:g}"},
                )
        return None

    def dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        *,
        batched: bool = False,
    ) -> Answer:
        """One Graph request (top level or inside a batch); `target` is the path after /v1.0."""
        parts = urlsplit(target)
        path = re.sub(r"(?i)mailfolders\('([^']*)'\)", r"mailFolders/\1", parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        prefer = headers.get("prefer", "")
        immutable = 'IdType="ImmutableId"' in prefer
        page = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        operation = self._operation(method, path)
        with self.lock:
            (self.batched if batched else self.counts)[operation] += 1
            throttled = self._throttled(operation)
            if throttled is not None:
                return throttled
            if path == "/$batch" and not batched:
                return self._batch(body)
            match = re.fullmatch(r"/users/([^/]+)(/.*)", path)
            if match is None or unquote(match.group(1)).lower() != self.user:
                return _error(404, "ErrorInvalidUser", f"The requested user '{path}' is invalid.")
            if self.denied:
                return _error(
                    403,
                    "ErrorAccessDenied",
                    "Access to OData is disabled: Blocked by tenant configured AppOnly "
                    "AccessPolicy settings.",
                )
            rest = match.group(2)
            return self._route(
                method, rest, query, body, immutable, int(page.group(1)) if page else 10
            )

    def _route(
        self, method: str, rest: str, query: dict[str, str], body: bytes, immutable: bool, page: int
    ) -> Answer:
        if m := re.fullmatch(r"/mailFolders/([^/]+)", rest):
            folder = self._folder(m.group(1))
            if folder is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return Answer(200, self._folder_json(folder))
        if m := re.fullmatch(r"/mailFolders/([^/]+)/childFolders", rest):
            parent = self._folder(m.group(1))
            if parent is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if method == "POST":
                name = json.loads(body)["displayName"]
                if any(
                    f.parent == parent.id and f.name.lower() == name.lower()
                    for f in self.folders.values()
                ):
                    return _error(
                        409, "ErrorFolderExists", "A folder with the specified name already exists."
                    )
                return Answer(201, self._folder_json(self._add(name, parent.id)))
            children = [f for f in self.folders.values() if f.parent == parent.id]
            wanted = re.fullmatch(r"displayName eq '((?:[^']|'')*)'", query.get("$filter", ""))
            if wanted:
                name = wanted.group(1).replace("''", "'").lower()
                children = [f for f in children if f.name.lower() == name]
            return Answer(200, {"value": [self._folder_json(f) for f in children]})
        if m := re.fullmatch(r"/mailFolders/([^/]+)/messages/delta", rest):
            return self._delta(m.group(1), query, immutable, page)
        if m := re.fullmatch(r"/mailFolders/([^/]+)/messages", rest):
            folder = self._folder(m.group(1))
            if folder is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            found = self._in(folder.id)
            wanted = re.fullmatch(
                r"internetMessageId eq '((?:[^']|'')*)'", query.get("$filter", "")
            )
            if wanted:
                value = wanted.group(1).replace("''", "'")
                found = [m for m in found if m.internet_message_id == value]
            top = int(query.get("$top", "10"))
            return Answer(200, {"value": [self._message_json(m, immutable) for m in found[:top]]})
        if m := re.fullmatch(r"/messages/([^/]+)/\$value", rest):
            message = self._message(m.group(1))
            if isinstance(message, Answer):
                return message
            return Answer(200, message.mime, {"Content-Type": "text/plain"})
        if m := re.fullmatch(r"/messages/([^/]+)/move", rest):
            message = self._message(m.group(1))
            if isinstance(message, Answer):
                return message
            target = self._folder(json.loads(body).get("destinationId", ""))
            if target is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            self.log.append((next(self._seq), message.folder, "remove", message.immutable_id))
            message.folder = target.id
            message.rest_id = _new_id()  # without ImmutableId, ids change on a move
            self.log.append((next(self._seq), target.id, "create", message.immutable_id))
            return Answer(201, self._message_json(message, immutable))
        if rest == "/sendMail" and method == "POST":
            mime = self._mime(body)
            if isinstance(mime, Answer):
                return mime
            if self.replace_message_ids:
                mime = _replace_message_id(
                    mime, f"<{uuid.uuid4().hex}@AM0PR01MB0001.eurprd01.prod.outlook.com>"
                )
            parsed = BytesHeaderParser(policy=compat32).parsebytes(mime)
            values = [str(v) for n in ("To", "Cc", "Bcc") for v in parsed.get_all(n, [])]
            recipients = [a.lower() for _, a in email.utils.getaddresses(values) if a]
            if not recipients:
                return _error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
            self.sent.append((recipients, _without_bcc(mime)))  # transport never shows Bcc
            sent = self._folder("sentitems")
            assert sent is not None
            self._store(sent.id, mime, is_read=True)
            return Answer(202)
        if rest == "/messages" and method == "POST":
            mime = self._mime(body)
            if isinstance(mime, Answer):
                return mime
            drafts = self._folder("drafts")
            assert drafts is not None
            message = self._store(drafts.id, mime, is_read=True, is_draft=True)
            return Answer(201, self._message_json(message, immutable))
        return _error(400, "BadRequest", f"Unsupported request: {method} {rest}")

    def _mime(self, body: bytes) -> bytes | Answer:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )

    def _message(self, ref: str) -> GraphMessage | Answer:
        ref = unquote(ref)
        found = self.messages.get(ref) or next(
            (m for m in self.messages.values() if m.rest_id == ref), None
        )
        if found is not None:
            return found
        try:
            ok = len(base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))) > 16
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            return _error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _folder_json(self, folder: GraphFolder) -> dict[str, Any]:
        inside = self._in(folder.id)
        return {
            "id": folder.id,
            "displayName": folder.name,
            "parentFolderId": folder.parent,
            "childFolderCount": sum(1 for f in self.folders.values() if f.parent == folder.id),
            "unreadItemCount": sum(1 for m in inside if not m.is_read),
            "totalItemCount": len(inside),
            "isHidden": False,
        }

    def _message_json(self, message: GraphMessage, immutable: bool) -> dict[str, Any]:
        return {
            "@odata.etag": 'W/"CQAAABYAAAA"',
            "id": message.immutable_id if immutable else message.rest_id,
            "receivedDateTime": _iso(message.received),
            "internetMessageId": message.internet_message_id,
            "subject": message.header("Subject"),
            "isRead": message.is_read,
            "isDraft": message.is_draft,
            "parentFolderId": message.folder,
        }

    # delta

    def _link(self, folder: GraphFolder, kind: str, seq: int) -> str:
        token = base64.urlsafe_b64encode(
            json.dumps({"f": folder.id, "s": seq, "g": self.generation}).encode()
        ).decode()
        return (
            f"{self.url}/v1.0/users/{self.user}/mailFolders('{folder.id}')/messages/delta"
            f"?${kind}={token}"
        )

    def _delta(self, ref: str, query: dict[str, str], immutable: bool, page: int) -> Answer:
        folder = self._folder(ref)
        if folder is None:
            return _error(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        token = query.get("$skiptoken") or query.get("$deltatoken")
        after = 0
        if token:
            try:
                data = json.loads(base64.urlsafe_b64decode(token))
            except (binascii.Error, ValueError):
                data = {}
            if data.get("f") != folder.id or data.get("g") != self.generation:
                return _error(410, "SyncStateNotFound", "The sync state generation is not found.")
            after = int(data["s"])
        entries = [e for e in self.log if e[0] > after and e[1] == folder.id]
        value: list[dict[str, Any]] = []
        position = after
        for seq, _, kind, message_id in entries:
            if len(value) >= page:
                break
            position = seq
            message = self.messages.get(message_id)
            here = message is not None and message.folder == folder.id
            if kind in ("create", "update") and here and message is not None:
                value.append(self._message_json(message, immutable))
            elif kind == "remove" and after > 0:
                shown = message_id if immutable or message is None else message.rest_id
                value.append(
                    {
                        "@odata.type": "#microsoft.graph.message",
                        "id": shown,
                        "@removed": {"reason": "deleted"},
                    }
                )
        more = any(e[0] > position for e in entries)
        result: dict[str, Any] = {
            "@odata.context": f"{self.url}/v1.0/$metadata#Collection(message)",
            "value": value,
        }
        if more:
            result["@odata.nextLink"] = self._link(folder, "skiptoken", position)
        else:
            result["@odata.deltaLink"] = self._link(
                folder, "deltatoken", max([after, *(e[0] for e in self.log)])
            )
        return Answer(200, result, {"Preference-Applied": f"odata.maxpagesize={page}"})

    # batching

    def _batch(self, body: bytes) -> Answer:
        requests = json.loads(body).get("requests", [])
        if len(requests) > 20:
            return _error(400, "BadRequest", "Number of requests in batch exceeds 20.")
        responses = []
        for request in requests:
            headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            inner = request.get("body")
            raw = json.dumps(inner).encode() if isinstance(inner, dict) else (inner or "").encode()
            url = request["url"] if request["url"].startswith("/") else "/" + request["url"]
            answer = self.dispatch(request["method"], url, headers, raw, batched=True)
            if isinstance(answer.body, bytes):
                payload: Any = base64.b64encode(answer.body).decode()
            else:
                payload = answer.body
            entry: dict[str, Any] = {
                "id": request["id"],
                "status": answer.status,
                "headers": answer.headers,
            }
            if payload is not None:
                entry["body"] = payload
            responses.append(entry)
        return Answer(200, {"responses": responses})


def _without_bcc(mime: bytes) -> bytes:
    head, sep, body = mime.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"bcc:")]
    return b"\r\n".join(lines) + sep + body


def _replace_message_id(mime: bytes, new_id: str) -> bytes:
    head, sep, body = mime.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"message-id:")]
    return b"\r\n".join([*lines, b"Message-ID: " + new_id.encode()]) + sep + body


class _Handler(BaseHTTPRequestHandler):
    fake: GraphFakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._connections.add(self.connection)

    def finish(self) -> None:
        self.fake._connections.discard(self.connection)
        super().finish()

    def _reply(self, answer: Answer) -> None:
        if isinstance(answer.body, bytes):
            body, ctype = (
                answer.body,
                answer.headers.get("Content-Type", "application/octet-stream"),
            )
        elif answer.body is None:
            body, ctype = b"", "application/json"
        else:
            body, ctype = (
                json.dumps(answer.body).encode(),
                "application/json; odata.metadata=minimal",
            )
        self.send_response(answer.status)
        self.send_header("Content-Type", ctype)
        for name, value in answer.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        fake = self.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = urlsplit(self.path).path
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if fake.slow_seconds:
                time.sleep(fake.slow_seconds)
            if m := re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path):
                with fake.lock:
                    fake.counts["openid"] += 1
                self._reply(fake.openid(m.group(1)))
                return
            if m := re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path):
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                with fake.lock:
                    fake.counts["token"] += 1
                    answer = fake.token(m.group(1), form)
                self._reply(answer)
                return
            if not path.startswith("/v1.0/"):
                self._reply(_error(404, "NotFound", "Unknown path"))
                return
            if not fake.valid_token(self.headers.get("Authorization", "")):
                with fake.lock:
                    fake.counts["401"] += 1
                self._reply(
                    _error(
                        401,
                        "InvalidAuthenticationToken",
                        "Access token validation failure. Invalid audience.",
                        **{"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
                    )
                )
                return
            target = self.path[len("/v1.0") :]
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.dispatch(method, target, headers, body)
            late = fake.late_answers.get(fake._operation(method, urlsplit(target).path))
            if late:
                time.sleep(late)  # done, but the client may give up waiting for the answer
            self._reply(answer)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")
