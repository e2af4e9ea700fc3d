"""A local HTTP receiver that plays a Slack incoming webhook, a Teams Workflow or a generic hook.

    with WebhookFake("slack") as fake:
        fake.fail_next(429, retry_after=2)
        requests.post(fake.url, json={...})
        fake.requests  # every request received, with its parsed JSON body

Each kind validates what it receives and answers with the provider's exact bodies:

* slack   200 ``ok``; a bad payload → 400 ``invalid_payload`` (bare token, text/plain).
* teams   202 with an empty body; a bad envelope or over 28 KB → 400 Azure JSON error.
* webhook 204; a missing or wrong HMAC signature → 401 ``{"error": "invalid_signature"}``.

Scripted failures (`fail_next`) are answered in order, one per request, before any validation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Kind = Literal["slack", "teams", "webhook"]

SECRET = "test-webhook-secret"
TEAMS_LIMIT_BYTES = 28 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"

# The token each status carries by default, per kind.
_SLACK_TOKENS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "channel_not_found",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "rollup_error",
}
_AZURE_CODES = {
    400: "TriggerInputSchemaMismatch",
    401: "DirectApiInvalidAuthorizationSignature",
    404: "WorkflowNotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class Failure:
    status: int
    token: str | None = None
    retry_after: float | None = None


@dataclass
class _State:
    kind: Kind
    secret: str
    requests: list[Recorded] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _slack_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "not an object"
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        return "no text"
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "too many blocks"
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                return "bad header"
        elif kind == "section":
            fields = block.get("fields")
            if fields is not None and (
                len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields)
            ):
                return "bad fields"
            if len(block.get("text", {}).get("text", "")) > 3000:
                return "section text too long"
            if fields is None and "text" not in block:
                return "empty section"
        elif kind == "context":
            if not 0 < len(block.get("elements", [])) <= 10:
                return "bad context"
        elif kind != "divider":
            return f"unknown block {kind}"
    return None


def _teams_problem(payload: Any, size: int) -> str | None:
    if size > TEAMS_LIMIT_BYTES:
        return f"message is {size} bytes, over 28 KB"
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "type must be message"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments missing"
    for att in attachments:
        if att.get("contentType") != CARD_TYPE:
            return "bad contentType"
        card = att.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("version"):
            return "content is not an AdaptiveCard"
        if not isinstance(card.get("body"), list):
            return "card body missing"
    return None


def _signature_ok(headers, body: bytes, secret: str) -> bool:
    ts = headers.get("X-Reporting-Timestamp", "")
    got = headers.get("X-Reporting-Signature", "")
    want = (
        "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    return bool(ts) and hmac.compare_digest(got, want)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        ctype: str = "text/plain",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: int, token: str, extra: dict[str, str] | None = None) -> None:
        kind = self.server.state.kind
        if kind == "slack":
            self._reply(status, token.encode(), extra=extra)
        elif kind == "teams":
            body = {"error": {"code": token, "message": f"The request failed: {token}."}}
            self._reply(status, json.dumps(body).encode(), "application/json", extra)
        else:
            self._reply(status, json.dumps({"error": token}).encode(), "application/json", extra)

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with state.lock:
            state.requests.append(Recorded(self.path, dict(self.headers.items()), body, payload))
            failure = state.failures.popleft() if state.failures else None
        if failure is not None:
            default = (_SLACK_TOKENS if state.kind == "slack" else _AZURE_CODES).get(
                failure.status, "error"
            )
            extra = {}
            if failure.retry_after is not None:
                extra["Retry-After"] = f"{failure.retry_after:g}"
            self._error(failure.status, failure.token or default, extra)
            return
        if state.kind == "slack":
            problem = "invalid json" if payload is None else _slack_problem(payload)
            if problem:
                self._error(400, "invalid_payload")
            else:
                self._reply(200, b"ok")
        elif state.kind == "teams":
            problem = "invalid json" if payload is None else _teams_problem(payload, len(body))
            if problem:
                self._error(400, "TriggerInputSchemaMismatch")
            else:
                self._reply(202)
        elif not _signature_ok(self.headers, body, state.secret):
            self._error(401, "invalid_signature")
        elif payload is None:
            self._error(400, "invalid_json")
        else:
            self._reply(204)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class WebhookFake:
    """Context manager: a receiver on 127.0.0.1:<free port> served from a background thread."""

    def __init__(self, kind: Kind, secret: str = SECRET):
        self.kind = kind
        self.state = _State(kind, secret)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WebhookFake:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "use the fake as a context manager"
        host, port = self._server.server_address[:2]
        path = {
            "slack": "/services/T000/B000/XXXX",
            "teams": "/workflows/abc/triggers/manual",
            "webhook": "/hooks/reporting",
        }[self.kind]
        return f"http://{host}:{port}{path}"

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    def fail_next(
        self, status: int, token: str | None = None, retry_after: float | None = None
    ) -> None:
        """Answer the next (not yet scripted) request with `status` and the kind's error body."""
        with self.state.lock:
            self.state.failures.append(Failure(status, token, retry_after))
