r"""`bang-demo`: a local web page (Gradio) that decodes one input in every mode of a BANG model, with the latencies.

    pip install 'bang-spmd[demo]'
    HF_HUB_OFFLINE=1 bang-demo --model outputs/quickstart/nar-spmd          # then open http://127.0.0.1:7860
    HF_HUB_OFFLINE=1 bang-demo --model bang-mini --max_new_tokens 32 --port 7861
    HF_HUB_OFFLINE=1 bang-demo --model outputs/quickstart/nar-spmd --screenshot demo.png   # save the page, exit

The page shows, for the text typed (or an example picked), the output and the milliseconds of one `generate` call
(batch 1, after a warm-up call of every mode at startup) in every mode the model supports: AR greedy, AR beam 4,
NAR, and for models with `config.ngram >= 2` semi-NAR with k = ngram tokens per pass and the lossless semi-NAR
decoding (`semi_nar_acceptance="verify"`, greedy AR's output), with a bar chart of the times and, when the folder's
README.md has a `model-index`, the model card's results. Examples come from `--examples_file` (JSON Lines, the
`--examples_column` texts), else from the card's usage snippet, else a few defaults. An empty or over-long input is a
message on the page (long inputs are truncated to the model's positions, with a note), never a traceback.

The model is checked and loaded as by `bang-generate` (a missing folder, no config.json, damaged weights, a folder
whose config names its own code without `--trust_remote_code`: one-line errors, exit status 2, before the page
starts). `--screenshot PATH` starts the page, submits `--screenshot_text` (default: the first example) in a headless
Chromium of the system (Playwright), saves a full-page PNG and exits. Needs the `demo` extra (gradio; Playwright for
`--screenshot`).
"""

import argparse
import sys
from pathlib import Path

import torch

from bang_spmd.cli.benchmark_flags import positive_int
from bang_spmd.cli.model_flags import add_trust_remote_code_flag


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="saved model folder, shipped model name or Hub repo id")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--max_new_tokens", type=positive_int, default=None, help="output length (default: the generation config's)"
    )
    parser.add_argument("--examples_file", type=Path, default=None, help="JSON Lines file of example inputs")
    parser.add_argument("--examples_column", default="text", help="the column of --examples_file to show")
    parser.add_argument("--repeats", type=positive_int, default=1, help="timed calls per mode (the median is shown)")
    add_trust_remote_code_flag(parser)
    parser.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the page with an answer, exit")
    parser.add_argument("--screenshot_text", default=None, help="the input of --screenshot (default: first example)")
    parser.add_argument("--browser", default=None, help="Chromium executable for --screenshot (default: PATH's)")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}.")
    if args.examples_file is not None and not args.examples_file.is_file():
        parser.error(f"--examples_file {args.examples_file} does not exist.")
    if args.screenshot is None and (args.screenshot_text is not None or args.browser is not None):
        parser.error("--screenshot_text and --browser apply to --screenshot only.")
    return args


def main(argv: list[str] | None = None) -> str:
    """Serves the page until interrupted (returns its URL); with `--screenshot`, saves it (returns the PNG's path)."""
    args = parse_args(argv)
    from bang_spmd.demo import load_demo
    from bang_spmd.demo.app import build_app, launch_app, require_gradio
    from bang_spmd.demo.browser import capture_page, require_playwright

    try:  # the optional dependencies, before the model is loaded
        require_gradio()
        if args.screenshot is not None:
            require_playwright()
    except ImportError as error:
        raise ValueError(str(error)) from error
    demo = load_demo(
        args.model,
        device=args.device,
        max_new_tokens=args.max_new_tokens,
        trust_remote_code=args.trust_remote_code,
        examples_file=args.examples_file,
        examples_column=args.examples_column,
        repeats=args.repeats,
    )
    print(f"bang-demo: {args.model} loaded and warmed up in {demo.startup_seconds:.1f} s", file=sys.stderr, flush=True)
    blocks = build_app(demo)
    if args.screenshot is None:
        return launch_app(blocks, args.host, args.port, block=True)
    url = launch_app(blocks, args.host, args.port, block=False, quiet=True)
    try:
        text = args.screenshot_text or demo.examples[0]
        shown = capture_page(url, text, args.screenshot, executable=args.browser)
    finally:
        blocks.close()
    for key, row in shown["modes"].items():
        print(f"{key}\t{row['ms']:.1f} ms\t{row['output']}")
    print(f"bang-demo: the page for {text!r} is saved in {args.screenshot}", file=sys.stderr, flush=True)
    return str(args.screenshot)


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-demo")
