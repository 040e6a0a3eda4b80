"""Writes the debsum sample that `bang-quickstart` trains on (bang_spmd/quickstart_data/debsum_sample/).

    python examples/scripts/make_quickstart_sample.py --data_dir ../shared/data/debsum

A seeded random sample of each split of debsum (rebuild it from its public source with `bang-prepare-data debsum`),
stored gzip-compressed so the package stays small. The rows are unchanged.
"""

import argparse
import gzip
import json
import random
from pathlib import Path


SIZES = {"train": 5000, "validation": 200, "test": 300}
OUTPUT = Path(__file__).resolve().parents[2] / "bang_spmd" / "quickstart_data" / "debsum_sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, required=True, help="folder with debsum's train/validation/test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for split, size in SIZES.items():
        rows = (args.data_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        picked = sorted(random.Random(f"{args.seed}-{split}").sample(range(len(rows)), size))
        # mtime=0: the same sample gives byte-identical files
        with gzip.GzipFile(OUTPUT / f"{split}.jsonl.gz", "wb", mtime=0) as f:
            f.write("".join(json.dumps(json.loads(rows[i]), ensure_ascii=False) + "\n" for i in picked).encode())
        print(f"{split}: {size} of {len(rows)} rows")


if __name__ == "__main__":
    main()
