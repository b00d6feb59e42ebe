"""Files that ship inside the package, served over HTTP: the browser client and the pages.

Nothing is fetched at run time and nothing is built: every file under
``earlgate/web`` is read once, kept in memory with its gzip form and a
content hash, and answered with an ``ETag`` (so a reload costs a 304),
``Vary: Accept-Encoding`` and a ``Cache-Control`` that makes pages revalidate
on every load (``no-cache``) while scripts and styles may be reused for
``max_age`` seconds. Only names under the prefixes a server allows are
served, and a name may not climb out of its directory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from earlgate.server.http import HttpRequest, HttpResponse

__all__ = ["StaticFile", "StaticFiles"]

WEB_PACKAGE = "earlgate.web"
# Letters, digits, "-", "_", "." and "/" only: no "..", no hidden files.
_SAFE_NAME = re.compile(r"^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
# Below this size gzip saves less than its header costs.
_GZIP_FROM = 256


@dataclass(frozen=True)
class StaticFile:
    """One file's bytes, its gzip form (when smaller) and its validator."""

    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str
    cache_control: str


def _content_type(name: str) -> str:
    dot = name.rfind(".")
    suffix = name[dot:] if dot >= 0 else ""
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _accepts_gzip(headers: dict[str, str]) -> bool:
    for part in headers.get("accept-encoding", "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class StaticFiles:
    """The package's web files under a set of allowed prefixes.

    Args:
        allowed: names or directory prefixes (ending in "/") this server
            answers, relative to ``earlgate/web``.
        max_age: seconds a browser may reuse a script or style without asking.
        root: the directory to serve from (tests point it elsewhere).
    """

    def __init__(
        self,
        allowed: tuple[str, ...],
        *,
        max_age: int = 300,
        root: Traversable | None = None,
    ) -> None:
        self.allowed = allowed
        self.max_age = max_age
        self.root = root if root is not None else resources.files(WEB_PACKAGE)
        self._cache: dict[str, StaticFile | None] = {}

    def lookup(self, name: str) -> StaticFile | None:
        """The file at ``name`` (no leading "/"), or None when it is not served."""
        if name in self._cache:
            return self._cache[name]
        found = self._load(name)
        if len(self._cache) < 1024:  # names are checked, but never let requests grow it
            self._cache[name] = found
        return found

    def _load(self, name: str) -> StaticFile | None:
        if not _SAFE_NAME.match(name) or not self._is_allowed(name):
            return None
        node = self.root
        for part in name.split("/"):
            node = node.joinpath(part)
        if not node.is_file():
            return None
        body = node.read_bytes()
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(body) >= _GZIP_FROM and len(packed) < len(body) else None
        content_type = _content_type(name)
        cache = "no-cache" if content_type.startswith("text/html") else f"max-age={self.max_age}"
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return StaticFile(body, gzipped, etag, content_type, cache)

    def _is_allowed(self, name: str) -> bool:
        return any(
            name.startswith(prefix) if prefix.endswith("/") else name == prefix
            for prefix in self.allowed
        )

    def respond(self, request: HttpRequest, name: str) -> HttpResponse | None:
        """The response for ``name``, or None when it is not one of ours (a 404 is the caller's).

        A directory's name (``gateway``) answers with its ``index.html``, so a
        page's address has no file name in it; its scripts use absolute paths.
        """
        found = self.lookup(name)
        if found is None and name and "." not in name.rsplit("/", 1)[-1] and name[-1] != "/":
            found = self.lookup(name + "/index.html")
        if found is None:
            return None
        return self.response(request, found)

    @staticmethod
    def response(request: HttpRequest, found: StaticFile) -> HttpResponse:
        """``found`` as the answer to ``request``: 304, gzip or plain."""
        packed = found.gzipped is not None and _accepts_gzip(request.headers)
        etag = found.etag[:-1] + '-gz"' if packed else found.etag  # one validator per variant
        headers: list[tuple[str, str]] = [
            ("etag", etag),
            ("cache-control", found.cache_control),
            ("vary", "accept-encoding"),
            ("x-content-type-options", "nosniff"),
        ]
        wanted = [
            tag.strip().removeprefix("W/")
            for tag in request.headers.get("if-none-match", "").split(",")
        ]
        if "*" in wanted or etag in wanted:
            return HttpResponse(304, b"", found.content_type, tuple(headers))
        if packed:
            assert found.gzipped is not None
            headers.append(("content-encoding", "gzip"))
            return HttpResponse(200, found.gzipped, found.content_type, tuple(headers))
        return HttpResponse(200, found.body, found.content_type, tuple(headers))
