"""Fault injection on the real delivery path: the daily report to 1,000 readers through a relay
process that refuses, drops and closes, with the sending run (`reporting materialize`, a real
Dagster run on its instance) killed with SIGKILL twice at random points. Counted at the relay:
nobody gets the report twice, nobody deliverable goes without it, every refusal and every send
in doubt is recorded, and the dead runs are marked failed. Then the delivery step's memory is
measured with 10 and with 1,000 readers: it must not grow with the list."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.resources.app_db import make_engine
from reporting_assets_tests.distribution import big_list
from reporting_assets_tests.distribution.big_list import DAY, REPORT

pytestmark = pytest.mark.integration

N = 1000
STALE_S = 2.0
CLI = [sys.executable, "-c", "from reporting_assets.cli import main; main()"]


def _ledger(env: dict) -> DeliveryLedger:
    """The ledger the runs write (the deployment's SQLite app database)."""
    path = Path(env["REPORTING_HOME"]) / "var/data/app.db"
    assert path.exists(), "the delivery runs keep their ledger elsewhere"
    return DeliveryLedger(make_engine(f"sqlite:///{path}"))


def _deliver(env: dict) -> subprocess.Popen:
    args = [*CLI, "materialize", f"{REPORT}_delivery_job", "--partition", DAY]
    return subprocess.Popen(
        args,
        env=env,
        cwd=big_list.REPO,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_after(proc: subprocess.Popen, log: Path, accepted: int, timeout: float = 240) -> int:
    """SIGKILL the sending run (its whole process group) once the relay has accepted
    `accepted` messages; returns how many it had when the kill landed."""
    deadline = time.monotonic() + timeout
    while len(big_list.accepted(log)) < accepted:
        assert proc.poll() is None, f"the run ended before the kill: {proc.communicate()[0]}"
        assert time.monotonic() < deadline, "the relay never got that far"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(big_list.accepted(log))


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, cwd=big_list.REPO, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def crashed_delivery(tmp_path_factory):
    """Two killed runs, then runs until nothing is pending; what the relay and ledger hold."""
    tmp = tmp_path_factory.mktemp("faults")
    everyone = big_list.readers(N)
    rng = random.Random(int(os.environ.get("FAULT_SEED", time.time_ns() % 100_000)))
    shuffled = rng.sample(everyone, N)
    transient, permanent, dropped = shuffled[:200], shuffled[200:250], shuffled[250:253]
    script = {"transient": {a: 2 for a in transient}, "permanent": permanent,
              "data_421_every": 37, "drop_after_data": {a: 1 for a in dropped}}  # fmt: skip
    with big_list.relay(tmp, **script) as (port, log):
        env = big_list.home(tmp, everyone, port, stale_after_s=STALE_S)
        first_kill, second_kill = rng.randint(100, 350), rng.randint(450, 700)
        kills = []
        for at in (first_kill, second_kill):
            kills.append(_kill_after(_deliver(env), log, at))
            time.sleep(STALE_S + 0.5)  # the dead run's lease goes stale
        outputs = []
        for _ in range(6):  # re-run until nothing is pending (refusals outlast a run's budget)
            proc = _deliver(env)
            outputs.append(proc.communicate(timeout=600)[0])
            if _ledger(env).tally(REPORT, DAY, "email")["pending"] == 0:
                break
        in_doubt = _ledger(env).in_doubt(REPORT, DAY)
        listed = _cli(env, "in-doubt", "--report", REPORT)
        # The operator's resolution: what the relay's log shows arrived is marked delivered,
        # the rest is resent as a recorded generation, then delivered by one more run.
        arrived = set(big_list.accepted(log))
        resolved = []
        for row in in_doubt:
            action = "delivered" if (row.message_id, row.target) in arrived else "resend"
            done = _cli(env, "resolve", str(row.id), action, "--by", big_list.DATA_TEAM,
                        "--note", "checked the relay log")  # fmt: skip
            assert done.returncode == 0, done.stderr
            resolved.append((row, action))
        final = _deliver(env)
        outputs.append(final.communicate(timeout=600)[0])
        yield {"env": env, "log": log, "kills": kills, "permanent": set(permanent),
               "dropped": set(dropped), "in_doubt": in_doubt, "listed": listed.stdout,
               "resolved": resolved, "outputs": outputs, "everyone": everyone}  # fmt: skip


def _reports(crashed) -> list[tuple[str, str]]:
    """(Message-ID, recipient) of the report emails the relay accepted (not notices)."""
    readers = set(crashed["everyone"])
    return [(m, r) for m, r in big_list.accepted(crashed["log"]) if r in readers]


def test_nobody_gets_the_report_twice(crashed_delivery):
    got = _reports(crashed_delivery)
    assert [k for k, n in Counter(got).items() if n > 1] == []  # by (Message-ID, recipient)
    per_reader = Counter(r for _, r in got)
    assert [r for r, n in per_reader.items() if n > 1] == []  # nor a second copy by resend


def test_every_deliverable_reader_has_it_and_every_refusal_is_recorded(crashed_delivery):
    c = crashed_delivery
    received = {r for _, r in _reports(c)}
    deliverable = set(c["everyone"]) - c["permanent"]
    missing = sorted(deliverable - received)
    rows = {r.target: r for r in _ledger(c["env"]).history(REPORT, DAY, "email", missing)}
    assert missing == [], (rows, c["outputs"], c["resolved"], c["kills"])
    assert received & c["permanent"] == set()
    ledger = _ledger(c["env"])
    rows = {r.target: r for r in ledger.current(REPORT, DAY, "email")}
    refused = {t for t, r in rows.items() if r.status == "failed_permanent"}
    assert refused == c["permanent"]
    assert all("550" in rows[t].last_error for t in refused)
    assert {t for t, r in rows.items() if r.status == "sent"} == deliverable
    assert ledger.tally(REPORT, DAY, "email")["pending"] == 0 and ledger.in_doubt() == []


def test_every_send_in_doubt_is_recorded_reported_and_settled_by_the_operator(crashed_delivery):
    c = crashed_delivery
    doubtful = {r.target for r in c["in_doubt"]}
    # The relay dropped these after taking their content: in doubt, never replayed silently.
    assert c["dropped"] <= doubtful
    for row in c["in_doubt"]:
        assert row.message_id and f"#{row.id} " in c["listed"]
    # The data team was told, with the commands that settle each one.
    engine = _ledger(c["env"]).engine
    with engine.connect() as conn:
        query = sa.text("SELECT body FROM notifications WHERE kind = 'delivery_in_doubt'")
        bodies = conn.execute(query).scalars().all()
    told = "\n".join(bodies)
    for row in c["in_doubt"]:
        assert f"reporting resolve {row.id} resend" in told
    notices = [r for m, r in big_list.accepted(c["log"]) if r == big_list.DATA_TEAM]
    assert notices, "the in-doubt notice reached the data team's mailbox"
    # Resent ones went out as a new, recorded generation with its own Message-ID.
    got = dict((r, m) for m, r in _reports(c))
    for row, action in c["resolved"]:
        if action == "resend":
            assert got[row.target].endswith(".resend1@northwind.example>")
        else:
            assert got[row.target] == row.message_id


def test_the_killed_runs_are_marked_failed_and_the_lease_taken_over(crashed_delivery):
    c = crashed_delivery
    with dg.DagsterInstance.from_config(c["env"]["DAGSTER_HOME"]) as instance:
        runs = sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(
            r.run_id).create_timestamp)  # fmt: skip
        statuses = [r.status for r in runs]
        killed = runs[:2]
        assert [r.status for r in killed] == [dg.DagsterRunStatus.FAILURE] * 2, statuses
        for run in killed:
            failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "died" in failure[-1].message
        assert runs[-1].status == dg.DagsterRunStatus.SUCCESS
    assert 0 < c["kills"][0] < c["kills"][1] < N  # both kills landed in the middle of the list


def test_delivery_memory_stays_flat_from_10_to_1000_readers(tmp_path):
    small = big_list.measure(tmp_path / "small", 10)
    big = big_list.measure(tmp_path / "big", N)
    for figures, n in ((small, 10), (big, N)):
        assert figures["sent"] == n and figures["accepted"] == n
    grew_mb = (big["peak_kb"] - small["peak_kb"]) / 1024
    # Every message of the big list together is ~200 MB; the step holds one at a time.
    assert grew_mb < 25, (small, big)
