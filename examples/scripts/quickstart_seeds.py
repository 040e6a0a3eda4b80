"""The quickstart with several seeds, its spread, and a byte-for-byte rerun: what the README's table reports.

    python examples/scripts/quickstart_seeds.py --seeds 1 2 3 [--rerun 1] [--results_dir DIR] [-- QUICKSTART FLAGS...]

Runs `HF_HUB_OFFLINE=1 bang-quickstart --seed S --output_dir outputs/quickstart-seeds/seed-S` for every seed, one
after the other (nothing else should run: the wall time is part of the result), and copies each run's
`results.json`, `results.md` and `commands.txt` with its wall time to `examples/results/quickstart/seed-S/` (or
`--results_dir`/seed-S, for a budget other than the defaults); a seed
whose copy exists is skipped, so an interrupted series continues. `--rerun S` runs seed S a second time into another
folder and compares the teacher's and both students' weights, the distilled file and every prediction file byte for
byte (`rerun.json`). `summary.md` / `summary.json`: every metric of every row as mean ± half the range over the seeds,
the wall times, and the gates of the quickstart (teacher beam 4 >= 19 BLEU, students >= 12 BLEU and above copying the
source in BLEU and chrF, >= 90 % distinct outputs, SPMD >= the NAR baseline) per seed.
"""

import argparse
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / "examples" / "results" / "quickstart"
RUNS = REPO / "outputs" / "quickstart-seeds"
COMPARED = ("teacher/model.safetensors", "nar-gold/model.safetensors", "nar-spmd/model.safetensors",
            "distilled/train.jsonl")  # fmt: skip


def run(seed: int, folder: Path, flags: list[str]) -> float:
    command = ["bang-quickstart", "--seed", str(seed), "--output_dir", str(folder), "--overwrite", *flags]
    print("$ HF_HUB_OFFLINE=1 " + " ".join(command), flush=True)
    began = time.perf_counter()
    subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    return time.perf_counter() - began


def gates(rows: dict[str, dict]) -> dict[str, bool]:
    copy = rows["copy the source"]
    students = [rows["NAR baseline (gold targets)"], rows["NAR + SPMD"]]
    return {
        "teacher beam 4 >= 19 BLEU": rows["AR teacher, beam 4"]["bleu4"] >= 19,
        "students >= 12 BLEU": all(r["bleu4"] >= 12 for r in students),
        "students above copying the source (BLEU and chrF)": all(
            r["bleu4"] > copy["bleu4"] and r["chrf"] > copy["chrf"] for r in students
        ),
        ">= 90 % distinct outputs": all(
            r["distinct_outputs"] >= 0.9 * r["samples"] for name, r in rows.items() if "ms_per_sample" in r
        ),
        "SPMD >= NAR baseline (BLEU)": students[1]["bleu4"] >= students[0]["bleu4"],
    }


def summarise(seeds: list[int], results: Path) -> str:
    runs = {}
    for seed in seeds:
        folder = results / f"seed-{seed}"
        if (folder / "results.json").is_file():
            runs[seed] = json.loads((folder / "results.json").read_text())
    if not runs:
        return "no finished seed"
    names = [row["name"] for row in next(iter(runs.values()))["rows"]]
    lines = ["| Model, decoding | BLEU | chrF | distinct outputs | ms / sample (timing) |", "|---|---|---|---|---|"]
    table = {}
    for name in names:
        found = [next(r for r in record["rows"] if r["name"] == name) for record in runs.values()]

        def cell(key, digits=2, found=found):
            values = [r[key] for r in found if key in r]
            if not values:
                return ""
            return f"{statistics.mean(values):.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"

        table[name] = {key: [r.get(key) for r in found] for key in ("bleu4", "chrf", "distinct_outputs")}
        lines.append(f"| {name} | {cell('bleu4')} | {cell('chrf')} | {cell('distinct_outputs', 0)} / "
                     f"{found[0]['samples']} | {cell('ms_per_sample')} |")  # fmt: skip
    walls = {seed: record["wall_seconds"] for seed, record in runs.items()}
    per_seed_gates = {seed: gates({r["name"]: r for r in record["rows"]}) for seed, record in runs.items()}
    summary = {"seeds": list(runs), "wall_seconds": walls, "rows": table, "gates": per_seed_gates,
               "stage_seconds": {seed: record["stage_seconds"] for seed, record in runs.items()},
               "machine": next(iter(runs.values()))["machine"]}  # fmt: skip
    (results / "summary.json").write_text(json.dumps(summary, indent=2))
    text = "\n".join(lines)
    text += "\n\nWall time per seed (s): " + ", ".join(f"seed {s}: {w:.0f}" for s, w in walls.items())
    for seed, passed in per_seed_gates.items():
        text += f"\n\nSeed {seed}: " + "; ".join(f"{gate}: {'yes' if ok else 'NO'}" for gate, ok in passed.items())
    (results / "summary.md").write_text(text + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--rerun", type=int, help="run this seed a second time and compare the files")
    parser.add_argument("--results_dir", type=Path, default=DEFAULT_RESULTS, help="where the seeds' copies go")
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="bang-quickstart flags after --")
    args = parser.parse_args()
    flags = [f for f in args.flags if f != "--"]
    for seed in args.seeds:
        copy = args.results_dir / f"seed-{seed}"
        if (copy / "results.json").is_file():
            continue
        folder = RUNS / f"seed-{seed}"
        wall = run(seed, folder, flags)
        copy.mkdir(parents=True, exist_ok=True)
        record = json.loads((folder / "results.json").read_text())
        record["wall_seconds"] = round(wall, 1)
        record["command"] = "HF_HUB_OFFLINE=1 " + " ".join(
            ["bang-quickstart", "--seed", str(seed), "--output_dir", str(folder.relative_to(REPO)), *flags]
        )
        (copy / "results.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
        for name in ("results.md", "commands.txt"):
            shutil.copy(folder / name, copy / name)
    if args.rerun is not None:
        first, second = RUNS / f"seed-{args.rerun}", RUNS / f"seed-{args.rerun}-rerun"
        wall = run(args.rerun, second, flags)
        files = [*COMPARED, *(str(p.relative_to(first)) for p in first.glob("*/test-*.jsonl"))]
        same = {name: filecmp.cmp(first / name, second / name, shallow=False) for name in files}
        (args.results_dir / "rerun.json").write_text(json.dumps({"seed": args.rerun, "wall_seconds": round(wall, 1),
                                                        "identical": same}, indent=2))  # fmt: skip
        print(f"rerun of seed {args.rerun}: {sum(same.values())} of {len(same)} files byte-identical")
    print(summarise(args.seeds, args.results_dir))


if __name__ == "__main__":
    main()
