"""Email distribution against a real SMTP server (aiosmtpd on 127.0.0.1) and a SQLite ledger."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import xlsxwriter
from PIL import Image

from reporting_assets.config.audience import Audience
from reporting_assets.distribution.email import (
    MessageFactory,
    SmtpConfigError,
    encoded_size,
    finalize_message,
    message_id,
    message_id_for,
    outbox_path,
    send_via_smtp,
    write_outbox,
)
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.records.resolutions import ResolveError, resolve
from reporting_assets.reports.email_body import build_message
from reporting_assets.resources.app_db import make_engine
from reporting_assets_tests.fakes.smtp_server import (
    Authenticator,
    ScriptedHandler,
    smtp_server,
)
from reporting_assets_tests.reports.sample import sample_report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SENDER = "Reports <reports@northwind.example>"
DOMAIN = "reports.northwind.example"
UNSUBSCRIBE = "https://reports.northwind.example/unsubscribe?list=daily"
LINK_BASE = "https://reports.northwind.example/files/daily/2026-11-26"
A, B, C = "ceo@northwind.example", "cfo@northwind.example", "coo@northwind.example"


# -- fixtures ----------------------------------------------------------------------------------


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def report():
    return sample_report()


@pytest.fixture(scope="module")
def base(report) -> EmailMessage:
    charts = {"mrr_trend": _png("#2E86AB"), "cost_by_vendor": _png("#1F3A5F")}
    return build_message(report, charts, sender=SENDER, to=[A], cc=[])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("files")
    pdf = out / "daily-executive-2026-11-26.pdf"
    pdf.write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    xlsx = out / "daily-executive-2026-11-26.xlsx"
    book = xlsxwriter.Workbook(str(xlsx))
    sheet = book.add_worksheet("KPIs")
    sheet.write_row(0, 0, ["kpi", "value"])
    sheet.write_row(1, 0, ["mrr", 1439745.0])
    book.close()
    return {"pdf": pdf, "xlsx": xlsx}


@pytest.fixture
def ledger(tmp_path) -> DeliveryLedger:
    return DeliveryLedger(make_engine(f"sqlite:///{tmp_path / 'app.db'}"))


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def server(handler):
    with smtp_server(handler) as controller:
        yield controller


class Sleeps(list):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _outgoing(ledger, report, base, files, targets, *, cc=(), max_bytes=10_000_000):
    rows = ledger.plan(report.report_key, report.period_key, "email", targets)
    return [_finalize(row, base, files, cc=cc, max_bytes=max_bytes) for row in rows]


def _finalize(row, base, files, *, cc=(), max_bytes=10_000_000):
    final = finalize_message(
        base,
        to=row.target,
        cc=list(cc),
        message_id=message_id_for(row, DOMAIN),
        list_unsubscribe_url=UNSUBSCRIBE,
        attachments=[files["pdf"], files["xlsx"]],
        max_attachment_bytes=max_bytes,
        link_base=LINK_BASE,
    )
    return row, final.message


def _send(server, ledger, messages, sleep=None, **kw):
    """Send prepared (row, message) pairs: each row's message is handed over when its turn
    comes, as the production builder does."""
    kw = {"retry_budget_s": 60, "max_attempts": 5, **kw}
    by_id = {row.id: msg for row, msg in messages}
    return send_via_smtp(
        [row for row, _ in messages],
        lambda row: by_id[row.id],
        host="127.0.0.1",
        port=server.port,
        security=kw.pop("security", "none"),
        username=kw.pop("username", None),
        password=kw.pop("password", None),
        timeout=10,
        ledger=ledger,
        sleep=sleep if sleep is not None else Sleeps(),
        **kw,
    )


def _parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    rich = msg.get_body(("html",))
    return plain.get_content(), rich.get_content()


# -- delivery ----------------------------------------------------------------------------------


def test_each_recipient_gets_one_complete_message(server, handler, ledger, report, base, files):
    messages = _outgoing(ledger, report, base, files, [A, B])
    summary = _send(server, ledger, messages)

    assert sorted(summary.sent) == sorted(row.id for row, _ in messages)
    for row, _ in messages:
        got = handler.received_by(row.target)
        assert len(got) == 1
        assert got[0].rcpt_tos == [row.target]
        msg = got[0].message
        assert msg.get_content_type() == "multipart/mixed"
        related, *attachments = msg.iter_parts()
        assert related.get_content_type() == "multipart/related"
        assert [(p.get_content_type(), p.get_filename()) for p in attachments] == [
            ("application/pdf", files["pdf"].name),
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                files["xlsx"].name,
            ),
        ]
        assert attachments[0].get_content() == files["pdf"].read_bytes()
        assert attachments[1].get_content() == files["xlsx"].read_bytes()
        assert all(p.get_content_disposition() == "attachment" for p in attachments)

        # headers: one primary recipient, deterministic Message-ID, automation and unsubscribe
        expected_id = message_id(report.report_key, report.period_key, row.target, DOMAIN)
        assert msg["To"] == row.target
        assert msg["Message-ID"] == expected_id
        assert re.fullmatch(r"<[0-9a-f]{32}@reports\.northwind\.example>", expected_id)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Date"] and msg["Subject"] and msg["From"] == SENDER

        # the inline charts still resolve inside the mixed message
        alternative, *images = related.iter_parts()
        html = alternative.get_body(("html",)).get_content()
        referenced = set(re.findall(r'src="cid:([^"]+)"', html))
        assert referenced and referenced == {p["Content-ID"].strip("<>") for p in images}
        assert all(p.get_content_type() == "image/png" for p in images)

        current = ledger.get(row.id)
        assert current.status == "sent" and current.attempts == 1
        assert current.message_id == expected_id and current.sent_at is not None
        assert "250" in current.provider_response

    # the Message-ID is the same when the message is built again; the base is untouched
    row, again = _finalize(messages[0][0], base, files)
    assert again["Message-ID"] == messages[0][1]["Message-ID"]
    assert base["Message-ID"] is None and base.get_content_type() == "multipart/related"


def test_rerun_sends_nothing_and_resend_is_recorded(server, handler, ledger, report, base, files):
    messages = _outgoing(ledger, report, base, files, [A, B])
    _send(server, ledger, messages)
    assert len(handler.messages) == 2

    again = _send(server, ledger, _outgoing(ledger, report, base, files, [A, B]))
    assert len(handler.messages) == 2  # nothing sent twice
    assert sorted(again.skipped) == sorted(r.id for r, _ in messages) and not again.sent
    assert ledger.pending_targets(report.report_key, report.period_key, "email", [A, B]) == []

    original = messages[0][0]
    (resend,) = ledger.request_resend(
        report.report_key, report.period_key, "email", [A], who="ops@northwind.example"
    )
    assert (resend.status, resend.generation, resend.resend_of) == ("pending", 1, original.id)
    assert resend.requested_by == "ops@northwind.example" and resend.is_resend
    # asking twice before it went out queues nothing more
    (same,) = ledger.request_resend(report.report_key, report.period_key, "email", [A], "ops")
    assert same.id == resend.id

    summary = _send(server, ledger, _outgoing(ledger, report, base, files, [A, B]))
    assert summary.sent == [resend.id] and summary.skipped == [messages[1][0].id]
    got = handler.received_by(A)
    assert len(got) == 2 and len(handler.received_by(B)) == 1
    assert got[1].message["Message-ID"] != got[0].message["Message-ID"]
    assert got[1].message["Message-ID"].endswith(f".resend1@{DOMAIN}>")
    history = ledger.history(report.report_key, report.period_key, "email", [A])
    assert [(r.generation, r.status, r.resend_of) for r in history] == [
        (0, "sent", None),
        (1, "sent", original.id),
    ]


@pytest.mark.parametrize(
    "reply",
    ["451 4.3.0 Local error, try later", "452 4.2.2 Over quota", "421 4.7.0 Try again later"],
)
def test_transient_reply_is_retried_with_backoff(
    server, handler, ledger, report, base, files, reply
):
    handler.rcpt_script[B] = [reply, reply]
    sleeps = Sleeps()
    summary = _send(server, ledger, _outgoing(ledger, report, base, files, [A, B]), sleeps)

    assert len(summary.sent) == 2
    assert len(handler.received_by(A)) == 1 and len(handler.received_by(B)) == 1
    assert handler.rcpt_attempts(B) == 3
    (row_b,) = ledger.current(report.report_key, report.period_key, "email", [B])
    assert (row_b.status, row_b.attempts, row_b.last_error) == ("sent", 3, None)
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)
    assert sleeps[1] >= 1.0  # second wait drawn from [1, 2) s: exponential, with jitter


@pytest.mark.parametrize("reply", ["550 5.1.1 No such user", "553 5.1.3 Bad mailbox name"])
def test_permanent_refusal_is_not_retried(server, handler, ledger, report, base, files, reply):
    handler.rcpt_permanent[B] = reply
    sleeps = Sleeps()
    summary = _send(server, ledger, _outgoing(ledger, report, base, files, [A, B, C]), sleeps)

    rows = {
        r.target: r
        for r in ledger.current(report.report_key, report.period_key, "email", [A, B, C])
    }
    assert summary.failed_permanent == [rows[B].id] and len(summary.sent) == 2
    assert (rows[B].status, rows[B].attempts) == ("failed_permanent", 1)
    assert reply.split()[0] in rows[B].last_error
    assert handler.rcpt_attempts(B) == 1 and not sleeps
    assert len(handler.received_by(A)) == 1 and len(handler.received_by(C)) == 1
    assert handler.received_by(B) == []
    assert ledger.pending_targets(report.report_key, report.period_key, "email") == []

    # a re-run does not try again
    _send(server, ledger, _outgoing(ledger, report, base, files, [A, B, C]))
    assert handler.rcpt_attempts(B) == 1 and len(handler.messages) == 2
    assert ledger.success_rate() == pytest.approx(2 / 3)
    assert ledger.success_rate(since=datetime.now(UTC) - timedelta(hours=1)) == pytest.approx(2 / 3)
    assert ledger.success_rate(since=datetime.now(UTC) + timedelta(hours=1)) is None


def test_transient_failure_beyond_budget_stays_pending(
    server, handler, ledger, report, base, files
):
    handler.rcpt_script[B] = ["451 4.3.0 busy"] * 10
    sleeps = Sleeps()
    summary = _send(
        server, ledger, _outgoing(ledger, report, base, files, [A, B]), sleeps, retry_budget_s=3
    )
    (row_b,) = ledger.current(report.report_key, report.period_key, "email", [B])
    assert summary.pending == [row_b.id] and row_b.status == "pending"
    assert "451" in row_b.last_error and sum(sleeps) <= 3
    assert ledger.pending_targets(report.report_key, report.period_key, "email") == [B]
    assert ledger.success_rate() == 1.0  # pending rows are neither success nor failure

    handler.rcpt_script[B] = []
    _send(server, ledger, _outgoing(ledger, report, base, files, [A, B]))
    assert len(handler.received_by(B)) == 1 and len(handler.received_by(A)) == 1
    assert ledger.get(row_b.id).status == "sent"


def test_connection_dropped_after_the_content_is_in_doubt_and_never_replayed(
    server, handler, ledger, report, base, files
):
    # The server takes B's whole message and drops the connection instead of answering: we
    # cannot know whether it kept it. B stays in doubt, is not sent again, and the others go.
    handler.drop_data[B] = 1
    sleeps = Sleeps()
    messages = _outgoing(ledger, report, base, files, [A, B, C])
    summary = _send(server, ledger, messages, sleeps)
    row_a, row_b, row_c = (r for r, _ in messages)

    assert summary.sent == [row_a.id, row_c.id] and summary.unknown == [row_b.id]
    assert [len(handler.received_by(x)) for x in (A, B, C)] == [1, 0, 1]
    assert sum(1 for rcpts in handler.data_log if B in rcpts) == 1 and not sleeps
    b = ledger.get(row_b.id)
    assert (b.status, b.attempts) == ("unknown", 1)
    assert b.message_id == messages[1][1]["Message-ID"] and b.last_error.startswith("in doubt")
    assert [r.id for r in ledger.in_doubt(report.report_key)] == [row_b.id]

    again = _send(server, ledger, _outgoing(ledger, report, base, files, [A, B, C]))
    assert again.unknown == [row_b.id] and not again.sent
    assert sum(1 for rcpts in handler.data_log if B in rcpts) == 1  # never replayed

    # The relay's log has no such Message-ID: the operator resends, as a recorded generation.
    resend = resolve(ledger, row_b.id, "resend", "ops@northwind.example", "not in the relay log")
    assert (resend.generation, resend.resend_of, resend.status) == (1, row_b.id, "pending")
    assert ledger.in_doubt() == [] and ledger.get(row_b.id).status == "unknown"
    summary = _send(server, ledger, [_finalize(resend, base, files)])
    assert summary.sent == [resend.id]
    (got,) = handler.received_by(B)
    assert got.message["Message-ID"].endswith(f".resend1@{DOMAIN}>")
    with pytest.raises(ResolveError, match="not in doubt"):
        resolve(ledger, row_b.id, "delivered", "ops@northwind.example")


def test_a_row_in_doubt_can_be_settled_as_delivered(server, handler, ledger, report, base, files):
    messages = _outgoing(ledger, report, base, files, [A])
    (row,) = (r for r, _ in messages)
    assert ledger.claim(row.id, messages[0][1]["Message-ID"])
    assert not ledger.claim(row.id, messages[0][1]["Message-ID"])  # only one sender gets it
    summary = _send(server, ledger, messages)
    assert summary.unknown == [row.id] and handler.messages == []
    assert ledger.pending_targets(report.report_key, report.period_key, "email") == [A]
    with pytest.raises(ResolveError, match="who settles"):
        resolve(ledger, row.id, "delivered", " ")
    settled = resolve(ledger, row.id, "delivered", "ops@northwind.example", "relay log line 42")
    assert settled.id == row.id and settled.status == "sent"
    assert "marked delivered by ops@northwind.example: relay log line 42" in settled.last_error
    assert ledger.pending_targets(report.report_key, report.period_key, "email") == []
    assert _send(server, ledger, messages).skipped == [row.id] and handler.messages == []


def test_cc_recipients_are_judged_one_by_one(server, handler, ledger, report, base, files):
    handler.rcpt_script[C] = ["451 4.3.0 busy"]
    handler.rcpt_permanent["nobody@northwind.example"] = "550 5.1.1 No such user"
    messages = _outgoing(ledger, report, base, files, [A], cc=[C, "nobody@northwind.example"])
    summary = _send(server, ledger, messages)

    assert summary.sent == [messages[0][0].id]
    assert len(handler.received_by(A)) == 1 and len(handler.received_by(C)) == 1
    assert handler.received_by(A)[0].message["Cc"] == f"{C}, nobody@northwind.example"
    row = ledger.get(messages[0][0].id)
    assert row.status == "sent" and "nobody@northwind.example: 550" in row.last_error
    replies = json.loads(row.provider_response)["recipients"]
    assert {a: r["code"] for a, r in replies.items()} == {
        A: 250,
        C: 250,
        "nobody@northwind.example": 550,
    }


# -- a sender killed between recipients ------------------------------------------------------

_KILLED_SENDER = """
import email, email.policy, json, sys
from pathlib import Path
from reporting_assets.distribution.email import send_via_smtp
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.resources.app_db import make_engine

args = json.loads(sys.argv[1])
ledger = DeliveryLedger(make_engine(args["db"]))
files = dict(args["items"])
rows = [ledger.get(int(i)) for i in files]
send_via_smtp(rows, lambda row: email.message_from_bytes(Path(files[str(row.id)]).read_bytes(),
                                                         policy=email.policy.default),
              host="127.0.0.1", port=args["port"], security="none", username=None,
              password=None, timeout=60, ledger=ledger)
"""


def test_killed_sender_rerun_delivers_each_recipient_once(
    server, handler, ledger, report, base, files, tmp_path
):
    messages = _outgoing(ledger, report, base, files, [A, B, C])
    items = []
    for row, msg in messages:
        path = tmp_path / f"{row.id}.eml"
        path.write_bytes(msg.as_bytes())
        items.append((str(row.id), str(path)))
    script = tmp_path / "sender.py"
    script.write_text(textwrap.dedent(_KILLED_SENDER))
    handler.hang_data[B] = 30  # B's DATA hangs (once) until the sender is killed
    args = {"db": str(ledger.engine.url), "port": server.port, "items": items}
    proc = subprocess.Popen(
        [sys.executable, str(script), json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    row_a, row_b, row_c = (r for r, _ in messages)
    try:
        deadline = time.monotonic() + 25
        while not (
            ledger.get(row_a.id).status == "sent" and ledger.get(row_b.id).status == "unknown"
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sender never reached the second recipient"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.communicate()

    assert [ledger.get(r.id).status for r in (row_a, row_b, row_c)] == [
        "sent",
        "unknown",
        "pending",
    ]
    assert [len(handler.received_by(x)) for x in (A, B, C)] == [1, 0, 0]

    # B's content had ended when the sender died: in doubt, reported, not replayed.
    summary = _send(server, ledger, messages)
    assert summary.skipped == [row_a.id] and summary.sent == [row_c.id]
    assert summary.unknown == [row_b.id]
    assert [len(handler.received_by(x)) for x in (A, B, C)] == [1, 0, 1]
    assert resolve(ledger, row_b.id, "resend", "ops@northwind.example").generation == 1
    (resend,) = ledger.current(report.report_key, report.period_key, "email", [B])
    assert _send(server, ledger, [_finalize(resend, base, files)]).sent == [resend.id]
    assert [len(handler.received_by(x)) for x in (A, B, C)] == [1, 1, 1]


# -- TLS and AUTH ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tls")
    cert, key = out / "cert.pem", out / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


@pytest.mark.parametrize("excluded", ["LOGIN", "PLAIN"])
def test_starttls_and_auth(handler, ledger, report, base, files, certificate, excluded):
    auth = Authenticator("reports", "s3cret")
    with smtp_server(
        handler,
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=auth,
        auth_require_tls=True,
        auth_exclude_mechanism=[excluded],
    ) as server:
        client = ssl.create_default_context(cafile=str(certificate[0]))
        summary = _send(
            server,
            ledger,
            _outgoing(ledger, report, base, files, [A, B]),
            security="starttls",
            username="reports",
            password="s3cret",
            ssl_context=client,
        )
    assert len(summary.sent) == 2
    assert all(m.tls and m.authenticated for m in handler.messages)
    assert auth.mechanisms == [{"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[excluded]]  # one session


def test_wrong_password_fails_every_row_for_good(handler, ledger, report, base, files, certificate):
    with smtp_server(
        handler,
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=Authenticator("reports", "s3cret"),
    ) as server:
        sleeps = Sleeps()
        summary = _send(
            server,
            ledger,
            _outgoing(ledger, report, base, files, [A, B]),
            sleeps,
            security="starttls",
            username="reports",
            password="wrong",
            ssl_context=ssl.create_default_context(cafile=str(certificate[0])),
        )
    assert len(summary.failed_permanent) == 2 and not sleeps and handler.messages == []
    rows = ledger.current(report.report_key, report.period_key, "email")
    assert all(r.status == "failed_permanent" and "535" in r.last_error for r in rows)
    assert ledger.success_rate() == 0.0


def test_implicit_tls(handler, ledger, report, base, files, certificate):
    with smtp_server(handler, ssl_context=_server_context(certificate)) as server:
        summary = _send(
            server,
            ledger,
            _outgoing(ledger, report, base, files, [A]),
            security="tls",
            ssl_context=ssl.create_default_context(cafile=str(certificate[0])),
        )
    assert len(summary.sent) == 1 and handler.messages[0].tls


def test_untrusted_certificate_is_a_configuration_error(
    handler, ledger, report, base, files, certificate
):
    with smtp_server(handler, tls_context=_server_context(certificate)) as server:
        messages = _outgoing(ledger, report, base, files, [A])
        with pytest.raises(SmtpConfigError):
            _send(server, ledger, messages, security="starttls")  # system trust store only
    row = ledger.get(messages[0][0].id)
    assert row.status == "pending" and "certificate" in row.last_error.lower()
    assert handler.messages == []


# -- attachments over the limit --------------------------------------------------------------


def test_attachment_over_the_limit_becomes_a_link(handler, server, ledger, report, base, files):
    pdf_size = encoded_size(files["pdf"].stat().st_size)
    assert encoded_size(files["xlsx"].stat().st_size) > 100  # a real workbook
    row = ledger.plan(report.report_key, report.period_key, "email", [A])[0]
    final = finalize_message(
        base,
        to=A,
        cc=[],
        message_id=message_id_for(row, DOMAIN),
        list_unsubscribe_url=UNSUBSCRIBE,
        attachments=[files["pdf"], files["xlsx"]],
        max_attachment_bytes=pdf_size + 100,
        link_base=LINK_BASE + "/",
    )
    assert final.attached == [files["pdf"]] and final.linked == [files["xlsx"]]

    _send(server, ledger, [(row, final.message)])
    (got,) = handler.received_by(A)
    msg = got.message
    assert [p.get_filename() for p in msg.iter_attachments()] == [files["pdf"].name]
    text, html = _parts(msg)
    url = f"{LINK_BASE}/{files['xlsx'].name}"
    assert "too large to attach" in text and url in text and files["xlsx"].name in text
    assert "too large" in html and f'href="{url}"' in html
    assert html.rstrip().lower().endswith("</html>")  # the note went inside the body


def test_encoded_size_matches_base64():
    import base64

    for n in (0, 1, 2, 3, 57, 58, 1000, 123_457):
        raw = base64.encodebytes(b"x" * n)  # 76-char lines
        assert encoded_size(n) == len(raw) + raw.count(b"\n")  # LF → CRLF on the wire


# -- outbox and ledger -------------------------------------------------------------------------


def _outbox(messages, outbox, ledger):
    by_id = {row.id: msg for row, msg in messages}
    return write_outbox([r for r, _ in messages], lambda r: by_id[r.id], outbox, ledger)


def test_outbox_writes_each_message_once(tmp_path, ledger, report, base, files):
    messages = _outgoing(ledger, report, base, files, [A, "Odd/Name@Northwind.example"])
    outbox = tmp_path / "outbox"
    summary = _outbox(messages, outbox, ledger)
    assert len(summary.sent) == 2
    paths = sorted(outbox.rglob("*.eml"))
    assert [p.relative_to(outbox).as_posix() for p in paths] == [
        "daily_executive/2026-11-26/ceo@northwind.example.eml",
        "daily_executive/2026-11-26/odd_name@northwind.example.eml",
    ]
    parsed = email.message_from_bytes(paths[0].read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == ledger.get(messages[0][0].id).message_id
    mtimes = [p.stat().st_mtime_ns for p in paths]

    again = _outbox(_outgoing(ledger, report, base, files, [A]), outbox, ledger)
    assert again.skipped == [messages[0][0].id] and not again.sent
    assert [p.stat().st_mtime_ns for p in sorted(outbox.rglob("*.eml"))] == mtimes
    assert not list(outbox.rglob("*.tmp"))

    (resend,) = ledger.request_resend(report.report_key, report.period_key, "email", [A], "ops")
    _outbox([_finalize(resend, base, files)], outbox, ledger)
    assert outbox_path(outbox, resend).name == "ceo@northwind.example.resend1.eml"
    assert outbox_path(outbox, resend).exists() and len(list(outbox.rglob("*.eml"))) == 3


def test_plan_is_idempotent_under_concurrency(ledger):
    targets = [f"user{i}@northwind.example" for i in range(20)]
    errors = []

    def plan():
        try:
            ledger.plan("daily_executive", "2026-11-26", "email", targets)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=plan) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = ledger.history("daily_executive", "2026-11-26", "email")
    assert sorted(r.target for r in rows) == sorted(targets)
    assert [r.target for r in ledger.plan("daily_executive", "2026-11-26", "email", targets)] == (
        targets
    )
    assert ledger.pending_targets("daily_executive", "2026-11-26", "email") == targets
    assert ledger.success_rate() is None


def test_each_reader_sees_their_own_address_and_the_short_stakeholder_list(
    server, handler, ledger, report, base, files
):
    # One ledger row per address, To and Cc alike; each copy names its reader in To (nobody sees
    # the other primary readers) and the short stakeholder list in Cc; its envelope is the
    # reader only, so the stakeholder on Cc gets one copy, not one per primary reader.
    readers = Audience(to=[A, B], cc=[C], cc_shown=[C], list_address={})
    ledger.plan(report.report_key, report.period_key, "email", readers.everyone)
    factory = MessageFactory(
        base, headers=readers.headers, domain=DOMAIN, list_unsubscribe_url=UNSUBSCRIBE,
        attachments=[files["pdf"]], max_attachment_bytes=10_000_000, link_base=LINK_BASE,
    )  # fmt: skip
    rows = ledger.open_rows(report.report_key, report.period_key, "email", batch=2)
    summary = send_via_smtp(rows, factory.build, host="127.0.0.1", port=server.port,
                            security="none", username=None, password=None, timeout=10,
                            ledger=ledger, envelope_to="target")  # fmt: skip
    assert len(summary.sent) == 3
    for address in (A, B, C):
        (got,) = handler.received_by(address)
        assert got.rcpt_tos == [address]
        assert got.message["To"] == address
        assert got.message["Cc"] == (None if address == C else C)
    ids = {h.message["Message-ID"] for h in handler.messages}
    assert len(ids) == 3 and ledger.success_rate() == 1.0

    # a list with its own address shows that address; a long stakeholder list is not shown
    team = Audience([A], [B, C], cc_shown=[], list_address={A: "exec@northwind.example"})
    assert team.headers(A) == ("exec@northwind.example", []) and team.headers(B) == (B, [])
