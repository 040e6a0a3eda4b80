#!/usr/bin/env bash
# How the shipped BANG-mini (bang_spmd/pretrained/bang-mini) is made: a cased en+fr WordPiece of 8,000 pieces and a
# BANG of 128 hidden, 3+3 layers, 2 streams, pretrained with this package's n-stream span-masking objective on the
# TRAINING splits of the shared data sets (both sides of debtrans-enfr, debsum, wndef), documents packed into
# 128-token chunks. Then `bang-push --export_dir` copies the publishable files into the package.
#   SHARED_DATA=../shared/data bash examples/scripts/pretrain_bang_mini.sh [OUT_DIR]     (default outputs/bang-mini)
# MAX_STEPS=N (default 12000) sets where the schedule ends. Every step is resumable: run the same command again after
# an interruption and pretraining continues from its last checkpoint (saved every 250 steps); each sitting is
# recorded in OUT_DIR/bang-mini/sittings.json and the card states the total time.
# EXPORT=1 also copies the finished model into bang_spmd/pretrained/bang-mini (what the package ships), without the
# remote-code files and the config's auto_map: the package ships one copy of its code (bang-push attaches it again).
set -euo pipefail
OUT=${1:-outputs/bang-mini}
DATA=${SHARED_DATA:-../shared/data}
MAX_STEPS=${MAX_STEPS:-12000}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"

[ -f "$OUT/text/train.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split train --output_file "$OUT/text/train.txt"
[ -f "$OUT/text/validation.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split validation \
    --output_file "$OUT/text/validation.txt"
[ -f "$OUT/tokenizer/tokenizer.json" ] || bang-train-tokenizer --data_dir "$DATA" --vocab_size 8000 --cased \
    --keep_spacing --model_max_length 128 --output_dir "$OUT/tokenizer"

bang-pretrain --config_preset bang-base --hidden_size 128 --encoder_layers 3 --decoder_layers 3 \
    --encoder_attention_heads 4 --decoder_attention_heads 4 --encoder_ffn_dim 512 --decoder_ffn_dim 512 \
    --max_position_embeddings 128 --ngram 2 --dropout 0.1 --attention_dropout 0.0 --activation_dropout 0.0 \
    --tokenizer_name_or_path "$OUT/tokenizer" --train_files "$OUT/text/train.txt" \
    --validation_files "$OUT/text/validation.txt" --max_eval_samples 1000 \
    --max_source_length 128 --pack_documents --mask_ratio 0.15 \
    --per_device_train_batch_size 64 --learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 500 \
    --weight_decay 0.01 --max_steps "$MAX_STEPS" --seed 0 \
    --logging_steps 50 --eval_strategy steps --eval_steps 500 --save_strategy steps --save_steps 250 \
    --save_total_limit 2 --report_to none --dataloader_num_workers 0 --disable_tqdm true \
    --output_dir "$OUT/bang-mini" --resume_from_checkpoint auto

if [ "${EXPORT:-0}" = 1 ]; then
  bang-push --model_dir "$OUT/bang-mini" --export_dir bang_spmd/pretrained/bang-mini
  rm bang_spmd/pretrained/bang-mini/*.py
  python - <<'PY'
import json
from pathlib import Path

path = Path("bang_spmd/pretrained/bang-mini/config.json")
config = json.loads(path.read_text(encoding="utf-8"))
del config["auto_map"]
path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")  # transformers' layout
PY
fi
