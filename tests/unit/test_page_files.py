"""Every file a page needs is one its server serves: sheets, scripts and each module they import.

The pages load ``/common/base.css`` before their own sheet and import
``common/`` modules from theirs; a prefix missing from a server's allowed
list would leave a page unstyled or its scripts dead. This walks each page's
``<link href>``, ``<script src>`` and the ES module graph under it, against
the same :class:`StaticFiles` the hub and the signaling server use.
"""

from __future__ import annotations

import posixpath
import re

import pytest

from earlgate.hub.server import HUB_WEB_FILES
from earlgate.server.static import StaticFiles
from earlgate.signal.http import WEB_FILES

# <link href="/x"> and <script src="/x">: the page's absolute references.
_PAGE_REFS = re.compile(r"""<(?:link|script)\b[^>]*?\b(?:href|src)="(/[^"]+)\"""")
# import ... from "./x.js", export ... from "../x.js", import "./x.js", import("./x.js")
_MODULE_REFS = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+\.m?js)["']""")


def needed_by(files: StaticFiles, page: str) -> dict[str, str]:
    """Each file ``page`` (``gateway/index.html``) loads, directly or through imports: who asks."""
    found = files.lookup(page)
    assert found is not None, f"{page} is not served"
    wanted = {ref.lstrip("/"): page for ref in _PAGE_REFS.findall(found.body.decode())}
    todo = [name for name in wanted if name.endswith((".js", ".mjs"))]
    while todo:
        module = todo.pop()
        served = files.lookup(module)
        if served is None:
            continue  # reported below with the rest
        for ref in _MODULE_REFS.findall(served.body.decode()):
            if ref.startswith("/"):
                name = ref.lstrip("/")
            elif ref.startswith("."):
                name = posixpath.normpath(posixpath.join(posixpath.dirname(module), ref))
            else:
                continue  # a bare specifier: not a file of ours
            if name not in wanted:
                wanted[name] = module
                todo.append(name)
    return wanted


@pytest.mark.parametrize(
    ("allowed", "pages"),
    [
        (HUB_WEB_FILES, ["dashboard/index.html", "devices/index.html"]),
        (WEB_FILES, ["gateway/index.html", "arm/index.html"]),
    ],
    ids=["hub", "signal"],
)
def test_each_page_gets_every_file_it_loads(allowed: tuple[str, ...], pages: list[str]) -> None:
    files = StaticFiles(allowed)
    for page in pages:
        wanted = needed_by(files, page)
        assert "common/base.css" in wanted, f"{page} does not link the shared sheet"
        missing = {name: by for name, by in wanted.items() if files.lookup(name) is None}
        assert not missing, f"{page}: not served (file: asked by) {missing}"


def test_a_prefix_left_out_is_caught() -> None:
    files = StaticFiles(tuple(p for p in HUB_WEB_FILES if p != "common/"))
    wanted = needed_by(files, "dashboard/index.html")
    missing = sorted(name for name in wanted if files.lookup(name) is None)
    assert "common/base.css" in missing and "common/canvas.js" in missing
