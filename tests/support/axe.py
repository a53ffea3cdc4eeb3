"""axe-core (Deque) in a Playwright page: the vendored copy (tests/support/vendor/axe-core) is
injected into the page and run on the whole document.

The page must have been opened in a browser context made with `bypass_csp=True`: a page that sends
a strict Content-Security-Policy (`default-src 'none'`, as the participant pages do) refuses any
script it did not list, an injected one included. Bypassing it in the test's own browser is the
usual way to audit such a page without weakening what it sends to real browsers.
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const result = await axe.run(document);
  return {
    passed: result.passes.length,
    violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
    })),
  };
}"""


async def violations(page) -> list[dict]:
    """axe's violations on the page as it is now: id, impact, help, and up to five offending nodes."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(_RUN)
    assert result["passed"] > 0, "axe checked nothing: did the page load?"
    return result["violations"]


async def assert_accessible(page, what: str = "") -> list[dict]:
    """No violation of impact serious or critical; returns all of them (moderate and minor too)."""
    found = await violations(page)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, f"axe found {len(blocking)} serious or critical violations on {what or page.url}: {blocking}"
    return found
