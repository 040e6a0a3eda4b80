"""The demo page (Gradio): one input decoded in every mode of a BANG model, side by side with its latency.

`build_app(demo)` makes the `gradio.Blocks` of a loaded `DemoModel` (`load_demo`): a line about the model, the model
card's headline numbers (when its `README.md` has a `model-index`), a text box with a Decode button and the example
inputs, then per mode the output and the milliseconds of its call (`decode_all_modes`), the speed-up over AR beam 4,
and a bar chart of the latencies. Bad input is a message on the page (`#demo-message`), never a traceback: an empty
text, a text truncated to the model's positions (a visible note), and any failure of a call (one line). Decoding
runs one request at a time (`concurrency_limit=1`) so that the times are not those of overlapping calls.

gradio is imported by the functions that need it (`require_gradio`), so the package imports without the `demo`
extra; without it they raise an ImportError that says `pip install 'bang-spmd[demo]'`.
"""

import html
import itertools
import os

from .loading import DemoModel
from .modes import DemoRun, decode_all_modes


INSTALL_HINT = "pip install 'bang-spmd[demo]'"
TITLE = "BANG: one model, every decoding mode"
RESULT_COLUMNS = ("mode", "output", "ms / sample", "vs AR beam 4", "details")
CHART_X, CHART_Y = "mode", "ms per sample"
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]  # the machine's fonts: nothing is fetched
SYSTEM_MONO_FONTS = ["ui-monospace", "monospace"]
TABLE_CSS = """
table.demo-results { border-collapse: collapse; width: 100%; font-size: 0.95em; }
table.demo-results th, table.demo-results td { border: 1px solid #d0d0d0; padding: 6px 8px; text-align: left;
  vertical-align: top; }
table.demo-results td.demo-ms, table.demo-results td.demo-speedup { white-space: nowrap; text-align: right; }
table.demo-results td.demo-output { font-family: ui-monospace, monospace; }
"""


def require_gradio():
    """The `gradio` module; an ImportError saying how to install the `demo` extra when it is missing."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls
    try:
        import gradio
    except ImportError as error:
        raise ImportError(f"The demo app needs gradio, which is not installed: {INSTALL_HINT}") from error
    return gradio


def _details(result, run: DemoRun) -> str:
    parts = [f"{result.output_tokens} output tokens"]
    if result.tokens_per_pass is not None:
        parts.append(f"{result.tokens_per_pass:.2f} tokens per decoder pass")
    if result.same_as_ar_greedy is not None:
        parts.append("identical to AR greedy" if result.same_as_ar_greedy else "differs from AR greedy")
    return ", ".join(parts)


def results_html(run: DemoRun, number: int = 0) -> str:
    """The results table: one row per mode (`tr[data-mode=KEY]`, the output in `td.demo-output`, the time in
    `td.demo-ms`), texts HTML-escaped, no table when nothing was decoded; inside a `div[data-run=number]`, the
    answer's number, by which a browser sees that the page answered (`bang_spmd.demo.browser.submit_and_read`)."""
    wrapper = f'<div class="demo-run" data-run="{number}">{{}}</div>'
    if not run.results:
        return wrapper.format("")
    beam = next((r for r in run.results if r.key == "ar_beam4"), None)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in RESULT_COLUMNS)
    rows = []
    for r in run.results:
        speedup = f"{beam.ms / r.ms:.1f}&times;" if beam is not None and r.ms > 0 else ""
        output = html.escape(r.output) if r.output else "<em>(empty output)</em>"
        details = html.escape(_details(r, run))
        rows.append(
            f'<tr data-mode="{html.escape(r.key)}"><td class="demo-mode">{html.escape(r.label)}</td>'
            f'<td class="demo-output">{output}</td><td class="demo-ms" data-ms="{r.ms:.3f}">{r.ms:.1f} ms</td>'
            f'<td class="demo-speedup">{speedup}</td><td class="demo-details">{details}</td></tr>'
        )
    body = f'<table class="demo-results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return wrapper.format(body)


def message_markdown(run: DemoRun) -> str:
    """The message and notes of `run` as Markdown (a warning sign before each)."""
    lines = ([run.message] if run.message else []) + run.notes
    return "\n\n".join(f"⚠️ {line}" for line in lines)


def latency_frame(run: DemoRun):
    """The bar chart's data: one row per mode (`CHART_X`, `CHART_Y`); None (an empty chart) without results (an
    empty data frame would leave gradio's chart blank for the later answers too)."""
    import pandas

    if not run.results:
        return None

    return pandas.DataFrame({CHART_X: [r.label for r in run.results], CHART_Y: [round(r.ms, 3) for r in run.results]})


def decode_for_page(demo: DemoModel, text: str, number: int = 0) -> tuple[str, str, object]:
    """The page's (message, results table, chart data) for `text`, answer `number`; a failure of the decoding is a
    one-line message (the error is not raised into gradio, whose page would show a bare error)."""
    try:
        run = decode_all_modes(demo.model, demo.tokenizer, text, demo.modes, repeats=demo.repeats)
    except Exception as error:  # noqa: BLE001 - the page shows every failure as a message
        message = " ".join(str(error).split()) or type(error).__name__
        run = DemoRun(message=f"Decoding failed ({type(error).__name__}): {message[:500]}")
    return message_markdown(run), results_html(run, number), latency_frame(run)


def build_app(demo: DemoModel):
    """The `gradio.Blocks` page of `demo` (module docstring)."""
    gr = require_gradio()
    labels = [mode.label for mode in demo.modes]
    answers = itertools.count(1)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        gr.Markdown(f"# {TITLE}\n\n{demo.describe()}", elem_id="demo-about")
        if demo.card.headlines:
            gr.Markdown("### The model card's results\n\n" + demo.card.markdown(), elem_id="demo-card")
        for note in demo.notes:
            gr.Markdown(f"⚠️ {note}")
        text = gr.Textbox(
            label="Input text",
            lines=3,
            max_lines=12,
            placeholder="Type a source text of the kind the model was trained on",
            elem_id="demo-input",
        )
        button = gr.Button("Decode", variant="primary", elem_id="demo-decode")
        gr.Examples(examples=[[e] for e in demo.examples], inputs=[text], label="Examples")
        message = gr.Markdown(elem_id="demo-message")
        table = gr.HTML(elem_id="demo-results", css_template=TABLE_CSS, js_on_load=None)
        chart = gr.BarPlot(
            value=None,
            x=CHART_X,
            y=CHART_Y,
            sort=labels,
            title="Time per sample (ms, lower is faster)",
            y_title="ms per sample",
            y_lim=[0, None],
            height=300,
            elem_id="demo-chart",
        )
        for event in (button.click, text.submit):
            event(
                lambda value: decode_for_page(demo, value, next(answers)),
                inputs=[text],
                outputs=[message, table, chart],
                concurrency_limit=1,
                show_progress="minimal",
            )
    return blocks


def launch_app(
    blocks, host: str | None = None, port: int | None = None, block: bool = True, quiet: bool = False
) -> str:
    """Serves `blocks` on `host:port` (default: gradio's, i.e. `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT` or
    127.0.0.1:7860, so that a Space's settings apply); with `block`, until interrupted. Returns the local URL."""
    gr = require_gradio()
    _, url, _ = blocks.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        footer_links=[],
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS),
    )
    return url


__all__ = [
    "INSTALL_HINT",
    "build_app",
    "decode_for_page",
    "latency_frame",
    "launch_app",
    "message_markdown",
    "require_gradio",
    "results_html",
]
