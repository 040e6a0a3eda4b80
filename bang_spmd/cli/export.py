"""`bang-export`: writes a saved BANG model's NAR decoder as an ONNX graph that onnxruntime runs.

    bang-export --model PATH --output_dir DIR [--max_source_length N] [--canvas_length N] [--opset N] [--check]

The model folder is loaded strictly (weights it lacks or does not know are an error naming them). The output folder
gets `bang_nar.onnx` (inputs `input_ids`, `attention_mask`, int64 (batch, source_length); output `canvas`, int64
(batch, canvas_length): the argmax of the NAR pass), `bang_nar_export.json` (canvas length, source limit, special ids
and post-processing settings) and the model's tokenizer when the folder has one; they are written into a staging
folder inside it and moved in with `bang_nar_export.json` last, so a full disk is one error naming the folder and
leaves no partial export. With `--check`, random source
batches of several shapes (one row, right- and left-padded rows, the longest source) run through the eager model and
through onnxruntime, and the canvases and the post-processed sequences must be equal token for token; the command
exits with status 1 when they are not. See `bang_spmd.deploy.onnx_export` for serving.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from bang_spmd.cli.benchmark_flags import positive_int
from bang_spmd.deploy import onnx_export
from bang_spmd.trainers.model_setup import check_model_folder, load_pretrained_tokenizer
from bang_spmd.trainers.run_files import move_files_into, naming_write_failures, staging_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a saved BANG folder (save_pretrained)")
    parser.add_argument("--output_dir", required=True, help="where bang_nar.onnx and bang_nar_export.json go")
    parser.add_argument(
        "--max_source_length",
        type=positive_int,
        default=None,
        help="longest source the graph accepts (default: the model's max_position_embeddings)",
    )
    parser.add_argument(
        "--canvas_length",
        type=positive_int,
        default=None,
        help="NAR canvas positions, the longest output (default: what generate(decoding_mode='nar') uses: the "
        "generation config's max_new_tokens, else max_length - 1)",
    )
    parser.add_argument(
        "--opset", type=positive_int, default=onnx_export.DEFAULT_OPSET, help="ONNX opset (default: 18)"
    )
    parser.add_argument(
        "--check", action="store_true", help="compare onnxruntime with the eager model, token for token"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def copy_tokenizer(model_dir: Path, output_dir: Path) -> bool:
    """Saves the model folder's tokenizer next to the graph; False when the folder has none."""
    if not any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        return False
    load_pretrained_tokenizer(str(model_dir), "--model").save_pretrained(output_dir)
    return True


def main(argv: list[str] | None = None) -> dict:
    """Exports (and with `--check` verifies) the NAR graph; returns the summary it prints as JSON."""
    args = parse_args(argv)
    check_model_folder(args.model, "--model", bang_only=True)
    model = onnx_export.load_model(args.model)
    output_dir = Path(args.output_dir)
    canvas_length = args.canvas_length
    if canvas_length is None:
        try:  # what generate(decoding_mode="nar") would use
            canvas_length = onnx_export.default_canvas_length(model)
        except ValueError as error:
            raise ValueError(f"--model {args.model}: {error} Pass --canvas_length.") from error
    staging = staging_path(output_dir / "export")  # inside the output folder: same file system for the moves
    try:
        with naming_write_failures(output_dir, f"the export into {output_dir}", f"{output_dir} was not changed"):
            onnx_export.export_nar_onnx(
                model,
                staging,
                canvas_length=canvas_length,
                max_source_length=args.max_source_length,
                opset=args.opset,
            )
            tokenizer = copy_tokenizer(Path(args.model), staging)
            move_files_into(staging, output_dir, last=onnx_export.METADATA_FILE)  # the metadata completes it
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = {
        "onnx": str(output_dir / onnx_export.ONNX_FILE),
        "metadata": str(output_dir / onnx_export.METADATA_FILE),
        "tokenizer": tokenizer,
        **{k: v for k, v in vars(onnx_export.NarExportMetadata.load(output_dir)).items() if k != "inputs"},
    }
    if args.check:
        summary["check"] = onnx_export.check_against_eager(model, onnx_export.OnnxNarDecoder(args.output_dir))
    print(json.dumps(summary, indent=2))
    if args.check and not summary["check"]["equal"]:
        print("bang-export: the ONNX graph and the eager model disagree (see 'check' above)", file=sys.stderr)
        raise SystemExit(1)
    return summary


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-export")
