"""Decode a JSON Lines split with a saved BANG model in a chosen mode; report ROUGE, BLEU, METEOR, time per sample.

    HF_HUB_OFFLINE=1 bang-evaluate --model outputs/wndef-spmd \
        --data_file ../shared/data/wndef/validation.jsonl --source_columns word,example --target_column definition \
        --decoding_mode nar --max_new_tokens 48 --output_file outputs/wndef-spmd/validation-nar.jsonl

Every model is scored the same way: sources are tokenized with the model's tokenizer as in training
(`bang_spmd.trainers.seq2seq_data.encode_pairs`), outputs are decoded with `skip_special_tokens=True` and their
repeated words collapsed (the official NAR post-processing; harmless for AR output), and scored against the raw
target text with `bang_spmd.metrics.compute_generation_metrics`: ROUGE-1/2/L F1 (rouge-score with stemming),
BLEU-4 (sacrebleu) and METEOR (nltk; with `--meteor auto`, the default, only where WordNet is installed:
`bang-prepare-wordnet`), all
x 100. The training scripts' `eval_rougeL_f1` is unstemmed ROUGE-L, so it reads slightly lower than `rougeL_f1` here.
`--decoding_mode ar` uses `--num_beams` and `--length_penalty`; `semi_nar` uses
`--semi_nar_block_size`. The time per sample is the wall time of the `generate` calls divided by the number of
examples (batched, `--batch_size`), on the device the model runs on, after one untimed call on the first example.
Prints one JSON line and writes the predictions with `--output_file`.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import datasets
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from bang_spmd.metrics import compute_generation_metrics
from bang_spmd.metrics.wordnet import find_nltk_wordnet
from bang_spmd.trainers.seq2seq_data import DataArguments, encode_pairs
from modeling_bang.generation_bang import DECODING_MODES, collapse_repeated_words


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="saved model folder (with its tokenizer)")
    parser.add_argument("--data_file", required=True, help="JSON Lines file with the source and target columns")
    parser.add_argument("--source_columns", default="word,example", help="comma-separated source columns")
    parser.add_argument("--target_column", default="definition", help="target column")
    parser.add_argument("--max_source_length", type=int, default=128, help="source tokens, [SEP]s included")
    parser.add_argument("--decoding_mode", choices=DECODING_MODES, default="nar")
    parser.add_argument("--max_new_tokens", type=int, default=48, help="output length limit (NAR canvas length)")
    parser.add_argument("--num_beams", type=int, default=1, help="AR beam size")
    parser.add_argument("--length_penalty", type=float, default=1.0, help="AR beam length penalty")
    parser.add_argument("--semi_nar_block_size", type=int, default=2, help="tokens per semi-NAR step")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_samples", type=int, default=None, help="first N examples only")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output_file", type=Path, default=None, help="write predictions as JSON Lines")
    parser.add_argument(
        "--meteor", choices=("auto", "yes", "no"), default="auto", help="METEOR: where WordNet is found / always / no"
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if not Path(args.model).is_dir():
        raise SystemExit(f"--model {args.model} is not a folder.")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, trust_remote_code=True).to(args.device).eval()
    data = datasets.load_dataset("json", data_files=args.data_file, split="train")
    if args.max_samples is not None:
        data = data.select(range(min(args.max_samples, len(data))))
    data_args = DataArguments(
        source_columns=args.source_columns,
        target_column=args.target_column,
        max_source_length=args.max_source_length,
        truncate_targets=True,
    )
    encoded, _ = encode_pairs(data, tokenizer, data_args, "evaluation")
    settings = {"decoding_mode": args.decoding_mode, "max_new_tokens": args.max_new_tokens}
    if args.decoding_mode == "ar":
        settings.update(num_beams=args.num_beams, length_penalty=args.length_penalty)
    elif args.decoding_mode == "semi_nar":
        settings["semi_nar_block_size"] = args.semi_nar_block_size

    predictions, seconds = [], 0.0
    with torch.inference_mode():  # one untimed call first: lazy initialisation is not latency
        ids = torch.tensor([encoded[0]["input_ids"]], device=args.device)
        model.generate(ids, attention_mask=torch.ones_like(ids), **settings)
    for start in range(0, len(encoded), args.batch_size):
        rows = encoded[start : start + args.batch_size]["input_ids"]
        input_ids = torch.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id, dtype=torch.long)
        for i, ids in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
        input_ids = input_ids.to(args.device)
        began = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(input_ids, attention_mask=input_ids.ne(tokenizer.pad_token_id), **settings)
        if input_ids.is_cuda:
            torch.cuda.synchronize()
        seconds += time.perf_counter() - began
        predictions += [collapse_repeated_words(t) for t in tokenizer.batch_decode(output, skip_special_tokens=True)]
    references = list(encoded["reference"])
    with_meteor = args.meteor == "yes" or (args.meteor == "auto" and find_nltk_wordnet() is not None)
    result = {
        "model": args.model,
        "data_file": args.data_file,
        "samples": len(references),
        **settings,
        **compute_generation_metrics(predictions, references, with_meteor=with_meteor),
        "ms_per_sample": 1000.0 * seconds / max(len(references), 1),
        "distinct_outputs": len(set(predictions)),
        "device": str(args.device),
    }
    if args.output_file is not None:
        with open(args.output_file, "w", encoding="utf-8") as f:
            for prediction, reference in zip(predictions, references, strict=True):
                f.write(json.dumps({"prediction": prediction, "reference": reference}) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
