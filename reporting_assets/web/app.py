"""The web app: Starlette routes over `pages` and `auth`, server-rendered with Jinja2, and a
Server-Sent Events stream of each reader's notifications.

Routes: `/healthz`; `/signin/{token}` (GET shows "continue as …", POST starts the session);
`/signout`; `/` (Today); `/events` (the live stream; `Last-Event-ID` replays what a page
missed); `/reports/{report}/{period}` (a report's web view) and `…/{file}` (its PDF, workbook
and decks). A reader sees only the reports on whose lists they are.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from reporting_assets.config import resolve
from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import format_value
from reporting_assets.lib.templating import templates
from reporting_assets.records.feed import Feed
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore
from reporting_assets.web import pages
from reporting_assets.web.auth import Links, SignInError, reader, web_secret
from reporting_assets.web.hooks import hook_routes

TEMPLATES = templates(Path(__file__).with_name("templates"))
TEMPLATES.globals["fmt"] = format_value
# How often the live stream looks for new notifications (the seed's goal: on screen in < 2 s).
POLL_S = 0.5


def _page(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**context), status_code=status)


def create_app(settings: Settings, app_db: AppDatabase) -> Starlette:
    """The app for this deployment's settings and app database."""
    store = ArtifactStore(resolve(settings.storage.artifact_root))
    links = Links(web_secret(settings), settings.web.link_max_age_hours * 3600)
    engine = app_db.engine
    company = settings.branding.company_name

    def who(request: Request) -> str | None:
        return reader(request, settings)

    async def healthz(request: Request) -> Response:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    async def signin(request: Request) -> Response:
        try:
            address = links.address(request.path_params["token"])
        except SignInError as exc:
            return _page("message.html.j2", 400, company=company, title="Sign in",
                         message=str(exc))  # fmt: skip
        if request.method == "GET":  # only the reader's own click below starts a session
            request.session["csrf"] = nonce = secrets.token_urlsafe(16)
            return _page("signin.html.j2", company=company, address=address, csrf=nonce,
                         person=settings.person(address))  # fmt: skip
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), request.session.get("csrf", "")):
            return _page("message.html.j2", 403, company=company, title="Sign in",
                         message="Open the link from your email again and continue from its "
                         "page.")  # fmt: skip
        request.session.clear()
        request.session["reader"] = address
        request.session["csrf"] = secrets.token_urlsafe(16)  # for the signed-in forms
        return RedirectResponse("/", status_code=303)

    async def signout(request: Request) -> Response:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), request.session.get("csrf", "")):
            return _page("message.html.j2", 403, company=company, title="Sign out",
                         message="Sign out from the page's own button.")  # fmt: skip
        request.session.clear()
        return _page("message.html.j2", company=company, title="Signed out",
                     message="You are signed out. Open a report link from your email to sign "
                     "in again.")  # fmt: skip

    def need_reader(request: Request) -> str | Response:
        user = who(request)
        if user is None:
            return _page(
                "message.html.j2",
                401,
                company=company,
                title="Sign in",
                message="Open the link in one of your report emails to sign in.",
            )
        return user

    async def home(request: Request) -> Response:
        user = need_reader(request)
        if isinstance(user, Response):
            return user
        feed = Feed(engine)
        notes = feed.for_user(user, limit=20)
        return _page("today.html.j2", company=company, today=pages.today(settings, store,
                     engine, user), reader=settings.person(user), notes=notes,
                     last_id=max((n.id for n in notes), default=0),
                     unread=feed.unread_count(user),
                     csrf=request.session.get("csrf", ""))  # fmt: skip

    async def events(request: Request) -> Response:
        user = need_reader(request)
        if isinstance(user, Response):
            return user
        feed = Feed(engine)
        start = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        after = int(start) if start.isdigit() else 0

        async def stream():
            nonlocal after
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                for n in feed.after(user, after):
                    after = n.id
                    data = json.dumps({"id": n.id, "kind": n.kind, "severity": n.severity,
                                       "title": n.title, "url": n.url,
                                       "created_at": n.created_at})  # fmt: skip
                    yield f"id: {n.id}\nevent: notification\ndata: {data}\n\n"
                await asyncio.sleep(POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    def report_version(request: Request, user: str) -> Path | None:
        key, period = request.path_params["report"], request.path_params["period"]
        if key not in pages.visible_reports(settings, user):
            return None
        return store.latest(key, period)

    async def report_page(request: Request) -> Response:
        user = need_reader(request)
        if isinstance(user, Response):
            return user
        version = report_version(request, user)
        if version is None:
            return _page("message.html.j2", 404, company=company, title="Not found",
                         message="There is no such report for you.")  # fmt: skip
        return _page("report.html.j2", company=company, r=pages.content(version),
                     files=pages.report_files(version), version=version.name,
                     base=f"/reports/{request.path_params['report']}/"
                     f"{request.path_params['period']}")  # fmt: skip

    async def report_file(request: Request) -> Response:
        user = need_reader(request)
        if isinstance(user, Response):
            return user
        version = report_version(request, user)
        name = request.path_params["file"]
        if version is None or name not in {f["file"] for f in pages.report_files(version)}:
            return _page("message.html.j2", 404, company=company, title="Not found",
                         message="There is no such file for you.")  # fmt: skip
        return FileResponse(version / name, filename=name)

    https = settings.web.base_url.startswith("https://")
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/signin/{token}", signin, methods=["GET", "POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/", home),
            Route("/events", events),
            Route("/reports/{report}/{period}", report_page),
            Route("/reports/{report}/{period}/{file}", report_file),
            *hook_routes(settings, app_db),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=web_secret(settings),
                session_cookie="reporting",
                max_age=int(settings.web.session_max_age_hours * 3600),
                same_site="lax",
                https_only=https,
            )
        ],
    )
