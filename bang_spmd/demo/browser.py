"""Driving the demo page from a real headless browser: Playwright with the machine's own Chromium (Debian's
`chromium` package; Playwright's own browser builds are never downloaded).

`find_chromium()` is `BANG_CHROMIUM` when set, else the first of `CHROMIUM_NAMES` on the PATH. `submit_and_read(page,
text)` types `text` into the page, presses Decode and returns what the page shows: the message and, per mode, the
output and the time. `capture_page(url, text, path)` does that in a fresh browser and saves a full-page PNG
(`bang-demo --screenshot`, `examples/scripts/demo_screenshot.py`); the browser test drives the page the same way.
"""

import os
import shutil
from pathlib import Path


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The number of the page's latest answer (`bang_spmd.demo.app.results_html`), null before the first.
RUN_NUMBER = "() => document.querySelector('#demo-results [data-run]')?.getAttribute('data-run') ?? null"
PLAYWRIGHT_HINT = "pip install playwright (the browser itself is the system's Chromium: apt-get install chromium)"


def find_chromium() -> str | None:
    """The Chromium executable to drive: `BANG_CHROMIUM` (None when that is no file), else the first of
    `CHROMIUM_NAMES` on the PATH."""
    if os.environ.get("BANG_CHROMIUM"):
        named = os.environ["BANG_CHROMIUM"]
        return named if Path(named).is_file() else None
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def require_playwright():
    """`playwright.sync_api`; an ImportError naming how to install it when it is missing."""
    try:
        from playwright import sync_api
    except ImportError as error:
        raise ImportError(f"Driving a browser needs Playwright, which is not installed: {PLAYWRIGHT_HINT}") from error
    return sync_api


def launch_browser(playwright, executable: str | None = None):
    """A headless Chromium of the system (`find_chromium`); a ValueError when there is none."""
    executable = executable or find_chromium()
    if not executable or not Path(executable).exists():
        raise ValueError(
            f"No Chromium found (set BANG_CHROMIUM or install it: apt-get install chromium); {executable}"
        )
    return playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])


def read_results(page) -> dict:
    """What the page shows now: `message` (text of `#demo-message`) and `modes` {key: {label, output, ms}}."""
    rows = page.locator("#demo-results tr[data-mode]")
    modes = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        modes[row.get_attribute("data-mode")] = {
            "label": row.locator("td.demo-mode").inner_text(),
            "output": row.locator("td.demo-output").inner_text(),
            "ms": float(row.locator("td.demo-ms").get_attribute("data-ms")),
        }
    return {"message": page.locator("#demo-message").inner_text(), "modes": modes}


def submit_and_read(page, text: str, timeout_ms: float = 60_000) -> dict:
    """Types `text` into the input, presses Decode and waits until the page shows its answer (the results area's
    `data-run` number changes: every answer, results or a message, has a new one); returns `read_results`."""
    previous = page.evaluate(RUN_NUMBER)
    page.locator("#demo-input textarea").fill(text)
    page.locator("#demo-decode").click()
    page.wait_for_function(f"previous => ({RUN_NUMBER})() !== previous", arg=previous, timeout=timeout_ms)
    return read_results(page)


def capture_page(
    url: str, text: str, path: str | Path, executable: str | None = None, width: int = 1280, height: int = 900
) -> dict:
    """Opens `url` in a headless Chromium, submits `text`, saves a full-page PNG to `path` and returns
    `read_results` (a ValueError when no mode answered)."""
    sync_api = require_playwright()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright, executable)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, wait_until="networkidle")
            shown = submit_and_read(page, text)
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
    if not shown["modes"]:
        raise ValueError(f"The page at {url} showed no result for {text!r}: {shown['message']}")
    return shown


__all__ = ["CHROMIUM_NAMES", "capture_page", "find_chromium", "launch_browser", "read_results", "submit_and_read"]
