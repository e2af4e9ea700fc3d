"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records every message and can be scripted.

Per recipient address (case-insensitive) it can:

* answer RCPT with scripted replies first (``rcpt_script[addr] = ["451 4.3.0 busy"] * 2``), then OK;
* refuse RCPT for good (``rcpt_permanent[addr] = "550 5.1.1 no such user"``);
* drop the connection once the message data has arrived but before the 250
  (``drop_data[addr] = 1``: that many times);
* hang in DATA (``hang_data[addr] = seconds``, once), e.g. while a test kills the sender.

Only messages answered 250 are recorded in `messages`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

OK_RCPT = "250 2.1.5 OK"
OK_DATA = "250 2.0.0 OK queued"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class ScriptedHandler:
    rcpt_script: dict[str, list[str]] = field(default_factory=dict)
    rcpt_permanent: dict[str, str] = field(default_factory=dict)
    drop_data: dict[str, int] = field(default_factory=dict)
    hang_data: dict[str, float] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    rcpt_log: list[tuple[str, str]] = field(default_factory=list)  # (address, reply)
    data_log: list[list[str]] = field(default_factory=list)  # recipients of every DATA begun

    def received_by(self, address: str) -> list[Received]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def rcpt_attempts(self, address: str) -> int:
        return sum(1 for a, _ in self.rcpt_log if a.lower() == address.lower())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in self.rcpt_permanent:
            reply = self.rcpt_permanent[key]
        elif self.rcpt_script.get(key):
            reply = self.rcpt_script[key].pop(0)
        else:
            envelope.rcpt_tos.append(address)
            reply = OK_RCPT
        self.rcpt_log.append((address, reply))
        return reply

    async def handle_DATA(self, server, session, envelope):
        rcpts = [r.lower() for r in envelope.rcpt_tos]
        self.data_log.append(list(envelope.rcpt_tos))
        for r in rcpts:
            if r in self.hang_data:
                await asyncio.sleep(self.hang_data.pop(r))  # cancelled if the client goes away
            if self.drop_data.get(r):
                self.drop_data[r] -= 1
                server.transport.abort()  # no reply at all: the client cannot know the outcome
                return "421 4.4.2 connection dropped"
        self.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                tls=server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return OK_DATA


class Authenticator:
    """Accepts one user and password; remembers the mechanisms used."""

    def __init__(self, username: str, password: str):
        self.username, self.password = username.encode(), password.encode()
        self.mechanisms: list[str] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.mechanisms.append(mechanism)
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.username,
            self.password,
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(handler: ScriptedHandler, **smtp_kwargs) -> Iterator[Controller]:
    """Run `handler` behind aiosmtpd on 127.0.0.1 (a free port: ``controller.port``)."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
