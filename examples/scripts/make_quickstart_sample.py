"""Writes the samples `bang-quickstart` trains on (bang_spmd/quickstart_data/<task>_sample/).

    python examples/scripts/make_quickstart_sample.py --task debtrans --data_dir ../shared/data/debtrans-enfr
    python examples/scripts/make_quickstart_sample.py --task debsum --data_dir ../shared/data/debsum

A seeded random sample of each split of the data set (rebuild it from its public source with `bang-prepare-data`),
restricted to the task's rows (debtrans: the synopses), stored gzip-compressed so the package stays small. The rows
are unchanged and keep their order.
"""

import argparse
import gzip
import json
import random
from pathlib import Path


SIZES = {
    "debtrans": {"train": None, "validation": 200, "test": 400},  # None: every training row of the task
    "debsum": {"train": 5000, "validation": 200, "test": 300},
}
WHERE = {"debtrans": ("kind", "synopsis")}
OUTPUT = Path(__file__).resolve().parents[2] / "bang_spmd" / "quickstart_data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(SIZES), required=True)
    parser.add_argument(
        "--data_dir", type=Path, required=True, help="folder with the data set's train/validation/test"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = OUTPUT / f"{args.task}_sample"
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in SIZES[args.task].items():
        rows = (args.data_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if args.task in WHERE:
            column, value = WHERE[args.task]
            rows = [row for row in rows if json.loads(row)[column] == value]
        picked = (
            range(len(rows))
            if size is None
            else sorted(random.Random(f"{args.seed}-{split}").sample(range(len(rows)), size))
        )
        # mtime=0: the same sample gives byte-identical files
        with gzip.GzipFile(folder / f"{split}.jsonl.gz", "wb", mtime=0) as f:
            f.write("".join(json.dumps(json.loads(rows[i]), ensure_ascii=False) + "\n" for i in picked).encode())
        print(f"{split}: {len(picked)} of {len(rows)} rows")


if __name__ == "__main__":
    main()
