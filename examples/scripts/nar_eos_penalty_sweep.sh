#!/usr/bin/env bash
# The NAR end-of-sequence penalty (`bang-evaluate --nar_eos_penalty`, `generation_bang.py`) measured on VALIDATION
# synopses of debtrans-enfr with the quickstart's students of several seeds (`examples/scripts/quickstart_seeds.py`
# writes them under $RUNS/seed-N): each student (`nar-gold`: the NAR baseline, `nar-spmd`: SPMD) decodes the first
# $SAMPLES validation synopses in one pass with each penalty; one JSON line per run goes to $OUT/results.jsonl (the
# command is in it), predictions to $OUT/seed-N/STUDENT-pP.jsonl.
#   RUNS=outputs/quickstart-seeds OUT=examples/results/nar_eos_penalty bash examples/scripts/nar_eos_penalty_sweep.sh
set -euo pipefail
RUNS=${RUNS:-outputs/quickstart-seeds}
OUT=${OUT:-examples/results/nar_eos_penalty}
SAMPLES=${SAMPLES:-200}
SEEDS=${SEEDS:-"1 2 3"}
PENALTIES=${PENALTIES:-"0 1 2 3 4 5"}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for student in nar-gold nar-spmd; do
    for penalty in $PENALTIES; do
      mkdir -p "$OUT/seed-$seed"
      command=(bang-evaluate --model "$RUNS/seed-$seed/$student" --data_file "$RUNS/seed-$seed/data/validation.jsonl"
               --source_columns en --target_column fr --max_source_length 48 --where kind=synopsis
               --max_samples "$SAMPLES" --meteor no --nar_eos_penalty "$penalty"
               --output_file "$OUT/seed-$seed/$student-p$penalty.jsonl")
      result=$(OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 "${command[@]}" 2>/dev/null | tail -n 1)
      python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(seed=int(sys.argv[2]), student=sys.argv[3], nar_eos_penalty=float(sys.argv[4]), command=sys.argv[5]); print(json.dumps(r))' \
        "$result" "$seed" "$student" "$penalty" "${command[*]}" >> "$OUT/results.jsonl"
      echo "seed $seed $student penalty $penalty done"
    done
  done
done
