"""Measure an HTML email as a phone shows it, in headless Chromium.

Headless Chromium will not open a window narrower than 500 px, so the page is loaded into an
iframe of the phone's width (a `srcdoc` frame, same-origin with its wrapper): its viewport, media
queries and layout are those of the phone. A script then reads what a reader would notice: how
wide the content is (anything wider than the screen scrolls sideways), the smallest font size
of any visible text, and each image's natural and displayed width.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"

_SCRIPT = """
window.addEventListener("load", () => {
  const d = document.getElementById("phone").contentDocument;
  const w = d.defaultView;
  let smallest = null;
  const walker = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el) continue;
    const style = w.getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.display === "none" || style.visibility === "hidden" || box.height === 0) continue;
    const size = parseFloat(style.fontSize);
    if (smallest === null || size < smallest.size) {
      smallest = {size, text: node.textContent.trim().slice(0, 40)};
    }
  }
  const images = [...d.images].map(i => ({alt: i.alt, width: i.getBoundingClientRect().width,
                                          natural: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify({content_width: d.documentElement.scrollWidth,
                                    viewport: w.innerWidth, smallest, images});
  document.body.appendChild(out);
});
"""


def measure(page: str, width: int, workdir: Path) -> dict:
    """{content_width, viewport, smallest: {size, text}, images: [{alt, width, natural}]}."""
    wrapper = (
        '<html><body style="margin:0">'
        f'<iframe id="phone" style="width:{width}px;height:6000px;border:0" '
        f'srcdoc="{html_lib.escape(page, quote=True)}"></iframe>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
    path = workdir / f"phone-{width}.html"
    path.write_text(wrapper, encoding="utf-8")
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={workdir / f'profile-{width}'}",
         "--window-size=1200,900", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="measure">([^<]*)</pre>', out)
    assert found, "the measuring script did not run"
    return json.loads(html_lib.unescape(found.group(1)))
