"""What every page handler shares: the deployment's settings, app database and artifact store;
who the reader is; the page templates; the form guard (CSRF) and the sign-in rate limit."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from reporting_assets.config import resolve
from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import format_value
from reporting_assets.lib.links import Links
from reporting_assets.lib.templating import templates
from reporting_assets.resources.app_db import AppDatabase, as_utc
from reporting_assets.resources.artifacts import ArtifactStore
from reporting_assets.web.auth import reader

TEMPLATES = templates(Path(__file__).with_name("templates"))
TEMPLATES.globals["fmt"] = format_value
TEMPLATES.globals["status_words"] = {"green": "On track", "amber": "Watch", "red": "Off track"}


def local_time(moment: str | datetime, tz: str) -> str:
    """A stored UTC time as the reader's reports show time: "Mon 30 Nov, 5:42 pm EST"."""
    local = as_utc(moment).astimezone(ZoneInfo(tz))
    clock = f"{local:%I:%M}".lstrip("0") + (" am" if local.hour < 12 else " pm")
    return f"{local:%a} {local.day} {local:%b}, {clock} {local.tzname()}"


TEMPLATES.filters["local"] = local_time


class RateLimit:
    """At most `per_minute` requests per key (a client address) in any minute."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        recent = self.seen[key]
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True


@dataclass
class Site:
    """One deployment's web app state, built once by `create_app`."""

    settings: Settings
    app_db: AppDatabase
    store: ArtifactStore = field(init=False)
    links: Links = field(init=False)
    signins: RateLimit = field(init=False)

    def __post_init__(self):
        self.store = ArtifactStore(resolve(self.settings.storage.artifact_root))
        self.links = Links.of(self.settings)
        self.signins = RateLimit(self.settings.web.signin_attempts_per_minute)

    @property
    def engine(self) -> sa.Engine:
        return self.app_db.engine

    def reader(self, request: Request) -> str | None:
        return reader(request, self.settings)

    def page(self, name: str, request: Request | None = None, status: int = 200,
             **context) -> HTMLResponse:  # fmt: skip
        """Render a page; with `request`, the signed-in reader and the form token come along."""
        if request is not None:
            user = self.reader(request)
            context.setdefault("reader", self.settings.person(user) if user else None)
            context.setdefault("csrf", csrf_token(request))
        context.setdefault("reader", None)
        context.setdefault("tz", self.settings.calendar.report_timezone)
        context.setdefault("company", self.settings.branding.company_name)
        return HTMLResponse(TEMPLATES.get_template(name).render(**context), status_code=status)

    def message(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return self.page("message.html.j2", request, status, title=title, message=message)


def csrf_token(request: Request) -> str:
    """The session's form token (made on first use): every form posts it back."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(16)
    return token


async def checked_form(request: Request) -> FormData | None:
    """The posted form when it carries the session's token; None for a forged post."""
    form = await request.form()
    expected = request.session.get("csrf", "")
    if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
        return None
    return form


Handler = Callable[[Request, str], Awaitable[Response]]


def signed_in(site: Site) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler that needs a reader: it gets the reader's address; nobody gets a 401 page
    saying how to sign in; a POST without the session's form token gets a 403."""

    def wrap(handler: Handler):
        @wraps(handler)
        async def route(request: Request) -> Response:
            user = site.reader(request)
            if user is None:
                return site.message(request, 401, "Sign in", "Open the link in one of your "
                                    "report emails to sign in.")  # fmt: skip
            if request.method == "POST" and await checked_form(request) is None:
                return site.message(request, 403, "Not sent", "This form is out of date: "
                                    "reload the page and send it again.")  # fmt: skip
            return await handler(request, user)

        return route

    return wrap
