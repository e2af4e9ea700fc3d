"""The feed, reviews, acknowledgements and ledger on PostgreSQL (production's app database):
per-user read state, idempotent publishing, audited review decisions, decision speed."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from reporting_assets.records.acks import AckError, acknowledge, decision_speed
from reporting_assets.records.feed import Feed
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.records.reviews import ReviewBook, ReviewError, artifact_hash
from reporting_assets.resources.app_db import make_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_database):
    return make_engine(pg_database)


def test_feed_read_state_is_per_user(engine, tmp_path):
    feed = Feed(engine)
    readers = ["CEO@northwind.example", "cfo@northwind.example"]
    first, new = feed.publish("weekly_summary", "Week 10", "MRR up 2%", dedupe_key="w:10",
                              audience=readers)  # fmt: skip
    assert new and feed.publish("weekly_summary", "Week 10", "x", dedupe_key="w:10") == (
        first, False)  # fmt: skip
    everyone, _ = feed.publish("monthly_report", "March", "ready", dedupe_key="m:3")
    assert [n.id for n in feed.for_user("ceo@northwind.example")] == [everyone, first]
    assert [n.id for n in feed.for_user("coo@northwind.example")] == [everyone]
    assert feed.mark_read("ceo@northwind.example") == 2
    assert feed.mark_read("ceo@northwind.example") == 0
    assert feed.unread_count("ceo@northwind.example") == 0
    assert feed.unread_count("cfo@northwind.example") == 2
    private, _ = feed.publish("review_rejected", "x", "y", dedupe_key="r:1",
                              audience=["a.b@northwind.example"])  # fmt: skip
    assert private not in [n.id for n in feed.for_user("a_b@northwind.example")]  # no wildcard
    unread = {
        u: feed.export(tmp_path / f"{u}.json", u)["unread"]
        for u in ("a.b@northwind.example", "ceo@northwind.example", "cfo@northwind.example")
    }
    assert unread == {"a.b@northwind.example": 2, "ceo@northwind.example": 0,
                      "cfo@northwind.example": 2}  # fmt: skip
    doc = json.loads((tmp_path / "ceo@northwind.example.json").read_text())
    assert next(n for n in doc["notifications"] if n["id"] == first)["read"] is True


def test_review_decisions_are_audited_and_tied_to_the_artifacts(engine, tmp_path):
    version = tmp_path / "v1"
    version.mkdir()
    (version / "manifest.json").write_text('[{"file": "a.pdf", "sha256": "00"}]')
    book = ReviewBook(engine)
    review, new = book.open("monthly_board_report", "2026-03-01", version, [])
    assert new and book.open("monthly_board_report", "2026-03-01", version, [])[1] is False
    with pytest.raises(ReviewError, match="current version"):
        book.approve(review.id, "chair@northwind.example", "ok", "f" * 64)
    with pytest.raises(ReviewError, match="needs a comment"):
        book.reject(review.id, "chair@northwind.example", " ", artifact_hash(version))
    done = book.approve(review.id, "chair@northwind.example", "ok", artifact_hash(version))
    assert done.status == "approved" and done.decided_by == "chair@northwind.example"
    with pytest.raises(ReviewError, match="approved, not open"):
        book.reject(review.id, "someone", "late", artifact_hash(version))
    assert [e["action"] for e in book.events(review.id)] == ["opened", "approved"]
    assert book.approved_for("monthly_board_report", "2026-03-01", artifact_hash(version))


def test_decision_speed_from_delivery_to_first_acknowledgement(engine):
    ledger = DeliveryLedger(engine)
    [row] = ledger.plan("daily_executive", "2026-03-12", "email", ["ceo@northwind.example"])
    ledger.mark_sent(row.id, "<id@x>", "250 OK")
    sent_at = ledger.get(row.id).sent_at
    with pytest.raises(AckError, match="never delivered"):
        acknowledge(engine, "report", "daily_executive", "2026-03-13", "ceo@northwind.example")
    acknowledge(engine, "report", "daily_executive", "2026-03-12", "cfo@northwind.example",
                "approve the dunning budget", at=sent_at + timedelta(hours=3))  # fmt: skip
    acknowledge(engine, "report", "daily_executive", "2026-03-12", "ceo@northwind.example",
                at=sent_at + timedelta(hours=5))  # fmt: skip
    speed = decision_speed(engine, since=datetime.now(UTC) - timedelta(days=1))
    assert speed["acknowledged"] == 1  # the first acknowledgement counts
    assert speed["median_hours"] == pytest.approx(3.0, abs=1e-6)


def test_one_delivery_run_at_a_time(engine):
    import time
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from reporting_assets.records.leases import DeliveryBusy, LeaseLost, delivery_leases

    ledger = DeliveryLedger(engine)
    fast = timedelta(seconds=1)
    with ledger.lease("daily_executive", "2026-03-12", "email", "run A", stale_after=fast):
        time.sleep(1.6)  # longer than the stale limit: the heartbeat keeps the lease alive
        with (pytest.raises(DeliveryBusy, match="run A"),
              ledger.lease("daily_executive", "2026-03-12", "email", "run B",
                           stale_after=fast)):  # fmt: skip
            pass
        with ledger.lease("daily_executive", "2026-03-12", "slack", "run B"):
            pass  # another channel is another lease
    with ledger.lease("daily_executive", "2026-03-12", "email", "run B"):
        pass  # released

    # A run that died holding the lease: taken over once its heartbeat is stale, and named.
    with engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(minutes=2)
        conn.execute(delivery_leases.insert().values(
            report="daily_executive", period="2026-03-13", channel="email", holder="run dead",
            run_id="dead-run-id", acquired_at=old, heartbeat_at=old))  # fmt: skip
    dead = []
    with (ledger.lease("daily_executive", "2026-03-13", "email", "run C", run_id="c",
                       on_takeover=dead.append),
          engine.connect() as conn):  # fmt: skip
        assert conn.execute(sa.select(delivery_leases.c.holder)).scalars().all() == ["run C"]
    assert [d["run_id"] for d in dead] == ["dead-run-id"]

    # A run that stalled (no heartbeat) and was taken over learns it and stops sending.
    with ledger.lease("daily_executive", "2026-03-14", "email", "run D", stale_after=fast) as d:
        d._stop.set()  # its heartbeat stops, as in a process frozen by the OS
        d._thread.join()
        time.sleep(1.2)
        with ledger.lease("daily_executive", "2026-03-14", "email", "run E", stale_after=fast):
            assert not d.beat()
            with pytest.raises(LeaseLost, match="took the delivery over"):
                d.check()
        with engine.connect() as conn:
            assert conn.execute(sa.select(delivery_leases.c.holder)).scalars().all() == []
