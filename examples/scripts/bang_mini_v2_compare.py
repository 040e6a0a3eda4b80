"""What BANG-mini v2 buys: fine-tuned from v2, from v1 and from random weights at equal fine-tuning time.

    python examples/scripts/bang_mini_v2_compare.py run --v2 outputs/bang-mini-v2/bang-mini-v2 --seeds 1 2
    python examples/scripts/bang_mini_v2_compare.py table

Every run fine-tunes with `bang-finetune` and the training recipe (`bang_spmd.trainers.recipe`: the rate for a
pretrained start from v1 and v2, the rate for new weights from random weights, recorded in each row) for `--minutes`
of wall time on `--threads` CPU threads, nothing else running, in batches of 64, then decodes a test split:

* debtrans (the quickstart's embedded sample: 17,120 training synopses, the first 400 test synopses; BLEU and chrF):
  AR from each start, decoded greedy and with beam 4; NAR from each start, one pass;
* debsum (the embedded sample: 5,000 training descriptions, 300 test; ROUGE-L F1, ROUGE-1/2, BLEU): AR from v2
  and from random weights, decoded with beam 4.

Starts: `random` has the shape of v2 (from its config; v1 and v2 share v1's tokenizer); `--v1` and `--v2` are model
folders or `git:REV`, the shipped `bang_spmd/pretrained/bang-mini` of commit REV extracted with `git archive` (v1 is
kept reachable that way once v2 ships; the default is a commit from before v2, whose shipped folder is v1).

Each finished (task, start, mode, seed) appends one row per decoding to `results.json` (`{"rows": [...]}`, with the
command that reproduces it, the start's resolved source and the machine) and writes its predictions and training log
to `runs/<task>-<mode>-<start>-s<seed>/`; a finished run is skipped, so an interrupted series continues.
`table` writes `results.md` (mean ± half the range over the seeds).
"""

import argparse
import gzip
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_quality import (  # noqa: E402  (the peer comparison's helpers)
    finetune_for_minutes,
    machine,
    mean_and_spread,
    random_init_flags,
    read_results,
    rows,
    write_markdown,
)


REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "examples" / "results" / "bang_mini_v2" / "compare"
DATA = REPO / "bang_spmd" / "quickstart_data"
V1_COMMIT = "60f9ba0"  # the last commit before v2 whose bang_spmd/pretrained/bang-mini is v1
BATCH = 64
STARTS = ("random", "v1", "v2")
# (task, mode): the starts it runs from and its decodings
RUNS = {
    ("debtrans", "ar"): (
        STARTS,
        {"greedy": {"decoding_mode": "ar"}, "beam4": {"decoding_mode": "ar", "num_beams": 4}},
    ),
    ("debtrans", "nar"): (STARTS, {"nar": {"decoding_mode": "nar"}}),
    ("debsum", "ar"): (("random", "v2"), {"beam4": {"decoding_mode": "ar", "num_beams": 4}}),
}
TASK_DATA = {"debtrans": ("debtrans_sample", 400), "debsum": ("debsum_sample", 300)}


def task_file(task: str, split: str, work: Path) -> Path:
    """The embedded sample's split as plain JSON Lines in `work` (the test split cut to the compared rows)."""
    folder, test_rows = TASK_DATA[task]
    path = work / f"{task}-{split}.jsonl"
    if not path.is_file():
        lines = gzip.decompress((DATA / folder / f"{split}.jsonl.gz").read_bytes()).decode("utf-8").splitlines()
        if split == "test":
            lines = [line for line in lines if task != "debtrans" or json.loads(line).get("kind") == "synopsis"]
            lines = lines[:test_rows]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def resolve_start(source: str, work: Path) -> tuple[Path, str]:
    """A start's model folder and a description of where it came from (`git:REV` is extracted from the history)."""
    if not source.startswith("git:"):
        folder = Path(source)
        if not (folder / "config.json").is_file():
            raise SystemExit(f"{source} is not a model folder (no config.json)")
        return folder, str(folder)
    revision = source[len("git:") :]
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    target = work / f"bang-mini-{commit[:12]}"
    if not (target / "config.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "bang_spmd/pretrained/bang-mini"], cwd=REPO, check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "--strip-components", "3", "-C", str(target)], input=archive, check=True)
    return target, f"bang_spmd/pretrained/bang-mini at commit {commit}"


def run_one(task: str, mode: str, start: str, seed: int, args, starts: dict, run_dir: Path) -> list[dict]:
    import torch

    from bang_spmd.data.tasks import get_task
    from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
    from bang_spmd.evaluation.metrics import chrf
    from bang_spmd.experiments.settings import command_line
    from bang_spmd.trainers.recipe import NEW_WEIGHTS_LEARNING_RATE, PRETRAINED_LEARNING_RATE

    folder, source = starts["v2" if start == "random" else start]
    begin = random_init_flags(folder) if start == "random" else ["--model_name_or_path", str(folder)]
    learning_rate = NEW_WEIGHTS_LEARNING_RATE if start == "random" else PRETRAINED_LEARNING_RATE
    model_dir = args.work_dir / f"{task}-{mode}-{start}-s{seed}"
    train_file = task_file(task, "train", args.work_dir)
    command, seconds, steps = finetune_for_minutes(
        task, mode, begin, learning_rate, train_file, model_dir, seed, args, run_dir
    )
    torch.set_num_threads(args.threads)
    spec, test_file = get_task(task), task_file(task, "test", args.work_dir)
    found = []
    for decoding, options in RUNS[(task, mode)][1].items():
        split = SplitEvaluation(
            model=str(model_dir), data_file=str(test_file), source_columns=spec.source_columns,
            target_column=spec.target_column, max_source_length=spec.max_source_length,
            decoding=Decoding(**options, max_new_tokens=spec.max_target_length), batch_size=BATCH, device="cpu",
            output_file=run_dir / f"{decoding}.jsonl", meteor="no",
        )  # fmt: skip
        result = evaluate_split(split)
        written = rows(split.output_file)
        predictions, references = [r["prediction"] for r in written], [r["reference"] for r in written]
        computed = {**result, "chrf": chrf(predictions, references)}
        metrics = {k: computed[k] for k in spec.metrics}
        found.append({
            "task": task, "start": start, "start_source": "new weights, shape of v2" if start == "random" else source,
            "mode": mode, "decoding": decoding, "seed": seed, "minutes": args.minutes,
            "train_seconds": round(seconds, 1), "steps": steps, "learning_rate": learning_rate, **metrics,
            "distinct_outputs": len(set(predictions)), "samples": len(predictions), "threads": args.threads,
            "command": f"{shlex.join(command)} && {command_line('bang-evaluate', split)}",
        })  # fmt: skip
    shutil.rmtree(model_dir)
    return found


def table(output_dir: Path) -> str:
    groups: dict[tuple, list[dict]] = {}
    for row in read_results(output_dir)["rows"]:
        groups.setdefault((row["task"], row["mode"], row["decoding"], row["start"]), []).append(row)
    lines = ["| task | decoding | start | seeds | steps in the time | BLEU | chrF | ROUGE-L | distinct |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    order = {s: i for i, s in enumerate(STARTS)}
    for (task, _, decoding, start), found in sorted(groups.items(), key=lambda g: (*g[0][:3], order[g[0][3]])):

        def cell(key, digits=2, found=found):
            values = [r[key] for r in found if key in r]
            return mean_and_spread(values, digits) if values else ""

        seeds = ",".join(str(r["seed"]) for r in found)
        lines.append(f"| {task} | {decoding} | {start} | {seeds} | {cell('steps', 0)} | {cell('bleu4')} | "
                     f"{cell('chrf', 1)} | {cell('rougeL_f1')} | {cell('distinct_outputs', 0)} / "
                     f"{found[0]['samples']} |")  # fmt: skip
    return write_markdown(output_dir / "results.md", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    go = commands.add_parser("run")
    go.add_argument("--v2", required=True, help="v2's model folder, or git:REV")
    go.add_argument("--v1", default=f"git:{V1_COMMIT}", help="v1's model folder, or git:REV (default: %(default)s)")
    go.add_argument("--tasks", nargs="+", choices=sorted({t for t, _ in RUNS}), default=["debtrans", "debsum"])
    go.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS))
    go.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    go.add_argument("--minutes", type=float, default=7.0)
    go.add_argument("--threads", type=int, default=2)
    go.add_argument("--work_dir", type=Path, default=Path(tempfile.gettempdir()) / "bang-mini-v2-compare")
    for command in (go, commands.add_parser("table")):
        command.add_argument("--output_dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.command == "table":
        print(table(args.output_dir))
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    starts = {"v1": resolve_start(args.v1, args.work_dir), "v2": resolve_start(args.v2, args.work_dir)}
    for seed in args.seeds:
        for (task, mode), (task_starts, _) in RUNS.items():
            for start in task_starts:
                if task not in args.tasks or start not in args.starts:
                    continue
                name = f"{task}-{mode}-{start}-s{seed}"
                if any(r["task"] == task and r["mode"] == mode and r["start"] == start and r["seed"] == seed
                       for r in read_results(args.output_dir)["rows"]):  # fmt: skip
                    continue
                run_dir = args.output_dir / "runs" / name
                run_dir.mkdir(parents=True, exist_ok=True)
                print(f"{name}: fine-tuning {args.minutes} minutes on {args.threads} threads", flush=True)
                found = run_one(task, mode, start, seed, args, starts, run_dir)
                results = read_results(args.output_dir)
                results["rows"] += found
                results["machine"] = machine()
                (args.output_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
                for row in found:
                    scores = ", ".join(f"{k} {row[k]:.2f}" for k in ("bleu4", "chrf", "rougeL_f1") if k in row)
                    print(f"  {row['decoding']}: {scores} ({row['steps']} steps)", flush=True)
    print(table(args.output_dir))


if __name__ == "__main__":
    main()
