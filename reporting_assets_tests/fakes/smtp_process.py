"""A real SMTP server process (aiosmtpd) that misbehaves as a busy relay does, for fault
injection. It runs until terminated and appends every message it accepts to a JSON-lines log,
one line per (Message-ID, recipient), flushed at once, so a test can count what arrived while
the sender is being killed.

    python -m reporting_assets_tests.fakes.smtp_process SCRIPT.json

The script (JSON) says::

    {"port": 2525, "log": "/tmp/accepted.jsonl",
     "transient": {"a@x": 2},        # RCPT answered 451 that many times, then accepted
     "permanent": ["b@x"],           # RCPT answered 550, always
     "data_421_every": 37,           # every 37th message answered 421 (not kept) and closed
     "drop_after_data": {"c@x": 1}}  # content taken, connection dropped without an answer
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller

OK_RCPT = "250 2.1.5 OK"


class FaultyRelay:
    def __init__(self, script: dict):
        self.transient = {a.lower(): n for a, n in script.get("transient", {}).items()}
        self.permanent = {a.lower() for a in script.get("permanent", [])}
        self.every = int(script.get("data_421_every") or 0)
        self.drop = {a.lower(): n for a, n in script.get("drop_after_data", {}).items()}
        self.log = open(script["log"], "a", encoding="utf-8")  # noqa: SIM115 - for the process
        self.messages = 0  # DATA exchanges that reached their end

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in self.permanent:
            return "550 5.1.1 No such user"
        if self.transient.get(key):
            self.transient[key] -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return OK_RCPT

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        rcpts = [r.lower() for r in envelope.rcpt_tos]
        for r in rcpts:
            if self.drop.get(r):
                self.drop[r] -= 1
                server.transport.abort()  # no answer at all: the sender cannot know
                return "421 4.4.2 connection dropped"
        if self.every and self.messages % self.every == 0:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.7.0 Too busy, closing connection"
        headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        for r in envelope.rcpt_tos:
            line = {"message_id": headers["Message-ID"], "rcpt": r.lower()}
            self.log.write(json.dumps(line) + "\n")
        self.log.flush()
        return "250 2.0.0 OK queued"


def main() -> None:
    script = json.loads(Path(sys.argv[1]).read_text())
    controller = Controller(
        FaultyRelay(script), hostname="127.0.0.1", port=int(script["port"]), data_size_limit=0
    )
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    while not done.wait(0.2):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
