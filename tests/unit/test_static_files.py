"""Package web files over HTTP: types, validators, gzip, and names that are refused."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from earlgate.server.http import HttpRequest
from earlgate.server.static import StaticFiles


def get(name: str, **headers: str) -> HttpRequest:
    return HttpRequest("GET", "/" + name, {k.replace("_", "-"): v for k, v in headers.items()}, b"")


@pytest.fixture
def files(tmp_path: Path) -> StaticFiles:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "index.html").write_text("<!doctype html><p>" + "x" * 600)
    (tmp_path / "client.js").write_text("export const a = 1;\n" * 40)
    (tmp_path / "tiny.js").write_text("1")
    (tmp_path / "secret.txt").write_text("not served")
    return StaticFiles(("client.js", "tiny.js", "pages/"), root=tmp_path)


def test_scripts_and_pages_have_their_type_and_cache_policy(files: StaticFiles) -> None:
    js = files.respond(get("client.js"), "client.js")
    page = files.respond(get("pages/index.html"), "pages/index.html")
    assert js is not None and page is not None
    assert js.status == 200 and js.content_type == "text/javascript; charset=utf-8"
    assert dict(js.headers)["cache-control"] == "max-age=300"
    assert page.content_type == "text/html; charset=utf-8"
    assert dict(page.headers)["cache-control"] == "no-cache"
    assert dict(js.headers)["x-content-type-options"] == "nosniff"


def test_gzip_only_when_asked_and_worth_it(files: StaticFiles) -> None:
    plain = files.respond(get("client.js"), "client.js")
    packed = files.respond(get("client.js", accept_encoding="br, gzip;q=0.8"), "client.js")
    refused = files.respond(get("client.js", accept_encoding="gzip;q=0"), "client.js")
    tiny = files.respond(get("tiny.js", accept_encoding="gzip"), "tiny.js")
    assert plain is not None and packed is not None and refused is not None and tiny is not None
    assert "content-encoding" not in dict(plain.headers)
    assert dict(packed.headers)["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body)
    assert "content-encoding" not in dict(refused.headers)
    assert "content-encoding" not in dict(tiny.headers) and tiny.body == b"1"
    assert dict(packed.headers)["etag"] != dict(plain.headers)["etag"]


def test_a_matching_validator_gets_304_without_a_body(files: StaticFiles) -> None:
    first = files.respond(get("client.js"), "client.js")
    assert first is not None
    etag = dict(first.headers)["etag"]
    again = files.respond(get("client.js", if_none_match=f'"other", W/{etag}'), "client.js")
    assert again is not None and again.status == 304 and again.body == b""
    stale = files.respond(get("client.js", if_none_match='"other"'), "client.js")
    assert stale is not None and stale.status == 200


@pytest.mark.parametrize(
    "name",
    [
        "secret.txt",
        "../client.js",
        "pages/../secret.txt",
        ".hidden",
        "pages/",
        "pages//index.html",
        "missing.js",
        "pages/missing.html",
        "client.js/",
        "client.js\x00",
        "pages/index.html?x",
    ],
)
def test_names_outside_the_allowed_set_are_not_served(files: StaticFiles, name: str) -> None:
    assert files.respond(get(name), name) is None


def test_a_directory_name_answers_with_its_index_page(files: StaticFiles) -> None:
    page = files.respond(get("pages"), "pages")
    assert page is not None and page.status == 200
    assert page.body.startswith(b"<!doctype html>")
    assert files.respond(get("client"), "client") is None


def test_refused_names_do_not_grow_the_cache_without_bound(files: StaticFiles) -> None:
    for n in range(5000):
        files.lookup(f"pages/missing-{n}.html")
    assert len(files._cache) <= 1024
