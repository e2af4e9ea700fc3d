"""Review in the browser: the open reviews a reader may see, one review's checklist item by
item with page and slide previews and the distribution list's changes, and the reviewer's
approve or reject with a comment (the same rules and audit as `reporting review`)."""

from __future__ import annotations

import io
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from reporting_assets.config.audience import data_team
from reporting_assets.distribution.reviews import decide_review
from reporting_assets.records.reviews import OPEN, Review, ReviewBook, ReviewError, reviewer
from reporting_assets.web.site import Site, signed_in

PREVIEW_SCALE = 0.9  # page previews at 65 dpi: readable as a thumbnail, ~60 KB a page


def may_see(site: Site, review: Review, user: str) -> bool:
    """The report's reviewers, its owner and the data team see its reviews."""
    cfg = site.settings.reports.get(review.report)
    if cfg is None:
        return False
    people = {a.lower() for a in [*cfg.reviewers, cfg.owner, *data_team(site.settings)]}
    return user.lower() in people


def may_decide(site: Site, review: Review, user: str) -> str | None:
    """None when `user` may approve or reject; else why not, in words."""
    try:
        reviewer(site.settings, review.report, user)
    except ReviewError as exc:
        return str(exc)
    return None


def slide_outlines(path: Path) -> list[dict]:
    """Each slide of a deck as a reviewer previews it: its title and its text, in order,
    without the footer every slide repeats."""
    slides = []
    for slide in Presentation(path).slides:
        texts = [s.text_frame.text.strip() for s in slide.shapes
                 if s.has_text_frame and s.text_frame.text.strip()]  # fmt: skip
        pictures = sum(1 for s in slide.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE)
        tables = sum(1 for s in slide.shapes if s.has_table)
        slides.append((texts, pictures, tables))
    # A text on most slides, page numbers aside, is the footer.
    seen = Counter(re.sub(r"\d+", "#", t) for texts, _, _ in slides for t in set(texts))
    footer = {t for t, n in seen.items() if n > len(slides) / 2}
    out = []
    for n, (texts, pictures, tables) in enumerate(slides, start=1):
        kept = [t for t in texts if re.sub(r"\d+", "#", t) not in footer]
        title = (" · ".join(kept[:2]) if n == 1 else kept[0]) if kept else "(no title)"
        out.append({"n": n, "title": title, "lines": kept[2:] if n == 1 else kept[1:],
                    "pictures": pictures, "tables": tables})  # fmt: skip
    return out


def page_count(pdf: Path) -> int:
    """How many pages the PDF has; 0 when it cannot be read (the review still shows the rest)."""
    import pypdfium2  # a native library: loaded on the first preview

    try:
        document = pypdfium2.PdfDocument(pdf)
    except pypdfium2.PdfiumError:
        return 0
    try:
        return len(document)
    finally:
        document.close()


@lru_cache(maxsize=64)
def page_png(pdf: Path, page: int, mtime: float) -> bytes | None:
    """Page `page` (1-based) of a PDF as a PNG; None past the last page. (`mtime` keys the
    cache: a re-rendered file is drawn again.)"""
    import pypdfium2  # a native library: loaded on the first preview

    document = pypdfium2.PdfDocument(pdf)
    try:
        if not 1 <= page <= len(document):
            return None
        image = document[page - 1].render(scale=PREVIEW_SCALE).to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()
    finally:
        document.close()


def review_routes(site: Site) -> list[Route]:
    settings = site.settings
    reader_only = signed_in(site)
    book = ReviewBook(site.engine)

    def review_of(request: Request, user: str) -> Review | None:
        number = request.path_params["id"]
        try:
            review = book.get(int(number))
        except (ReviewError, ValueError):
            return None
        return review if may_see(site, review, user) else None

    def not_found(request: Request) -> Response:
        return site.message(request, 404, "Not found", "There is no such review for you.")

    @reader_only
    async def review_list(request: Request, user: str) -> Response:
        mine = [r for r in book.list() if may_see(site, r, user)]
        waiting = [r for r in mine if r.status == OPEN]
        decided = [r for r in reversed(mine) if r.status != OPEN][:20]
        return site.page("reviews.html.j2", request, waiting=waiting, decided=decided,
                         titles={k: r.title for k, r in settings.reports.items()})  # fmt: skip

    @reader_only
    async def review_page(request: Request, user: str) -> Response:
        review = review_of(request, user)
        if review is None:
            return not_found(request)
        version = site.store.period_dir(review.report, review.period) / review.version
        pdf = next(iter(sorted(version.glob("*.pdf"))), None)
        pages = page_count(pdf) if pdf else 0
        decks = [{"file": p.name, "slides": slide_outlines(p)}
                 for p in sorted(version.glob("*.pptx"))]  # fmt: skip
        distribution = next((i for i in review.checklist
                             if i["item"] == "Distribution list verification"), None)  # fmt: skip
        return site.page("review.html.j2", request, review=review,
                         title=settings.reports[review.report].title, pages=pages, decks=decks,
                         distribution=distribution, history=book.events(review.id),
                         why_not=may_decide(site, review, user),
                         problem=request.query_params.get("problem"))  # fmt: skip

    @reader_only
    async def preview(request: Request, user: str) -> Response:
        review = review_of(request, user)
        if review is None:
            return not_found(request)
        version = site.store.period_dir(review.report, review.period) / review.version
        pdf = next(iter(sorted(version.glob("*.pdf"))), None)
        number = request.path_params["page"]
        png = await run_in_threadpool(page_png, pdf, number, pdf.stat().st_mtime) if pdf else None
        if png is None:
            return not_found(request)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip

    @reader_only
    async def decide(request: Request, user: str) -> Response:
        review = review_of(request, user)
        if review is None:
            return not_found(request)
        form = await request.form()
        action = str(form.get("action") or "")
        if action not in ("approve", "reject"):
            return site.message(request, 400, "Not decided", "Choose approve or reject.")
        try:
            await run_in_threadpool(decide_review, settings, site.engine, site.store, review.id,
                                    user, str(form.get("comment") or ""),
                                    approve=action == "approve")  # fmt: skip
        except ReviewError as exc:
            return site.message(request, 403, "Not decided", str(exc))
        return RedirectResponse(f"/reviews/{review.id}", 303)

    return [
        Route("/reviews", review_list),
        Route("/reviews/{id}", review_page),
        Route("/reviews/{id}", decide, methods=["POST"]),
        Route("/reviews/{id}/pages/{page:int}.png", preview),
    ]
