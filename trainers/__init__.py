"""Training code for BANG models.

This package is separate from `modeling_bang/`, which travels to the Hub as remote code and must not depend on it.

* `bang_spmd.trainers.model_setup`: model arguments and the model builder shared by the training scripts;
* `bang_spmd.trainers.seq2seq_data`: (source, target) data arguments, tokenization and ROUGE-L;
* `bang_spmd.trainers.pretraining`: BANG's n-stream pretraining (span-masking collator and `BangPretrainingTrainer`);
* `bang_spmd.trainers.distillation`: distilled targets from an AR teacher (`distill_dataset`), cached and resumable;
* `bang_spmd.trainers.spmd_objectives`: SPMD's pure functions (pace, self-paced weights, reference mixing, token KL,
  loss);
* `bang_spmd.trainers.spmd_trainer`: `SPMDTrainingArguments`, `SPMDDataCollator` and `SPMDTrainer`.
"""
