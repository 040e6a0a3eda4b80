"""CUDA check of generate (needs a GPU; run from the repository root): the tiny model's AR greedy, beam 3, NAR and
semi-NAR k=1, 2 outputs on CUDA equal those on CPU, semi-NAR k=1 equals greedy AR on CUDA, and BANG-base in float16
generates in all three modes.  python examples/scripts/cuda_check_generation.py"""

import sys

import torch


sys.path.insert(0, ".")
from modeling_bang import BangConfig, BangForConditionalGeneration
from tests.helpers import random_batch, tiny_model


cpu = tiny_model(init_std=0.3)
gpu = tiny_model(init_std=0.3).cuda()
x, m, _ = random_batch(cpu.config)
for mode, extra in (
    ("ar", {}),
    ("ar", {"num_beams": 3}),
    ("nar", {}),
    ("semi_nar", {"semi_nar_block_size": 2}),
    ("semi_nar", {"semi_nar_block_size": 1}),
):
    a = cpu.generate(x, attention_mask=m, decoding_mode=mode, max_new_tokens=10, **extra)
    b = gpu.generate(x.cuda(), attention_mask=m.cuda(), decoding_mode=mode, max_new_tokens=10, **extra)
    print(mode, extra, "cpu==cuda:", torch.equal(a, b.cpu()), "device:", b.device)
g = gpu.generate(x.cuda(), attention_mask=m.cuda(), max_new_tokens=10)
s = gpu.generate(x.cuda(), attention_mask=m.cuda(), decoding_mode="semi_nar", semi_nar_block_size=1, max_new_tokens=10)
print("semi_nar k=1 == greedy on cuda:", torch.equal(g, s))
big = BangForConditionalGeneration(BangConfig.from_preset("bang-base")).cuda().eval().half()
xb = torch.randint(1000, 30000, (4, 40), device="cuda")
for mode in ("ar", "nar", "semi_nar"):
    out = big.generate(xb, decoding_mode=mode, max_new_tokens=30, min_new_tokens=30 if mode != "nar" else None)
    print("bang-base fp16", mode, tuple(out.shape), out.dtype)
