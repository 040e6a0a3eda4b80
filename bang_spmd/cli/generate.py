r"""`bang-generate`: generate with a saved BANG model: one output line per source, in AR, NAR or semi-NAR decoding.

    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --decoding_mode nar --max_new_tokens 48 \
        --text "serendipity" --text "ephemeral"
    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --input_file sources.txt --output_file outputs.txt
    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --input_file validation.jsonl \
        --source_columns word,example --decoding_mode ar --num_beams 4 --length_penalty 1.2
    cat sources.txt | HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd

The model folder (or Hub repo id) is loaded with `AutoModelForSeq2SeqLM.from_pretrained` and its tokenizer with
`AutoTokenizer`; a folder whose config names its own code (`auto_map` with a model type transformers does not know)
is refused unless `--trust_remote_code` is given (BANG folders load without it). Sources come from `--text`
(repeatable), `--input_file` (plain text, one source per line; or `.jsonl` with `--source_columns`, joined as in
training: the first column is the text, the others joined by a space are the text pair, giving `a [SEP] b [SEP]`,
see `bang_spmd.trainers.encode_pairs`), or standard input when neither is given. Outputs are decoded with
`skip_special_tokens=True`, one line per source in input order, to standard output or `--output_file` (written
whole through a temporary file, fsync'ed and renamed: a failed write, e.g. on a full disk, is one error naming the
file and leaves no empty or partial file; an existing file keeps its content).

This program's choices: `--decoding_mode` and the other generation flags default to the model's generation config
(`generation_config.json`); a flag that does not apply to the decoding mode (`--num_beams` / `--length_penalty`
outside AR, `--semi_nar_block_size` outside semi-NAR) is an error; `--max_new_tokens` is required when the
generation config sets neither `max_new_tokens` nor `max_length` (no silent default length); in NAR mode the
official post-processing's second stage (`collapse_repeated_words`) runs on the decoded text whenever its first
stage (`nar_collapse_repeats`) is on, and NAR outputs keep their `[UNK]` pieces as officially (`--drop_unk` drops
them); AR beam search stops once `num_beams` hypotheses are finished (`early_stopping=True`, as fairseq); an empty
input, an empty source (blank, or holding no text once tokenized: only special tokens, as zero-width or control
characters give) and a source longer than the model's `max_position_embeddings` are errors naming the source
(`--truncate_sources` truncates instead); line breaks inside a decoded output become spaces, so that output line i
always belongs to source i.
"""

import argparse
import sys
from pathlib import Path

import torch

from bang_spmd.cli.model_flags import add_drop_unk_flag, add_trust_remote_code_flag
from bang_spmd.evaluation.decoding import (
    Source,
    check_device,
    check_semi_nar_block_size,
    encode_sources,
    generate_lines,
    generation_settings,
    sources_from_jsonl,
    sources_from_lines,
    sources_from_texts,
)
from bang_spmd.pretrained import resolve_model_name
from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer
from bang_spmd.trainers.run_files import write_atomically
from modeling_bang.generation_bang import DECODING_MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="saved model folder or Hub repo id (with its tokenizer)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", action="append", default=None, help="a source text (repeatable)")
    source.add_argument("--input_file", type=Path, default=None, help="plain text (one source a line) or .jsonl")
    parser.add_argument("--source_columns", default=None, help="comma-separated source columns of a .jsonl input")
    parser.add_argument("--output_file", type=Path, default=None, help="write the outputs here instead of stdout")
    parser.add_argument(
        "--decoding_mode", choices=DECODING_MODES, default=None, help="default: the model's generation config"
    )
    parser.add_argument("--max_new_tokens", type=int, default=None, help="output length limit (NAR canvas length)")
    parser.add_argument("--num_beams", type=int, default=None, help="AR beam size")
    parser.add_argument("--length_penalty", type=float, default=None, help="AR beam length penalty")
    parser.add_argument(
        "--nar_eos_penalty", type=float, default=None, help="NAR: subtracted from the [SEP] score of every position"
    )
    parser.add_argument("--semi_nar_block_size", type=int, default=None, help="tokens per semi-NAR step")
    parser.add_argument("--batch_size", type=int, default=32, help="sources per generate call")
    parser.add_argument(
        "--truncate_sources",
        action="store_true",
        help="truncate sources longer than the model's max_position_embeddings instead of failing",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_drop_unk_flag(parser)
    add_trust_remote_code_flag(parser)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("max_new_tokens", "num_beams", "semi_nar_block_size", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}.")
    is_jsonl = args.input_file is not None and args.input_file.suffix == ".jsonl"
    if is_jsonl and not args.source_columns:
        parser.error("--source_columns is required with a .jsonl --input_file.")
    if args.source_columns and not is_jsonl:
        parser.error("--source_columns only applies to a .jsonl --input_file.")
    if args.input_file is not None and not args.input_file.is_file():
        parser.error(f"--input_file {args.input_file} does not exist.")
    return args


def read_sources(args: argparse.Namespace) -> list[Source]:
    """The sources of `--text`, `--input_file` or standard input, in order; an empty input is an error."""
    if args.text is not None:
        name, sources = "--text", sources_from_texts(args.text)
    elif args.input_file is not None:
        name = str(args.input_file)
        if args.input_file.suffix == ".jsonl":
            columns = [c.strip() for c in args.source_columns.split(",") if c.strip()]
            if not columns:
                raise ValueError(f"--source_columns {args.source_columns!r} names no column.")
            sources = sources_from_jsonl(args.input_file, columns)
        else:
            sources = sources_from_lines(args.input_file.read_text(encoding="utf-8").splitlines(), name)
    else:
        name = "standard input"
        sources = sources_from_lines(sys.stdin.read().splitlines(), name)
    if not sources:
        raise ValueError(f"No source to generate from: {name} is empty.")
    return sources


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    check_device(args.device)
    sources = read_sources(args)
    model_path = resolve_model_name(args.model)
    model = load_pretrained_model(model_path, "--model", args.trust_remote_code).to(args.device).eval()
    tokenizer = load_pretrained_tokenizer(model_path, "--model", args.trust_remote_code)
    settings = generation_settings(
        model.generation_config,
        args.decoding_mode,
        args.max_new_tokens,
        num_beams=args.num_beams,
        length_penalty=args.length_penalty,
        nar_eos_penalty=args.nar_eos_penalty,
        semi_nar_block_size=args.semi_nar_block_size,
    )
    check_semi_nar_block_size(model, settings)
    ids = encode_sources(sources, tokenizer, model.config.max_position_embeddings, args.truncate_sources)
    lines = generate_lines(model, tokenizer, ids, settings, args.batch_size, args.drop_unk)
    text = "".join(line + "\n" for line in lines)
    if args.output_file is not None:
        write_atomically(args.output_file, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return lines


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-generate")
