"""Quality at equal training time: BANG against fairseq's Transformer and CMLM on the debtrans synopses.

    python examples/scripts/peer_quality.py run --fairseq_python .venv-fairseq/bin/python --seeds 1 2 \\
        [--systems fairseq-transformer fairseq-cmlm bang-ar-random bang-ar-mini bang-nar-random bang-nar-mini] \\
        [--minutes 7] [--threads 2] [--output_dir examples/results/peer_quality]
    python examples/scripts/peer_quality.py table [--output_dir examples/results/peer_quality]

Every system trains for `--minutes` of wall time on `--threads` CPU threads, nothing else running, on the 17,120
training synopses of the quickstart's embedded debtrans sample, in batches of 64 sentences, with the shape of
BANG-mini (128 hidden, 3 + 3 layers, 4 heads, FFN 512) and BANG-mini's cased 8k WordPiece vocabulary for every
system (fairseq reads the same word pieces, space-separated, and builds its dictionary from them); then it decodes
the sample's 400 test synopses, scored with this package's sacreBLEU BLEU and chrF against the raw references:

* fairseq 0.12 (its own virtual environment, `--fairseq_python`; never a dependency of this package), from random
  weights: `--arch transformer` (label-smoothed CE 0.1, Adam, inverse-sqrt with 200 warm-up steps, lr 1e-3, the
  recipe fairseq's translation examples use), decoded greedy and with beam 4; `--arch cmlm_transformer`
  (`translation_lev`, `random_mask`, same optimiser), decoded with 1 and 10 mask-predict iterations;
* BANG with this package's training recipe (`bang-finetune`, `--max_train_minutes`): AR from random weights and
  from the shipped BANG-mini, decoded greedy and with beam 4; NAR from both starts, one pass.

Each finished (system, seed) appends its rows to `results.json` (`{"rows": [...]}`, one row per decoding, named by
`run` (the system above) with the command that reproduces it) and writes its predictions and training log to
`runs/<system>-s<seed>/`; a finished run is skipped, so an interrupted run continues. `table` writes `results.md`
(mean ± half the range over seeds).
"""

import argparse
import gzip
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bang_spmd" / "quickstart_data" / "debtrans_sample"
SYSTEMS = ("fairseq-transformer", "fairseq-cmlm", "bang-ar-random", "bang-ar-mini", "bang-nar-random", "bang-nar-mini")
SHAPE = {"hidden": 128, "layers": 3, "heads": 4, "ffn": 512}
BATCH = 64


def sample_file(split: str, folder: Path) -> Path:
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        path.write_bytes(gzip.decompress((SAMPLE / f"{split}.jsonl.gz").read_bytes()))
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def thread_env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}


def run_training(command: list[str], threads: int, run_dir: Path, program: str) -> tuple[str, float]:
    """Runs a training command on `threads` threads; returns its output and wall seconds. The end of its output goes
    to `run_dir/train.log`; a failure raises with the log's path."""
    began = time.perf_counter()
    result = subprocess.run(command, env=thread_env(threads), capture_output=True, text=True)
    seconds = time.perf_counter() - began
    (run_dir / "train.log").write_text(result.stdout[-20000:] + result.stderr[-20000:])
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed; see {run_dir / 'train.log'}")
    return result.stdout + result.stderr, seconds


def scores(predictions: list[str], references: list[str]) -> dict:
    from bang_spmd.evaluation.metrics import bleu4, chrf

    return {
        "bleu": bleu4(predictions, references),
        "chrf": chrf(predictions, references),
        "distinct_outputs": len(set(predictions)),
        "samples": len(predictions),
    }


# --------------------------------------------------------------------------------------------------------------
# fairseq
# --------------------------------------------------------------------------------------------------------------


def fairseq_data(data: Path, work: Path, fairseq_python: str) -> Path:
    """Space-separated BANG-mini word pieces of every split, binarised with one joined dictionary."""
    from transformers import AutoTokenizer

    from bang_spmd.pretrained import resolve_model_name

    binary = work / "fairseq-bin"
    if (binary / "dict.src.txt").is_file():
        return binary
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_name("bang-mini"))
    raw = work / "fairseq-raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train"), ("validation", "valid"), ("test", "test")):
        examples = rows(sample_file(split, data))
        for side, column in (("src", "en"), ("tgt", "fr")):
            lines = [" ".join(tokenizer.tokenize(" ".join(r[column].split()))) for r in examples]
            (raw / f"{name}.{side}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [fairseq_python, "-m", "fairseq_cli.preprocess", "--source-lang", "src", "--target-lang", "tgt",
               "--trainpref", str(raw / "train"), "--validpref", str(raw / "valid"), "--testpref", str(raw / "test"),
               "--destdir", str(binary), "--joined-dictionary", "--workers", "2"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return binary


def fairseq_train_command(system: str, binary: Path, save_dir: Path, seed: int, minutes: float, python: str):
    dims = []
    for side in ("encoder", "decoder"):
        dims += [f"--{side}-layers", str(SHAPE["layers"]), f"--{side}-embed-dim", str(SHAPE["hidden"])]
        dims += [f"--{side}-ffn-embed-dim", str(SHAPE["ffn"]), f"--{side}-attention-heads", str(SHAPE["heads"])]
    if system == "fairseq-transformer":
        model = ["--arch", "transformer", "--criterion", "label_smoothed_cross_entropy"]
    else:
        model = ["--task", "translation_lev", "--arch", "cmlm_transformer", "--noise", "random_mask",
                 "--criterion", "nat_loss", "--apply-bert-init"]  # fmt: skip
    return [python, "-m", "fairseq_cli.train", str(binary), *model, *dims, "--share-all-embeddings",
            "--dropout", "0.1", "--label-smoothing", "0.1", "--optimizer", "adam", "--lr", "1e-3",
            "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "200", "--batch-size", str(BATCH),
            "--stop-time-hours", f"{minutes / 60:.6f}", "--max-update", "1000000", "--disable-validation",
            "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--log-format", "simple", "--log-interval", "100",
            "--num-workers", "0", "--cpu", "--seed", str(seed)]  # fmt: skip


def fairseq_decode(system: str, binary: Path, checkpoint: Path, decoding: str, threads: int, python: str):
    """The test hypotheses of a fairseq checkpoint in order, as text (word pieces joined by the tokenizer)."""
    from transformers import AutoTokenizer

    from bang_spmd.pretrained import resolve_model_name

    if system == "fairseq-transformer":
        options = ["--beam", "4" if decoding == "beam4" else "1"]
    else:
        iterations = int(decoding.split("-")[1])
        options = ["--task", "translation_lev", "--iter-decode-max-iter", str(iterations - 1),
                   "--iter-decode-eos-penalty", "0", "--beam", "1"]  # fmt: skip
    command = [python, "-m", "fairseq_cli.generate", str(binary), "--path", str(checkpoint), "--gen-subset", "test",
               "--batch-size", str(BATCH), "--cpu", *options]  # fmt: skip
    # fairseq's checkpoints pickle argparse objects; this script loads only the checkpoint it has just trained.
    env = {**thread_env(threads), "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    hypotheses = {}
    for line in result.stdout.splitlines():
        if line.startswith("H-"):
            index, _, pieces = line.split("\t", 2)
            hypotheses[int(index[2:])] = pieces.split()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_name("bang-mini"))
    texts = [tokenizer.convert_tokens_to_string(hypotheses[i]).strip() for i in range(len(hypotheses))]
    return texts, shlex.join(command)


def run_fairseq(system: str, seed: int, args, data: Path, run_dir: Path) -> list[dict]:
    binary = fairseq_data(data, args.work_dir, args.fairseq_python)
    save_dir = args.work_dir / f"{system}-s{seed}"
    shutil.rmtree(save_dir, ignore_errors=True)
    command = fairseq_train_command(system, binary, save_dir, seed, args.minutes, args.fairseq_python)
    log, seconds = run_training(command, args.threads, run_dir, "fairseq-train")
    updates = [int(x) for x in re.findall(r"num_updates[= ](\d+)", log)]
    references = [" ".join(r["fr"].split()) for r in rows(sample_file("test", data))]
    decodings = ("greedy", "beam4") if system == "fairseq-transformer" else ("cmlm-1", "cmlm-10")
    found = []
    for decoding in decodings:
        texts, decode_command = fairseq_decode(
            system, binary, save_dir / "checkpoint_last.pt", decoding, args.threads, args.fairseq_python
        )
        write_predictions(run_dir / f"{decoding}.jsonl", texts, references)
        found.append({
            "system": system, "init": "random", "minutes": args.minutes, "train_seconds": round(seconds, 1),
            "steps": max(updates) if updates else None, "decoding": decoding, **scores(texts, references),
            "threads": args.threads, "seed": seed,
            "command": f"{shlex.join(command)} && {decode_command}",
        })  # fmt: skip
    shutil.rmtree(save_dir)
    return found


# --------------------------------------------------------------------------------------------------------------
# BANG
# --------------------------------------------------------------------------------------------------------------


def random_init_flags(like: Path | None = None) -> list[str]:
    """`bang-finetune` flags for new weights of the shape of the model folder `like` (default: the shipped BANG-mini),
    with its tokenizer."""
    from transformers import AutoConfig

    from bang_spmd.experiments.settings import command_line
    from bang_spmd.pretrained import resolve_model_name
    from bang_spmd.trainers.model_setup import ModelShape

    folder = str(like) if like is not None else resolve_model_name("bang-mini")
    shape = ModelShape.like(AutoConfig.from_pretrained(folder))
    tokenizer = str(like) if like is not None else "bang-mini"
    return [*shlex.split(command_line("", shape))[1:], "--tokenizer_name_or_path", tokenizer]


def finetune_for_minutes(task: str, mode: str, start: list[str], learning_rate: float, train_file: Path,
                         model_dir: Path, seed: int, args, run_dir: Path) -> tuple[list[str], float, int]:  # fmt: skip
    """`bang-finetune` from `start` (flags) for `args.minutes` on `args.threads` threads in batches of 64; returns
    the command, its wall seconds and the optimizer steps it made."""
    command = ["bang-finetune", "--task", task, "--mode", mode, *start,
               "--train_file", str(train_file), "--output_dir", str(model_dir),
               "--overwrite_output_dir", "--max_steps", "1000000", "--max_train_minutes", str(args.minutes),
               "--per_device_train_batch_size", str(BATCH), "--learning_rate", str(learning_rate),
               "--seed", str(seed), "--save_strategy", "no",
               "--logging_steps", "100", "--report_to", "none", "--dataloader_pin_memory", "False"]  # fmt: skip
    _, seconds = run_training(command, args.threads, run_dir, "bang-finetune")
    steps = json.loads((model_dir / "trainer_state.json").read_text())["global_step"]
    return command, seconds, steps


def run_bang(system: str, seed: int, args, data: Path, run_dir: Path) -> list[dict]:
    from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
    from bang_spmd.experiments.settings import command_line
    from bang_spmd.trainers.recipe import NEW_WEIGHTS_LEARNING_RATE, PRETRAINED_LEARNING_RATE

    mode, init = system.split("-")[1:]
    start = random_init_flags() if init == "random" else ["--model_name_or_path", "bang-mini"]
    learning_rate = NEW_WEIGHTS_LEARNING_RATE if init == "random" else PRETRAINED_LEARNING_RATE  # the recipe's
    model_dir = args.work_dir / f"{system}-s{seed}"
    train_file = sample_file("train", data)
    command, seconds, steps = finetune_for_minutes(
        "debtrans", mode, start, learning_rate, train_file, model_dir, seed, args, run_dir
    )
    decodings = {"greedy": {"decoding_mode": "ar"}, "beam4": {"decoding_mode": "ar", "num_beams": 4}}
    if mode == "nar":
        decodings = {"nar": {"decoding_mode": "nar"}}
    found = []
    import torch

    torch.set_num_threads(args.threads)
    for decoding, options in decodings.items():
        split = SplitEvaluation(
            model=str(model_dir), data_file=str(sample_file("test", data)), source_columns="en", target_column="fr",
            max_source_length=48, decoding=Decoding(max_new_tokens=48, **options), batch_size=BATCH, device="cpu",
            output_file=run_dir / f"{decoding}.jsonl", meteor="no",
        )  # fmt: skip
        result = evaluate_split(split)
        written = rows(split.output_file)
        predictions, references = [r["prediction"] for r in written], [r["reference"] for r in written]
        found.append({
            "system": "bang", "init": "random" if init == "random" else "bang-mini", "minutes": args.minutes,
            "train_seconds": round(seconds, 1), "steps": steps, "learning_rate": learning_rate, "decoding": decoding,
            **scores(predictions, references), "threads": args.threads, "seed": seed,
            "command": f"{shlex.join(command)} && {command_line('bang-evaluate', split)}",
        })  # fmt: skip
        assert abs(found[-1]["bleu"] - result["bleu4"]) < 1e-9
    shutil.rmtree(model_dir)
    return found


def write_predictions(path: Path, texts: list[str], references: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for text, reference in zip(texts, references, strict=True):
            f.write(json.dumps({"prediction": text, "reference": reference}, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


def read_results(output_dir: Path) -> dict:
    path = output_dir / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {"rows": []}


def machine() -> dict:
    import torch
    import transformers

    from bang_spmd.benchmarks.common import cpu_model

    return {"platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}  # fmt: skip


def mean_and_spread(values: list[float], digits: int = 2) -> str:
    """`mean ± half the range` of `values`, the form of every seed table here."""
    return f"{statistics.mean(values):.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"


def write_markdown(path: Path, lines: list[str]) -> str:
    """Writes the table `lines` to `path` and returns its text."""
    text = "\n".join(lines)
    path.write_text(text + "\n")
    return text


def table(output_dir: Path) -> str:
    results = read_results(output_dir)
    groups: dict[tuple, list[dict]] = {}
    for row in results["rows"]:
        groups.setdefault((row["system"], row["init"], row["decoding"]), []).append(row)
    lines = ["| system | start | decoding | seeds | steps in the time | BLEU | chrF | distinct / 400 |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    order = {s: i for i, s in enumerate(("fairseq-transformer", "fairseq-cmlm", "bang"))}
    for (system, init, decoding), found in sorted(groups.items(), key=lambda g: (order[g[0][0]], g[0][1:])):

        def cell(key, digits=2, found=found):
            return mean_and_spread([r[key] for r in found], digits)

        seeds = ",".join(str(r["seed"]) for r in found)
        lines.append(f"| {system} | {init} | {decoding} | {seeds} | {cell('steps', 0)} | {cell('bleu')} | "
                     f"{cell('chrf', 1)} | {cell('distinct_outputs', 0)} |")  # fmt: skip
    return write_markdown(output_dir / "results.md", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fairseq_python", help="python of a virtual environment with fairseq 0.12")
    parser.add_argument("--output_dir", type=Path, default=REPO / "examples" / "results" / "peer_quality")
    parser.add_argument("--work_dir", type=Path, default=Path(tempfile.gettempdir()) / "bang-peer-quality")
    args = parser.parse_args()
    if args.action == "run":
        args.work_dir.mkdir(parents=True, exist_ok=True)
        data = args.work_dir / "data"
        data.mkdir(exist_ok=True)
        for seed in args.seeds:
            for system in args.systems:
                results = read_results(args.output_dir)
                if any(r["seed"] == seed and r["run"] == system for r in results["rows"]):
                    continue
                if system.startswith("fairseq") and not args.fairseq_python:
                    sys.exit("--fairseq_python is needed for the fairseq systems")
                run_dir = args.output_dir / "runs" / f"{system}-s{seed}"
                run_dir.mkdir(parents=True, exist_ok=True)
                print(f"{system} seed {seed}: training {args.minutes} minutes on {args.threads} threads", flush=True)
                run = run_fairseq if system.startswith("fairseq") else run_bang
                found = [{"run": system, **row} for row in run(system, seed, args, data, run_dir)]
                results = read_results(args.output_dir)
                results["rows"] += found
                results["machine"] = machine()
                (args.output_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
                for row in found:
                    print(f"  {row['decoding']}: BLEU {row['bleu']:.2f} chrF {row['chrf']:.1f} "
                          f"distinct {row['distinct_outputs']} ({row['steps']} steps)", flush=True)  # fmt: skip
    print(table(args.output_dir))


if __name__ == "__main__":
    main()
