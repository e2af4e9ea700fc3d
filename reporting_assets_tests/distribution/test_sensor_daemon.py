"""Under a real Dagster daemon: a critical breach landing in the data is announced within 30 s,
once, with nobody running anything but the daemon."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from reporting_assets_tests.conftest import manifest_dates, private_home

REPO = Path(__file__).parents[2]


def _critical_notices(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT report, period FROM notifications WHERE kind = "
                                "'critical_alert' AND report = 'payment_failures_high'"
                                ).fetchall()  # fmt: skip
        except sqlite3.OperationalError:  # the table is not created yet
            return []


def test_daemon_announces_a_critical_breach_within_30_seconds(demo_company, demo_history, tmp_path):
    from datetime import date, timedelta

    spike = date.fromisoformat(manifest_dates(demo_company)["payment_failure_spike"])
    home, env = private_home(demo_company, tmp_path, with_history=True)

    def materialize(day: date) -> None:
        subprocess.run([sys.executable, "-m", "reporting_assets.cli", "materialize",
                        "daily_metrics_job", "--partition", day.isoformat()],
                       env=env, cwd=home, check=True, capture_output=True)  # fmt: skip

    materialize(spike - timedelta(days=1))  # the day before: nothing critical
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
        env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    db = home / "var/data/app.db"
    try:
        time.sleep(20)  # the daemon starts and its sensors tick on the day before
        assert daemon.poll() is None, daemon.stdout.read()
        assert _critical_notices(db) == []
        materialize(spike)  # the breach lands
        landed = time.monotonic()
        while not _critical_notices(db) and time.monotonic() - landed < 60:
            time.sleep(0.5)
        latency = time.monotonic() - landed
        assert _critical_notices(db) == [("payment_failures_high", spike.isoformat())]
        print(f"critical alert announced {latency:.1f} s after the data landed")
        assert latency <= 30, f"announced {latency:.1f} s after the data landed"
        time.sleep(20)  # more ticks: still announced once
        assert len(_critical_notices(db)) == 1
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
