"""`POST /hooks/posthog`: PostHog's realtime "HTTP Webhook" destination delivers each billing
event here as it is ingested, and a critical breach of the day so far is announced at once
(`distribution.intraday`).

PostHog signs nothing, so the destination sends a shared secret in a header of its own
(config `intraday.header`; the secret is the environment variable `intraday.secret_env`, and
without it the endpoint is off). A delivery is answered as soon as the event is kept; the day
is judged just after the answer, so PostHog's timeout never waits on a mail relay. PostHog
retries a delivery answered with 4xx/5xx; a body that is not an event gets a 400 naming why.
"""

import os
import secrets

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reporting_assets.config.models import Settings
from reporting_assets.distribution.intraday import (
    HookBodyError,
    evaluate_quietly,
    parse_hook_body,
    receive_event,
)
from reporting_assets.resources.app_db import AppDatabase

MAX_BODY = 256 * 1024  # one event with its person: a few kB


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def hook_routes(settings: Settings, app_db: AppDatabase) -> list[Route]:
    """The web app's routes for pushed events: `POST /hooks/posthog`."""
    cfg = settings.intraday
    base_url = settings.web.base_url
    engine = app_db.engine

    async def posthog(request: Request) -> Response:
        secret = os.environ.get(cfg.secret_env, "")
        if not secret:
            return _error(
                404,
                f"the PostHog hook is off: set the environment variable "
                f"{cfg.secret_env} to the secret the destination sends in its "
                f"{cfg.header} header",
            )
        given = request.headers.get(cfg.header, "")
        if cfg.header.lower() == "authorization" and given[:7].lower() == "bearer ":
            given = given[7:]
        if not secrets.compare_digest(given.encode(), secret.encode()):
            return _error(401, f"missing or wrong {cfg.header} header")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return _error(
                413, f"the body is larger than {MAX_BODY // 1024} kB: one event per request"
            )
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(413, f"the body is larger than {MAX_BODY // 1024} kB")
        try:
            event = parse_hook_body(raw)
        except HookBodyError as exc:
            return _error(400, str(exc))
        day, new = await run_in_threadpool(receive_event, settings, engine, event)
        # Judged even for a retried delivery: the first may have been kept and then lost.
        return JSONResponse(
            {
                "uuid": event.uuid,
                "event": event.event,
                "day": day.isoformat(),
                "stored": "new" if new else "already stored",
            },
            background=BackgroundTask(evaluate_quietly, settings, engine, day, base_url),
        )

    return [Route("/hooks/posthog", posthog, methods=["POST"])]
