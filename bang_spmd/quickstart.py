"""Quickstart demo: build a small BANG model, run its AR, NAR and n-stream decoder flows, save and reload it.

    HF_HUB_OFFLINE=1 bang-quickstart [--output-dir outputs/quickstart] [--overwrite]

The model has random weights (no download is possible offline); the demo shows the API and the Hub packaging:
the saved folder reloads with `AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)`.
"""

import argparse
from pathlib import Path

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from modeling_bang import BangConfig, BangForConditionalGeneration, build_default_tokenizer


DOCUMENTS = [
    "command-line tool to convert images between formats, with support for batch processing",
    "python library for parsing and validating configuration files",
]
SUMMARIES = ["image format converter", "configuration file parser"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/quickstart"), help="where to save the model")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.overwrite:
        raise SystemExit(f"{args.output_dir} is not empty; pass --overwrite to replace it.")
    torch.manual_seed(args.seed)
    tokenizer = build_default_tokenizer()
    config = BangConfig(
        hidden_size=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        ngram=2,
    )
    model = BangForConditionalGeneration(config).eval()
    print(f"BANG with {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters (random weights)")

    batch = tokenizer(DOCUMENTS, padding=True, return_tensors="pt")
    labels = tokenizer(SUMMARIES, padding=True, return_tensors="pt").input_ids
    labels = labels.masked_fill(labels.eq(tokenizer.pad_token_id), -100)
    print(f"source: {tokenizer.convert_ids_to_tokens(batch.input_ids[0])[:8]} ...")
    with torch.no_grad():
        for mode in ("ar", "nar", "ngram"):
            out = model(**batch, labels=labels, mode=mode)
            extra = f", per-stream {[round(x, 3) for x in out.stream_losses.tolist()]}" if mode == "ngram" else ""
            print(
                f"{mode:>5}: logits {tuple(out.logits.shape)}, loss {out.loss.item():.3f}, "
                f"per-sample {[round(x, 3) for x in out.per_sample_loss.tolist()]}{extra}"
            )
        nar_tokens = model(**batch, mode="nar", canvas_length=6).logits.argmax(-1)
    print(f"NAR argmax (untrained): {tokenizer.batch_decode(nar_tokens)}")

    model.save_pretrained(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(args.output_dir, trust_remote_code=True).eval()
    reloaded_tokenizer = AutoTokenizer.from_pretrained(args.output_dir)
    with torch.no_grad():
        same = all(
            torch.equal(model(**batch, labels=labels, mode=m).logits, reloaded(**batch, labels=labels, mode=m).logits)
            for m in ("ar", "nar", "ngram")
        )
    assert reloaded_tokenizer(DOCUMENTS).input_ids == tokenizer(DOCUMENTS).input_ids
    print(f"saved to {args.output_dir}; reloaded with AutoModelForSeq2SeqLM; identical logits in all modes: {same}")
    if not same:
        raise SystemExit("the reloaded model computes different logits")


if __name__ == "__main__":
    main()
