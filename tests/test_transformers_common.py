"""Opt-in: transformers' own common tests (`ModelTesterMixin`, the `ConfigTester`, and `GenerationTesterMixin` when
available) run against BANG, the way an in-library model runs them.

Off by default (it downloads the transformers sdist and runs for a minute or two); run it with

    BANG_TRANSFORMERS_COMMON_TESTS=1 HF_HUB_OFFLINE=1 python -m pytest -q tests/test_transformers_common.py

The sdist of the installed transformers version (`pip download transformers==<version> --no-binary :all:`, cached
in `~/.cache/bang-spmd`; or `BANG_TRANSFORMERS_SDIST=<path to the .tar.gz>`) ships `tests/test_modeling_common.py`
and `tests/test_configuration_common.py`, not the generation tests they import: this test then supplies an empty
`GenerationTesterMixin` (and `ExportTesterMixin`), so only the model and config tests run. To run the generation
tests too, point `BANG_TRANSFORMERS_TESTS_DIR` at the `tests/` folder of a transformers source checkout of the same
version (its `generation/test_utils.py` is used). Nothing of transformers' test code is kept in this repository.

The mixins choose which classes to train, which get labels and which count as base models from transformers'
static model-name mappings; BANG is registered there as an in-library model would be (`bang` -> `BangModel`,
`BangForConditionalGeneration`). The BANG tester below uses the default flow (`mode="ar"`); see
`tests/test_conformance.py` for what does not apply to the NAR and n-stream flows.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import transformers

from .helpers import REPO_ROOT


pytestmark = pytest.mark.skipif(
    not os.environ.get("BANG_TRANSFORMERS_COMMON_TESTS"), reason="set BANG_TRANSFORMERS_COMMON_TESTS=1 to run"
)

TESTER = """
import unittest

import torch
from transformers.models.auto import modeling_auto

from modeling_bang import BangConfig, BangForConditionalGeneration, BangModel

from ...generation.test_utils import GenerationTesterMixin
from ...test_configuration_common import ConfigTester
from ...test_modeling_common import ModelTesterMixin, ids_tensor


modeling_auto.MODEL_MAPPING_NAMES["bang"] = "BangModel"
modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES["bang"] = "BangForConditionalGeneration"


class BangModelTester:
    def __init__(self, parent, batch_size=13, seq_length=7, vocab_size=99, hidden_size=16, num_hidden_layers=2,
                 num_attention_heads=4, intermediate_size=4, is_training=True):
        self.parent, self.batch_size, self.seq_length, self.vocab_size = parent, batch_size, seq_length, vocab_size
        self.hidden_size, self.num_hidden_layers = hidden_size, num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size, self.is_training, self.pad_token_id = intermediate_size, is_training, 1

    def get_config(self):
        return BangConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, encoder_layers=self.num_hidden_layers,
            decoder_layers=self.num_hidden_layers, encoder_attention_heads=self.num_attention_heads,
            decoder_attention_heads=self.num_attention_heads, encoder_ffn_dim=self.intermediate_size,
            decoder_ffn_dim=self.intermediate_size, max_position_embeddings=50, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, decoder_start_token_id=2, ngram=2, num_buckets=8, relative_max_distance=16,
        )

    def prepare_config_and_inputs_for_common(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size).clamp(3)
        input_ids[:, -1] = 2
        decoder_input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": input_ids.ne(1),
            "decoder_input_ids": decoder_input_ids,
            "decoder_attention_mask": torch.ones_like(decoder_input_ids),
        }
        return self.get_config(), inputs


class BangModelTest(ModelTesterMixin, GenerationTesterMixin, unittest.TestCase):
    all_model_classes = (BangModel, BangForConditionalGeneration)
    is_encoder_decoder = True

    def setUp(self):
        self.model_tester = BangModelTester(self)
        self.config_tester = ConfigTester(self, config_class=BangConfig, has_text_modality=False)

    def test_config(self):
        self.config_tester.run_common_tests()
"""

CONFTEST = """
def pytest_configure(config):
    for marker in ("generate", "slow", "torch_export_test", "onnx_export_test", "executorch_export_test",
                   "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test",
                   "is_training_test", "training_ci", "bitsandbytes", "is_staging_test", "is_pipeline_test"):
        config.addinivalue_line("markers", marker)
"""


def sdist_path(cache: Path) -> Path:
    if os.environ.get("BANG_TRANSFORMERS_SDIST"):
        return Path(os.environ["BANG_TRANSFORMERS_SDIST"])
    version = transformers.__version__
    found = sorted(cache.glob(f"transformers-{version}.tar.gz"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", f"transformers=={version}", "--no-binary", ":all:"]
    result = subprocess.run([*command, "--no-deps", "-d", str(cache)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"could not download the transformers {version} sdist: {result.stderr[-500:]}")
    return cache / f"transformers-{version}.tar.gz"


def build_suite(root: Path) -> Path:
    """A `tests` package: the sdist's common test files, stubs for what the sdist lacks, and the BANG tester."""
    tests = root / "tests"
    with tarfile.open(sdist_path(Path.home() / ".cache" / "bang-spmd")) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.parts[1:2] == ("tests",) and name.name in (
                "test_modeling_common.py",
                "test_configuration_common.py",
            ):
                target = tests / name.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
    checkout = os.environ.get("BANG_TRANSFORMERS_TESTS_DIR")
    stubs = {
        "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
        "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
        "utils/test_configuration_utils.py": (
            "config_common_kwargs = {'return_dict': False, 'output_hidden_states': True, 'output_attentions': True}\n"
        ),
    }
    for relative, text in stubs.items():
        path = tests / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        source = Path(checkout) / relative if checkout else None
        if source is not None and source.is_file() and relative != "utils/test_configuration_utils.py":
            shutil.copyfile(source, path)
        else:
            path.write_text(text)
    for package in ("", "generation", "exporters", "utils", "models", "models/bang"):
        (tests / package).mkdir(parents=True, exist_ok=True)
        (tests / package / "__init__.py").touch()
    (tests / "models" / "bang" / "test_modeling_bang.py").write_text(TESTER)
    (root / "conftest.py").write_text(CONFTEST)
    return tests / "models" / "bang" / "test_modeling_bang.py"


def test_transformers_common_tests_pass_against_bang(tmp_path):
    test_file = build_suite(tmp_path)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    print(f"transformers {transformers.__version__} common tests against BANG: {summary}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
