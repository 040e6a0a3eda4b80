"""bang-spmd: BANG and Self-Paced Mixed Distillation for transformers, one library with thin programs.

The model code lives in the top-level package `modeling_bang` (it ships to the Hub as remote code). This package
holds the rest, in rooms of one concern each, every one importing only from the rooms below it:

* `cli`: one module per console command (`bang-quickstart`, `bang-train`, ...), parsing flags and calling the rest;
* `experiments`: the SPMD pipeline's steps, the quickstart and the multi-seed evidence grid;
* `recipes`: one function per training job (`pretrain`, `finetune`, `distill`, `train_spmd`) taking dataclasses;
* `benchmarks`: latency and training-cost measurements against transformers' ProphetNet;
* `demo`: the demo page (`bang-demo`, a Gradio app and its Space): one input in every decoding mode, timed;
* `data`, `evaluation`, `hub`: data set builders and loaders; metrics, decoding and scoring; Hub publishing;
* `trainers` (the repository folder `trainers/`): the training library (model building from a shape, collators,
  pretraining, distillation, SPMD objectives and `SPMDTrainer`);
* `model_cards` (the repository folder `model_cards/`): the one model card writer.

Layers, lowest first: `modeling_bang` <- `model_cards` <- `trainers` <- `data`, `evaluation`, `hub` <- `recipes`,
`benchmarks`, `demo` <- `experiments` <- `cli`.
"""
