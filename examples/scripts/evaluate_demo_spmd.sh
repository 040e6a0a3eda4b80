#!/usr/bin/env bash
# Scores the runs of examples/scripts/demo_spmd.sh on the wndef validation set with one evaluation for all:
# the AR teacher greedy and beam 4, every NAR student in one pass (bang-evaluate, bang_spmd.cli.evaluate).
#   bash examples/scripts/evaluate_demo_spmd.sh [OUT_DIR]      (default outputs/demo-spmd) -> OUT_DIR/evaluation.jsonl
set -euo pipefail
OUT=${1:-outputs/demo-spmd}
DATA=${SHARED_DATA:-../shared/data}
export HF_HUB_OFFLINE=1
EVAL=(--data_file "$DATA/wndef/validation.jsonl" --source_columns word,example --target_column definition
      --max_new_tokens 48 --batch_size 128)
: > "$OUT/evaluation.jsonl"
bang-evaluate --model "$OUT/teacher" "${EVAL[@]}" --decoding_mode ar --num_beams 1 \
    --output_file "$OUT/teacher/validation-ar-greedy.jsonl" | tail -n 1 >> "$OUT/evaluation.jsonl"
bang-evaluate --model "$OUT/teacher" "${EVAL[@]}" --decoding_mode ar --num_beams 4 \
    --output_file "$OUT/teacher/validation-ar-beam4.jsonl" | tail -n 1 >> "$OUT/evaluation.jsonl"
for run in nar-gold nar-distilled nar-mixed nar-spmd; do
    bang-evaluate --model "$OUT/$run" "${EVAL[@]}" --decoding_mode nar \
        --output_file "$OUT/$run/validation-nar.jsonl" | tail -n 1 >> "$OUT/evaluation.jsonl"
done
cat "$OUT/evaluation.jsonl"
