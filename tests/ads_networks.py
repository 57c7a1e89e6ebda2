"""
A local Meta Graph API and Google Ads API for audience pushes: one HTTP server (a thread) that
checks each request the way the networks document it and keeps each list's members, so a test
can compare what the networks hold with what Cartback recorded.

Meta (Custom Audience Users edge): `POST` (add) or `DELETE` (remove) on
`/{version}/{audience_id}/users`, form-encoded `access_token` and `payload`, a JSON object with
`schema` `EMAIL_SHA256` or `PHONE_SHA256` and `data`, 1 to 10,000 SHA-256 hex digests; no token
in the URL. Google (OfflineUserDataJobService): `POST /{version}/customers/{id}/
offlineUserDataJobs:create` for a Customer Match list, `{job}:addOperations` with only creates
or only removes, each one `userIdentifiers` entry with `hashedEmail` or `hashedPhoneNumber`, at
most 100,000 a request, then `{job}:run`; bearer token, developer token and login customer id
headers. A request that breaks a rule is answered 400 and kept in `problems`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

META_TOKEN = "EAAGmetaSystemUserToken0123456789"
GOOGLE_DEVELOPER = "googleDeveloperToken0123"
GOOGLE_ACCESS = "ya29.googleAccessToken0123456789"
GOOGLE_CUSTOMER = "1234567890"
GOOGLE_LOGIN = "9876543210"
META_VERSION = "v25.0"
GOOGLE_VERSION = "v22"
SECRETS = (META_TOKEN, GOOGLE_DEVELOPER, GOOGLE_ACCESS)
HASH = re.compile(r"[0-9a-f]{64}")
Answer = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class Received:
    """
    One request as the server saw it.
    """

    network: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAdNetworks:
    """
    Both networks' state: each list's members, the requests, the rule breaks, and answers
    planned ahead (a 429, a 500, a refusal) per network.
    """

    url: str = ""
    meta_lists: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    google_lists: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    planned: dict[str, list[Answer | None]] = field(default_factory=lambda: defaultdict(list))
    login_customer: str | None = GOOGLE_LOGIN
    _jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, network: str, *answers: Answer | None) -> None:
        """
        Answer the network's next requests with these, in order (None: the usual answer).
        """
        self.planned[network].extend(answers)

    def requests(self, network: str) -> list[Received]:
        """
        The requests one network received, in order.
        """
        return [r for r in self.received if r.network == network]

    def answer(self, received: Received) -> Answer:
        """
        Check the request and answer it as the network would.
        """
        with self._lock:
            self.received.append(received)
            planned = self.planned[received.network]
            answer = planned.pop(0) if planned else None
            if answer is not None:
                return answer
            if received.network == "meta":
                return self._meta(received)
            return self._google(received)

    # --- Meta -----------------------------------------------------------------------------

    def _meta(self, r: Received) -> Answer:
        match = re.fullmatch(rf"/{re.escape(META_VERSION)}/(\d+)/users", r.path)
        errors = []
        if match is None or r.method not in ("POST", "DELETE"):
            errors.append(f"unknown Meta endpoint {r.method} {r.path}")
        if r.query:
            errors.append("Meta parameters (and the token) belong in the form body")
        if not r.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            errors.append("Meta's users edge takes a form-encoded body")
        form = r.body if isinstance(r.body, dict) else {}
        if set(form) != {"access_token", "payload"}:
            errors.append(f"form fields {sorted(form)}")
        if form.get("access_token") != [META_TOKEN]:
            return 400, {}, _meta_error(190, "Invalid OAuth access token.", "OAuthException")
        payload = _json(form.get("payload", [""])[0])
        schema, data = payload.get("schema"), payload.get("data")
        if set(payload) != {"schema", "data"} or schema not in ("EMAIL_SHA256", "PHONE_SHA256"):
            errors.append(f"payload keys {sorted(payload)} schema {schema!r}")
        if not isinstance(data, list) or not 1 <= len(data) <= 10_000:
            errors.append("data must hold 1 to 10,000 records")
            data = []
        if not all(isinstance(h, str) and HASH.fullmatch(h) for h in data):
            errors.append("every record must be a lowercase SHA-256 hex digest")
        if errors or match is None:
            self.problems.extend(errors)
            return 400, {}, _meta_error(100, "Invalid parameter", "OAuthException")
        members = self.meta_lists[match.group(1)]
        if r.method == "POST":
            members.update(data)
        else:
            members.difference_update(data)
        body = {
            "audience_id": match.group(1),
            "session_id": str(next(self._ids)),
            "num_received": len(data),
            "num_invalid_entries": 0,
            "invalid_entry_samples": {},
        }
        return 200, {}, body

    # --- Google ---------------------------------------------------------------------------

    def _google(self, r: Received) -> Answer:  # noqa: PLR0911 (one answer per endpoint)
        errors = self._google_headers(r)
        if errors:
            self.problems.extend(errors)
            return 401, {}, _google_error(401, "UNAUTHENTICATED", "Request is missing credentials.")
        prefix = f"/{GOOGLE_VERSION}/"
        path = r.path[len(prefix) :] if r.path.startswith(prefix) else ""
        if r.method != "POST" or not isinstance(r.body, dict):
            return self._google_bad(f"unknown Google request {r.method} {r.path}")
        if path == f"customers/{GOOGLE_CUSTOMER}/offlineUserDataJobs:create":
            return self._create(r.body)
        job, _, verb = path.partition(":")
        if job not in self._jobs:
            return self._google_bad(f"no job {job!r}")
        if verb == "addOperations":
            return self._add_operations(job, r.body)
        if verb == "run" and r.body == {}:
            return self._run(job)
        return self._google_bad(f"unknown Google request {r.method} {r.path}")

    def _google_headers(self, r: Received) -> list[str]:
        errors = []
        if r.headers.get("authorization") != f"Bearer {GOOGLE_ACCESS}":
            errors.append("Authorization must be Bearer <access token>")
        if r.headers.get("developer-token") != GOOGLE_DEVELOPER:
            errors.append("developer-token header")
        if r.headers.get("login-customer-id") != self.login_customer:
            errors.append(f"login-customer-id header {r.headers.get('login-customer-id')!r}")
        if not r.headers.get("content-type", "").startswith("application/json"):
            errors.append("Google's REST interface takes JSON")
        return errors

    def _create(self, body: dict[str, Any]) -> Answer:
        job = body.get("job")
        metadata = job.get("customerMatchUserListMetadata") if isinstance(job, dict) else None
        user_list = metadata.get("userList") if isinstance(metadata, dict) else None
        if (
            set(body) != {"job"}
            or not isinstance(job, dict)
            or job.get("type") != "CUSTOMER_MATCH_USER_LIST"
            or not isinstance(user_list, str)
            or not re.fullmatch(r"customers/\d{10}/userLists/\d+", user_list)
        ):
            return self._google_bad(f"bad job {body!r}")
        name = f"customers/{GOOGLE_CUSTOMER}/offlineUserDataJobs/{next(self._ids)}"
        self._jobs[name] = {"list": user_list, "operation": None, "hashes": [], "ran": False}
        return 200, {}, {"resourceName": name}

    def _add_operations(self, name: str, body: dict[str, Any]) -> Answer:  # noqa: PLR0911 (one per rule)
        job = self._jobs[name]
        operations = body.get("operations")
        if set(body) - {"operations", "enablePartialFailure"} or not isinstance(operations, list):
            return self._google_bad(f"addOperations keys {sorted(body)}")
        if job["ran"] or not 1 <= len(operations) <= 100_000:
            return self._google_bad("a job takes 1 to 100,000 operations a request until it runs")
        for operation in operations:
            kinds = set(operation) if isinstance(operation, dict) else set()
            if len(kinds) != 1 or not kinds <= {"create", "remove"}:
                return self._google_bad(f"operation {operation!r}")
            (kind,) = kinds
            if job["operation"] not in (None, kind):
                return self._google_bad("a job cannot both create and remove")
            job["operation"] = kind
            identifiers = operation[kind].get("userIdentifiers")
            if not isinstance(identifiers, list) or len(identifiers) != 1:
                return self._google_bad("one userIdentifiers entry per operation")
            (identifier,) = identifiers
            if len(identifier) != 1 or not set(identifier) <= {"hashedEmail", "hashedPhoneNumber"}:
                return self._google_bad(f"identifier {identifier!r}")
            (digest,) = identifier.values()
            if not HASH.fullmatch(str(digest)):
                return self._google_bad("hashes are lowercase SHA-256 hex digests")
            job["hashes"].append(digest)
        return 200, {}, {}

    def _run(self, name: str) -> Answer:
        job = self._jobs[name]
        if job["ran"]:
            return self._google_bad("the job ran already")
        job["ran"] = True
        members = self.google_lists[job["list"]]
        if job["operation"] == "create":
            members.update(job["hashes"])
        else:
            members.difference_update(job["hashes"])
        return 200, {}, {"name": f"customers/{GOOGLE_CUSTOMER}/operations/{next(self._ids)}"}

    def _google_bad(self, problem: str) -> Answer:
        self.problems.append(problem)
        return 400, {}, _google_error(400, "INVALID_ARGUMENT", problem)


def _meta_error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbC"}}


def _google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": "Request contains an invalid argument.",
            "status": status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                    "errors": [{"errorCode": {"requestError": "UNKNOWN"}, "message": message}],
                    "requestId": "req-1",
                }
            ],
        }
    }


def _json(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@contextmanager
def serving(fake: FakeAdNetworks | None = None) -> Iterator[FakeAdNetworks]:
    """
    Serve both networks on 127.0.0.1 while the block runs: Meta under `fake.url + "/meta"`,
    Google under `fake.url + "/google"`.
    """
    fake = fake or FakeAdNetworks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            network, _, rest = parts.path.lstrip("/").partition("/")
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            form = headers.get("content-type", "").startswith("application/x-www-form")
            received = Received(
                network=network,
                method=self.command,
                path="/" + rest,
                query=parse_qs(parts.query),
                headers=headers,
                body=parse_qs(raw) if form else (_json(raw) if raw else None),
            )
            status, extra, body = fake.answer(received)
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
