r"""Generate with a saved BANG model: one output line per source, in AR, NAR or semi-NAR decoding.

    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --decoding_mode nar --max_new_tokens 48 \
        --text "serendipity" --text "ephemeral"
    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --input_file sources.txt --output_file outputs.txt
    HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd --input_file validation.jsonl \
        --source_columns word,example --decoding_mode ar --num_beams 4 --length_penalty 1.2
    cat sources.txt | HF_HUB_OFFLINE=1 bang-generate --model outputs/wndef-spmd

The model folder (or Hub repo id) is loaded with `AutoModelForSeq2SeqLM.from_pretrained(..., trust_remote_code=True)`
and its tokenizer with `AutoTokenizer`. Sources come from `--text` (repeatable), `--input_file` (plain text, one
source per line; or `.jsonl` with `--source_columns`, joined as in training: the first column is the text, the
others joined by a space are the text pair, giving `a [SEP] b [SEP]`, see
`bang_spmd.trainers.seq2seq_data.encode_pairs`), or standard input when neither is given. Outputs are decoded with
`skip_special_tokens=True`, one line per source in input order, to standard output or `--output_file`.

This program's choices: `--decoding_mode` and the other generation flags default to the model's generation config
(`generation_config.json`); a flag that does not apply to the decoding mode (`--num_beams` / `--length_penalty`
outside AR, `--semi_nar_block_size` outside semi-NAR) is an error; `--max_new_tokens` is required when the generation
config sets neither `max_new_tokens` nor `max_length` (no silent default length); in NAR mode the official
post-processing's second stage (`collapse_repeated_words`) runs on the decoded text whenever its first stage
(`nar_collapse_repeats`) is on; an empty input, an empty source and a source longer than the model's
`max_position_embeddings` are errors naming the source (`--truncate_sources` truncates instead); line breaks inside
a decoded output become spaces, so that output line i always belongs to source i.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from bang_spmd.trainers.seq2seq_data import clean_text
from modeling_bang.generation_bang import DECODING_MODES, collapse_repeated_words


@dataclass(frozen=True)
class Source:
    """One input: `where` names it in errors (`--text 2`, `line 3 of in.jsonl`); `pair` is the text pair or None."""

    where: str
    text: str
    pair: str | None = None


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
    parser.add_argument("--semi_nar_block_size", type=int, default=None, help="tokens per semi-NAR step")
    parser.add_argument("--batch_size", type=int, default=32, help="sources per generate call")
    parser.add_argument(
        "--truncate_sources",
        action="store_true",
        help="truncate sources longer than the model's max_position_embeddings instead of failing",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
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


def _check_text(where: str, text: str) -> None:
    if not text:
        raise ValueError(f"The source of {where} is empty.")


def read_text_lines(lines: list[str], name: str) -> list[Source]:
    """One source per line (line numbers from 1)."""
    sources = []
    for number, line in enumerate(lines, start=1):
        where = f"line {number} of {name}"
        _check_text(where, clean_text(line))
        sources.append(Source(where, clean_text(line)))
    return sources


def read_jsonl(path: Path, columns: list[str]) -> list[Source]:
    """One source per JSON object line: the first column is the text, the others joined by a space the pair."""
    sources = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"line {number} of {path}"
        if not line.strip():
            raise ValueError(f"{where} is empty; a .jsonl input has one JSON object per line.")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where} is not valid JSON: {error}.") from error
        if not isinstance(row, dict):
            raise ValueError(f"{where} is not a JSON object.")
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{where} has no column(s) {missing} (columns: {sorted(row)}).")
        text = clean_text(row[columns[0]])
        _check_text(where, text)
        pair = " ".join(clean_text(row[c]) for c in columns[1:]) if len(columns) > 1 else None
        sources.append(Source(where, text, pair))
    return sources


def read_sources(args: argparse.Namespace) -> list[Source]:
    """The sources of `--text`, `--input_file` or standard input, in order; an empty input is an error."""
    if args.text is not None:
        sources = []
        for number, text in enumerate(args.text, start=1):
            where = f"--text {number}"
            _check_text(where, clean_text(text))
            sources.append(Source(where, clean_text(text)))
        name = "--text"
    elif args.input_file is not None:
        name = str(args.input_file)
        if args.input_file.suffix == ".jsonl":
            columns = [c.strip() for c in args.source_columns.split(",") if c.strip()]
            if not columns:
                raise ValueError(f"--source_columns {args.source_columns!r} names no column.")
            sources = read_jsonl(args.input_file, columns)
        else:
            sources = read_text_lines(args.input_file.read_text(encoding="utf-8").splitlines(), name)
    else:
        name = "standard input"
        sources = read_text_lines(sys.stdin.read().splitlines(), name)
    if not sources:
        raise ValueError(f"No source to generate from: {name} is empty.")
    return sources


def encode_sources(sources: list[Source], tokenizer, max_length: int, truncate: bool) -> list[list[int]]:
    """Token ids of each source (`text [SEP]` or `text [SEP] pair [SEP]`).

    A source longer than `max_length` tokens is a ValueError naming it, unless `truncate` (then the tokenizer's
    `longest_first` truncation, as in training).
    """
    ids = []
    for source in sources:
        full = tokenizer(source.text, text_pair=source.pair, verbose=False)["input_ids"]
        if len(full) > max_length:
            if not truncate:
                raise ValueError(
                    f"The source of {source.where} has {len(full)} tokens, more than the model's "
                    f"max_position_embeddings ({max_length}); shorten it or pass --truncate_sources."
                )
            full = tokenizer(source.text, text_pair=source.pair, truncation=True, max_length=max_length)["input_ids"]
        ids.append(full)
    return ids


def generation_settings(args: argparse.Namespace, generation_config) -> dict:
    """The `generate` keyword arguments: the decoding mode (flag, else the generation config's) and the flags given."""
    mode = args.decoding_mode or getattr(generation_config, "decoding_mode", None) or "ar"
    applies = {"num_beams": "ar", "length_penalty": "ar", "semi_nar_block_size": "semi_nar"}
    misplaced = [
        f"--{name} applies to decoding_mode={where!r} only"
        for name, where in applies.items()
        if getattr(args, name) is not None and where != mode
    ]
    if misplaced:
        raise ValueError(f"{'; '.join(misplaced)}; the decoding mode is {mode!r}.")
    if args.max_new_tokens is None and all(
        getattr(generation_config, name, None) is None for name in ("max_new_tokens", "max_length")
    ):
        raise ValueError(
            "Pass --max_new_tokens: the model's generation config sets neither max_new_tokens nor max_length."
        )
    settings = {"decoding_mode": mode}
    for name in ("max_new_tokens", *applies):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return settings


def generate_lines(model, tokenizer, batches: list[list[int]], settings: dict, batch_size: int) -> list[str]:
    """Decodes the token ids in batches of `batch_size` (right-padded), one output line per source."""
    device, pad = model.device, model.config.pad_token_id
    word_collapse = settings["decoding_mode"] == "nar" and getattr(
        model.generation_config, "nar_collapse_repeats", True
    )
    lines = []
    for start in range(0, len(batches), batch_size):
        rows = batches[start : start + batch_size]
        input_ids = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for i, ids in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
        with torch.inference_mode():
            output = model.generate(input_ids.to(device), attention_mask=attention_mask.to(device), **settings)
        for text in tokenizer.batch_decode(output, skip_special_tokens=True):
            text = " ".join(text.splitlines())
            lines.append(collapse_repeated_words(text) if word_collapse else text)
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    sources = read_sources(args)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, trust_remote_code=True).to(args.device).eval()
    settings = generation_settings(args, model.generation_config)
    ids = encode_sources(sources, tokenizer, model.config.max_position_embeddings, args.truncate_sources)
    lines = generate_lines(model, tokenizer, ids, settings, args.batch_size)
    text = "".join(line + "\n" for line in lines)
    if args.output_file is not None:
        args.output_file.parent.mkdir(parents=True, exist_ok=True)
        args.output_file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
