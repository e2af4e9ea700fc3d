"""Who is reading: the session a signed link started, or the trusted header of a company SSO
proxy. (The links themselves are made in `reporting_assets.lib.links`, since report emails carry
them.)"""

from __future__ import annotations

from starlette.requests import Request

from reporting_assets.config.models import Settings


def reader(request: Request, settings: Settings) -> str | None:
    """The signed-in reader's address: the SSO proxy's header when the request comes from a
    trusted proxy, else the session's; None for nobody."""
    web = settings.web
    if web.sso_header and request.client and request.client.host in web.sso_proxies:
        named = request.headers.get(web.sso_header, "").strip().lower()
        if named:
            return named
    return request.session.get("reader")
