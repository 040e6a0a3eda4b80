#!/usr/bin/env bash
# BANG-mini v2: BANG-mini v1's data, tokenizer and objective with 4 predicting streams and ten times v1's pretraining
# (v1: 2,002 steps of 64 chunks of <= 128 tokens; v2: MAX_STEPS, default 20,100), run in sittings that span sessions.
#
#   SHARED_DATA=../shared/data SITTING_MINUTES=60 bash examples/scripts/pretrain_bang_mini_v2.sh
#
# One call is one sitting: it restores the committed checkpoint when the work folder has none (a new machine), trains
# for SITTING_MINUTES (the recipe's stop-and-save: `--max_train_minutes`), evaluates the loss of every stream on 1,000
# validation chunks, and copies the newest checkpoint (weights, optimizer, scheduler, RNG and trainer state: what an
# exact resume needs, about 30 MB for the h128 shape) and the record of every sitting (`sittings.json`: machine,
# steps, seconds) into STATE, which is committed after each sitting; the next call, on any machine, continues there.
# The shape (SHAPE, default h128: 128 hidden, 3+3 layers, 4 heads, FFN 512) is the one chosen by
# examples/scripts/bang_mini_v2_shapes.py (examples/results/bang_mini_v2/shapes/). The text is the TRAINING split of
# debtrans-enfr (both sides), debsum and wndef only, as v1's; the tokenizer is v1's cased 8k WordPiece.
# The learning-rate schedule (the recipe's inverse square root after 200 warm-up steps) does not depend on MAX_STEPS.
set -euo pipefail
OUT=${OUT:-outputs/bang-mini-v2}
STATE=${STATE:-examples/results/bang_mini_v2/pretraining}
DATA=${SHARED_DATA:-../shared/data}
MAX_STEPS=${MAX_STEPS:-20100}
SITTING_MINUTES=${SITTING_MINUTES:-60}
SAVE_STEPS=${SAVE_STEPS:-500}
SHAPE=${SHAPE:-h128}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
case "$SHAPE" in
  h128) HIDDEN=128 LAYERS=3 HEADS=4 FFN=512 ;;
  h192) HIDDEN=192 LAYERS=3 HEADS=4 FFN=768 ;;
  h256) HIDDEN=256 LAYERS=3 HEADS=4 FFN=1024 ;;
  *) echo "SHAPE must be h128, h192 or h256, got $SHAPE" >&2; exit 2 ;;
esac
RUN="$OUT/bang-mini-v2"
mkdir -p "$OUT" "$RUN" "$STATE"

[ -f "$OUT/text/train.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split train --output_file "$OUT/text/train.txt"
[ -f "$OUT/text/validation.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split validation \
    --output_file "$OUT/text/validation.txt"

latest_checkpoint() { ls -d "$1"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1; }

# A new machine: continue from the committed checkpoint and sittings.
if [ -z "$(latest_checkpoint "$RUN")" ] && [ -f "$STATE/checkpoint/trainer_state.json" ]; then
  step=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['global_step'])" "$STATE/checkpoint/trainer_state.json")
  cp -r "$STATE/checkpoint" "$RUN/checkpoint-$step"
  [ -f "$STATE/sittings.json" ] && cp "$STATE/sittings.json" "$RUN/sittings.json"
  echo "restored checkpoint-$step from $STATE"
fi

bang-pretrain --config_preset bang-base --hidden_size "$HIDDEN" --encoder_layers "$LAYERS" --decoder_layers "$LAYERS" \
    --encoder_attention_heads "$HEADS" --decoder_attention_heads "$HEADS" --encoder_ffn_dim "$FFN" --decoder_ffn_dim "$FFN" \
    --max_position_embeddings 128 --ngram 4 --dropout 0.1 --attention_dropout 0.0 --activation_dropout 0.0 \
    --tokenizer_name_or_path bang-mini --train_files "$OUT/text/train.txt" \
    --validation_files "$OUT/text/validation.txt" --max_eval_samples 1000 \
    --max_source_length 128 --pack_documents --mask_ratio 0.15 \
    --per_device_train_batch_size 64 --max_steps "$MAX_STEPS" --max_train_minutes "$SITTING_MINUTES" --seed 0 \
    --logging_steps 50 --eval_strategy no --save_strategy steps --save_steps "$SAVE_STEPS" --save_total_limit 1 \
    --report_to none --dataloader_num_workers 0 --disable_tqdm true \
    --output_dir "$RUN" --resume_from_checkpoint auto

# Keep what the next sitting needs, replacing the previous copy only once the new one is complete.
latest=$(latest_checkpoint "$RUN")
rm -rf "$STATE/checkpoint.new"
cp -r "$latest" "$STATE/checkpoint.new"
rm -f "$STATE/checkpoint.new"/*.py  # the package's code is not committed twice (bang-push attaches it when publishing)
rm -rf "$STATE/checkpoint"
mv "$STATE/checkpoint.new" "$STATE/checkpoint"
cp "$RUN/sittings.json" "$STATE/sittings.json"
cp "$RUN/eval_results.json" "$STATE/eval_results_step_$(basename "$latest" | cut -d- -f2).json"
echo "saved $(basename "$latest") to $STATE/checkpoint; commit $STATE"
