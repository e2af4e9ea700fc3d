"""The reader's pages: Today, the live stream, notifications, the report archive and a report's
web view with its files and charts, feedback and first-party usage, and acknowledging a report
or an alert. Each handler is thin: the data comes from `pages` and the records modules."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from reporting_assets.lib.links import alert_path, report_path
from reporting_assets.records.acks import AckError, acknowledge
from reporting_assets.records.feed import Feed
from reporting_assets.records.measurements import record_stream_latency
from reporting_assets.records.usage import FeedbackError, record_feedback, record_usage
from reporting_assets.web import pages
from reporting_assets.web.site import Site, signed_in

# How often the live stream looks for new notifications (the seed's goal: on screen in < 2 s).
POLL_S = 0.5


def _number(text, kind=int):
    try:
        return kind(text) if text not in (None, "") else None
    except ValueError:
        return None


def reading_routes(site: Site) -> list[Route]:
    settings = site.settings
    reader_only = signed_in(site)

    @reader_only
    async def home(request: Request, user: str) -> Response:
        feed = Feed(site.engine)
        notes = feed.for_user(user, limit=20)
        today = pages.today(settings, site.store, site.engine, user)
        return site.page("today.html.j2", request, today=today, notes=notes,
                         sparks={k["key"]: pages.sparkline(k.get("series") or [])
                                 for k in today.kpis},
                         last_id=max((n.id for n in notes), default=0),
                         unread=feed.unread_count(user))  # fmt: skip

    @reader_only
    async def events(request: Request, user: str) -> Response:
        feed = Feed(site.engine)
        start = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        after = int(start) if start.isdigit() else 0

        opened = datetime.now(UTC)

        async def stream():
            nonlocal after
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                for n in await run_in_threadpool(feed.after, user, after):
                    after = n.id
                    data = json.dumps({"id": n.id, "kind": n.kind, "severity": n.severity,
                                       "title": n.title, "url": f"/notifications/{n.id}",
                                       "created_at": n.created_at})  # fmt: skip
                    yield f"id: {n.id}\nevent: notification\ndata: {data}\n\n"
                    # How long it took to reach this page (a replay of what it missed is not
                    # measured: the page was not open then).
                    await run_in_threadpool(record_stream_latency, site.engine, user, n.id,
                                            datetime.now(UTC), not_before=opened)  # fmt: skip
                await asyncio.sleep(POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    @reader_only
    async def open_notification(request: Request, user: str) -> Response:
        """Mark one notification read and go where it points (a report, an alert)."""
        wanted = _number(request.path_params["id"])
        feed = Feed(site.engine)
        note = feed.one(user, wanted) if wanted is not None else None
        if note is None:
            return site.message(request, 404, "Not found", "There is no such notification "
                                "for you.")  # fmt: skip
        feed.mark_read(user, [note.id])
        target = urlsplit(note.url or "/")
        path = target.path or "/"
        return RedirectResponse(path + (f"?{target.query}" if target.query else ""), 303)

    @reader_only
    async def read_all(request: Request, user: str) -> Response:
        Feed(site.engine).mark_read(user)
        return RedirectResponse("/#notifications", 303)

    @reader_only
    async def archive(request: Request, user: str) -> Response:
        return site.page("archive.html.j2", request,
                         reports=pages.archive(settings, site.store, user))  # fmt: skip

    def version_of(request: Request, user: str):
        key, period = request.path_params["report"], request.path_params["period"]
        if key not in pages.visible_reports(settings, user):
            return None
        return pages.version_dir(site.store, key, period, request.query_params.get("version"))

    def not_found(request: Request) -> Response:
        return site.message(request, 404, "Not found", "There is no such report for you.")

    @reader_only
    async def report_page(request: Request, user: str) -> Response:
        version = version_of(request, user)
        if version is None:
            return not_found(request)
        key, period = request.path_params["report"], request.path_params["period"]
        record_usage(site.engine, user, "view", report=key, period=period)
        others = pages.period_versions(site.store, key, period)
        return site.page("report.html.j2", request, r=pages.content(version),
                         files=pages.report_files(version), version=version.name,
                         versions=others, base=report_path(key, period), key=key,
                         period=period, thanks=request.query_params.get("thanks"),
                         problem=request.query_params.get("problem"))  # fmt: skip

    @reader_only
    async def report_file(request: Request, user: str) -> Response:
        version = version_of(request, user)
        name = request.path_params["file"]
        if version is None or name not in {f["file"] for f in pages.report_files(version)}:
            return not_found(request)
        record_usage(site.engine, user, "download", report=request.path_params["report"],
                     period=request.path_params["period"], file=name)  # fmt: skip
        return FileResponse(version / name, filename=name)

    @reader_only
    async def chart(request: Request, user: str) -> Response:
        version = version_of(request, user)
        path = pages.chart_file(version, request.path_params["name"]) if version else None
        if path is None:
            return not_found(request)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    @reader_only
    async def feedback(request: Request, user: str) -> Response:
        if version_of(request, user) is None:
            return not_found(request)
        form = await request.form()
        key, period = request.path_params["report"], request.path_params["period"]
        section = str(form.get("section") or "") or None
        useful = {"yes": True, "no": False}.get(str(form.get("useful") or ""))
        anchor = f"#feedback-{section or 'report'}"
        try:
            record_feedback(site.engine, user, key, period, section=section,
                            rating=_number(form.get("rating")), useful=useful,
                            comment=str(form.get("comment") or ""))  # fmt: skip
        except FeedbackError as exc:
            return site.message(request, 400, "Feedback not saved", str(exc))
        return RedirectResponse(f"{report_path(key, period)}?thanks={section or 'report'}"
                                f"{anchor}", 303)  # fmt: skip

    @reader_only
    async def usage(request: Request, user: str) -> Response:
        """A usage event a signed-in page sends (a section opened, time on the report)."""
        form = await request.form()
        key = str(form.get("report") or "")
        if key not in pages.visible_reports(settings, user):
            return Response(status_code=404)
        try:
            record_usage(site.engine, user, str(form.get("kind") or ""), report=key,
                         period=str(form.get("period") or "") or None,
                         section=str(form.get("section") or "") or None,
                         seconds=_number(form.get("seconds"), float))  # fmt: skip
        except FeedbackError as exc:
            return Response(str(exc), status_code=400)
        return Response(status_code=204)

    @reader_only
    async def acknowledge_report(request: Request, user: str) -> Response:
        if version_of(request, user) is None:
            return not_found(request)
        key, period = request.path_params["report"], request.path_params["period"]
        form = await request.form()
        try:
            acknowledge(site.engine, "report", key, period, user, str(form.get("decision") or ""))
        except AckError as exc:
            return RedirectResponse(
                f"{report_path(key, period)}?{urlencode({'problem': str(exc)})}#ack", 303
            )
        return RedirectResponse(f"{report_path(key, period)}?thanks=ack#ack", 303)

    def alert_for(request: Request, user: str):
        rule, day = request.path_params["rule"], request.path_params["day"]
        if user.lower() not in pages.alert_audience(settings, rule):
            return None
        return pages.alert_view(settings, site.engine, rule, day)

    @reader_only
    async def alert_page(request: Request, user: str) -> Response:
        alert = alert_for(request, user)
        if alert is None:
            return site.message(request, 404, "Not found", "There is no such alert for you.")
        mine = any(a["address"] == user.lower() for a in alert["acks"])
        return site.page("alert.html.j2", request, a=alert, acknowledged=mine,
                         problem=request.query_params.get("problem"))  # fmt: skip

    @reader_only
    async def acknowledge_alert(request: Request, user: str) -> Response:
        alert = alert_for(request, user)
        if alert is None:
            return site.message(request, 404, "Not found", "There is no such alert for you.")
        form = await request.form()
        path = alert_path(alert["rule"], alert["day"])
        try:
            acknowledge(site.engine, "alert", alert["rule"], alert["day"], user,
                        str(form.get("decision") or ""))  # fmt: skip
        except AckError as exc:
            return RedirectResponse(f"{path}?{urlencode({'problem': str(exc)})}", 303)
        return RedirectResponse(path, 303)

    return [
        Route("/", home),
        Route("/events", events),
        Route("/notifications/read", read_all, methods=["POST"]),
        Route("/notifications/{id}", open_notification),
        Route("/reports", archive),
        Route("/usage", usage, methods=["POST"]),
        Route("/reports/{report}/{period}", report_page),
        Route("/reports/{report}/{period}/feedback", feedback, methods=["POST"]),
        Route("/reports/{report}/{period}/ack", acknowledge_report, methods=["POST"]),
        Route("/reports/{report}/{period}/charts/{name}", chart),
        Route("/reports/{report}/{period}/{file}", report_file),
        Route("/alerts/{rule}/{day}", alert_page),
        Route("/alerts/{rule}/{day}/ack", acknowledge_alert, methods=["POST"]),
    ]
