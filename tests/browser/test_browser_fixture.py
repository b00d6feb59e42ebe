"""The browser fixture itself: a page runs, and its errors are recorded."""

from __future__ import annotations

from browserproc import Chromium


async def test_a_page_runs_and_its_errors_are_recorded(browser: Chromium) -> None:
    watched = await browser.new_page()
    await watched.page.set_content(
        "<script>console.error('boom'); undefinedCall()</script><p>ok</p>"
    )
    assert await watched.page.text_content("p") == "ok"
    errors = watched.page_errors()
    assert any("boom" in e for e in errors) and any("undefinedCall" in e for e in errors)
