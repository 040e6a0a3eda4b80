"""The demo page in a real headless browser: `bang-demo` started on a free local port with a tiny random model, driven
by Playwright in the machine's Chromium (Debian's `chromium` package, `.ci/install`; Playwright's own browser builds
are never downloaded).

The test submits inputs as a person would (an example clicked, an empty text, an over-long text, a typed text) and
checks that every mode's output and time appear, the lossless mode equal to AR greedy, the bar chart with one bar per
mode, the model card's numbers and the messages. A screenshot of the page is saved in the test's tmp folder and, when
`BANG_DEMO_SCREENSHOT` is set, copied there (the random model's outputs are nonsense: it shows the layout, not the
model). It skips with a message when gradio, Playwright or Chromium is missing.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .helpers import REPO_ROOT, free_port
from .test_demo import CARD_EXAMPLES, MAX_NEW_TOKENS, MODE_KEYS, write_demo_model


def _missing() -> str | None:
    if importlib.util.find_spec("gradio") is None:
        return "gradio is not installed: pip install 'bang-spmd[demo]'"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install playwright"
    from bang_spmd.demo.browser import find_chromium

    if find_chromium() is None:
        return "no Chromium on this machine (apt-get install chromium, or set BANG_CHROMIUM)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"browser test skipped: {_missing()}")


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bang-demo exited with {process.returncode}: {process.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"bang-demo did not serve {url} within {timeout} s")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    """`bang-demo` (the program, as `python -m bang_spmd.cli.demo`) serving a tiny model on a free port."""
    model_dir = write_demo_model(tmp_path_factory.mktemp("browser-model"))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "bang_spmd.cli.demo", "--model", str(model_dir), "--port", str(port)]
    command += ["--max_new_tokens", str(MAX_NEW_TOKENS), "--device", "cpu"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_page(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def save_screenshot(page, tmp_path: Path) -> Path:
    path = tmp_path / "bang-demo.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("BANG_DEMO_SCREENSHOT"):
        target = Path(os.environ["BANG_DEMO_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return path


def check_every_mode(shown: dict) -> None:
    assert list(shown["modes"]) == MODE_KEYS, shown
    assert all(isinstance(row["output"], str) and row["ms"] > 0 for row in shown["modes"].values()), shown
    assert shown["modes"]["semi_nar_verify_k2"]["output"] == shown["modes"]["ar_greedy"]["output"]


def test_the_page_decodes_in_every_mode_and_shows_messages_in_a_real_browser(page_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from bang_spmd.demo.browser import launch_browser, read_results, submit_and_read

    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_url, wait_until="networkidle")
            assert "The model card's results" in page.locator("#demo-card").inner_text()
            assert "20.25" in page.locator("#demo-card").inner_text()
            assert read_results(page)["modes"] == {}

            page.get_by_text(CARD_EXAMPLES[0], exact=True).first.click()  # an example fills the input
            expect(page.locator("#demo-input textarea")).to_have_value(CARD_EXAMPLES[0])
            page.locator("#demo-decode").click()
            page.wait_for_selector("#demo-results tr[data-mode]", timeout=60_000)
            check_every_mode(read_results(page))

            empty = submit_and_read(page, "   ")
            assert empty["modes"] == {} and "The input is empty" in empty["message"]

            long = submit_and_read(page, "server library " * 100)
            assert "truncated to its first 64 tokens" in long["message"]
            check_every_mode(long)

            shown = submit_and_read(page, "graphical client tool")
            assert shown["message"] == ""
            check_every_mode(shown)
            for key, row in shown["modes"].items():  # what a person sees: the label, the output, "N.N ms"
                cells = page.locator(f'#demo-results tr[data-mode="{key}"] td').all_inner_texts()
                # data-ms has 3 decimals, the cell 1 (both rounded from the same time): equal to within 0.05 ms
                assert cells[0] == row["label"] and cells[2].endswith(" ms"), cells
                assert abs(float(cells[2].removesuffix(" ms")) - row["ms"]) <= 0.0501, cells
            page.wait_for_function(
                "n => document.querySelectorAll('#demo-chart svg [aria-roledescription=\"bar\"]').length === n",
                arg=len(MODE_KEYS),
                timeout=10_000,
            )
            assert "Traceback" not in page.content() and errors == []
            save_screenshot(page, tmp_path)
        finally:
            browser.close()


def test_bang_demo_screenshot_saves_the_page_with_an_answer(tmp_path):
    """In its own process: gradio's server threads keep writing to the streams of the process that started them,
    which in-process would be pytest's captured (and later closed) ones."""
    import subprocess
    import sys

    model_dir = write_demo_model(tmp_path / "model")
    png = tmp_path / "shot" / "demo.png"
    argv = ["--model", str(model_dir), "--max_new_tokens", str(MAX_NEW_TOKENS), "--port", str(free_port())]
    done = subprocess.run(
        [sys.executable, "-m", "bang_spmd.cli.demo", *argv, "--device", "cpu", "--screenshot", str(png)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    printed = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    assert [row[0] for row in printed] == MODE_KEYS and all(row[1].endswith(" ms") for row in printed)
