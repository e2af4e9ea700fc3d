"""The web app: Starlette routes over plain page data, server-rendered with Jinja2, with a
Server-Sent Events stream of each reader's notifications.

Routes: `/healthz`; `/signin/{token}` (GET shows "continue as …", POST starts the session and
opens `?next=`); `/signout`; the reader's pages (`reading`: Today, `/events`, notifications, the
report archive and web views, feedback, usage, acknowledgements, alerts); review in the browser
(`reviewing`). A reader sees only the reports on whose lists they are.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from reporting_assets.config.models import Settings
from reporting_assets.lib.links import SignInError, safe_next, web_secret
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.web.hooks import hook_routes
from reporting_assets.web.reading import reading_routes
from reporting_assets.web.reviewing import review_routes
from reporting_assets.web.site import Site, checked_form


def create_app(settings: Settings, app_db: AppDatabase) -> Starlette:
    """The app for this deployment's settings and app database."""
    site = Site(settings, app_db)

    async def healthz(request: Request) -> Response:
        with site.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    async def signin(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        if not site.signins.allow(client):
            return site.message(request, 429, "Sign in", "Too many sign-in attempts from "
                                "here: wait a minute and open the link again.")  # fmt: skip
        try:
            address = site.links.address(request.path_params["token"])
        except SignInError as exc:
            return site.message(request, 400, "Sign in", f"Sorry, {exc}.")
        then = safe_next(request.query_params.get("next"))
        if request.method == "GET":  # only the reader's own click below starts a session
            if site.reader(request) == address:
                return RedirectResponse(then, 303)
            request.session["csrf"] = nonce = secrets.token_urlsafe(16)
            return site.page("signin.html.j2", address=address, csrf=nonce,
                             person=settings.person(address))  # fmt: skip
        if await checked_form(request) is None:
            return site.message(request, 403, "Sign in", "Open the link from your email again "
                                "and continue from its page.")  # fmt: skip
        request.session.clear()
        request.session["reader"] = address
        request.session["csrf"] = secrets.token_urlsafe(16)  # a new one for the signed-in forms
        return RedirectResponse(then, 303)

    async def signout(request: Request) -> Response:
        if await checked_form(request) is None:
            return site.message(request, 403, "Sign out", "Sign out from the page's own button.")
        request.session.clear()
        return site.message(request, 200, "Signed out", "You are signed out. Open a report "
                            "link from your email to sign in again.")  # fmt: skip

    https = settings.web.base_url.startswith("https://")
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/signin/{token}", signin, methods=["GET", "POST"]),
            Route("/signout", signout, methods=["POST"]),
            *reading_routes(site),
            *review_routes(site),
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
