"""The demo app: one input decoded in every mode of a BANG model, side by side with its latency (`bang-demo`).

* `modes`: the pure decoding logic, `decode_all_modes(model, tokenizer, text)` (no gradio needed);
* `card`: the model card's headline numbers and example inputs;
* `loading`: `load_demo`, the model checked and loaded as by `bang-generate`, warmed up;
* `app`: the Gradio page (`build_app`, `launch_app`; gradio is the `demo` extra, imported only there);
* `browser`: driving the page from a headless system Chromium with Playwright (screenshots, the browser test).

A Space is the same page: `examples/space/app.py` reads the model from `BANG_MODEL` (`app_from_env`).
"""

import os

from .card import CardSummary, Headline, card_summary, example_inputs
from .loading import DemoModel, load_demo
from .modes import DemoMode, DemoRun, ModeResult, decode_all_modes, demo_modes, encode_input


def app_from_env(environ: dict | None = None, default_model: str = "bang-mini", default_max_new_tokens: int = 32):
    """The page of the model named by `BANG_MODEL` (else `default_model`, by default the shipped `bang-mini`), as a
    Space builds it: `BANG_MAX_NEW_TOKENS` (else the generation config's, else `default_max_new_tokens`),
    `BANG_DEVICE` (default cpu) and `BANG_EXAMPLES_FILE` are optional."""
    from .app import build_app, require_gradio

    environ = os.environ if environ is None else environ
    require_gradio()
    length = environ.get("BANG_MAX_NEW_TOKENS")
    demo = load_demo(
        environ.get("BANG_MODEL") or default_model,
        device=environ.get("BANG_DEVICE", "cpu"),
        max_new_tokens=int(length) if length else None,
        examples_file=environ.get("BANG_EXAMPLES_FILE") or None,
        fallback_max_new_tokens=default_max_new_tokens,
    )
    return build_app(demo)


__all__ = [
    "CardSummary",
    "DemoMode",
    "DemoModel",
    "DemoRun",
    "Headline",
    "ModeResult",
    "app_from_env",
    "card_summary",
    "decode_all_modes",
    "demo_modes",
    "encode_input",
    "example_inputs",
    "load_demo",
]
