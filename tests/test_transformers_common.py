"""transformers' own common tests (`ModelTesterMixin`, the `ConfigTester`, and `GenerationTesterMixin` where its
source can be had) run against BANG, the way an in-library model runs them. Part of every test run.

Where the tests come from: the source distribution of the installed transformers version, the only copy of
transformers' tests that pip can fetch. `.ci/install` downloads it into `~/.cache/bang-spmd` (the command is
`SDIST_COMMAND`); `BANG_TRANSFORMERS_SDIST=<path to the .tar.gz>` names another copy. These tests never download it
themselves: without it they are skipped, naming the command. Nothing of transformers' test code is kept in this
repository.

What the sdist holds: `tests/test_modeling_common.py` and `tests/test_configuration_common.py`, not the generation
tests they import (`tests/generation/test_utils.py`; checked for 5.24.0 and 5.25.0), nor
`tests/utils/test_configuration_utils.py`. The model and config tests therefore run with an empty
`GenerationTesterMixin` (and `ExportTesterMixin`) and this file's own `config_common_kwargs`, and the generation
tests are skipped with that reason, unless `BANG_TRANSFORMERS_TESTS_DIR` points at the `tests/` folder of a
transformers source checkout of the installed version (its files are then used, the generation tests included).

The mixins choose which classes to train, which get labels and which count as base models from transformers'
static model-name mappings; BANG is registered there as an in-library model would be (`bang` -> `BangModel`,
`BangForConditionalGeneration`). The BANG tester below uses the default flow (`mode="ar"`); see
`tests/test_conformance.py` for what does not apply to the NAR and n-stream flows. Every skip of the run must be one
of `INAPPLICABLE` (each with the reason it does not apply to BANG, or to a CPU run); any other skip fails the test.
"""

import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import transformers

from .helpers import REPO_ROOT


SDIST_CACHE = Path.home() / ".cache" / "bang-spmd"
SDIST_COMMAND = (
    f"python -m pip download transformers=={transformers.__version__} --no-binary :all: --no-deps -d {SDIST_CACHE}"
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
    # test_can_init_all_missing_weights runs only for models whose files carry a copyright year from 2023 on, or
    # that ask for it: every weight of BANG is initialised by `_init_weights`, so it asks.
    test_can_init_all_missing_weights_before_2023 = True

    def setUp(self):
        self.model_tester = BangModelTester(self)
        self.config_tester = ConfigTester(self, config_class=BangConfig, has_text_modality=False)

    def test_config(self):
        self.config_tester.run_common_tests()
"""

# The run's pytest set-up: transformers' markers, and `BANG_COMMON_TESTS_PART` choosing the tests of
# `GenerationTesterMixin` ("generation") or all the others ("model").
CONFTEST = """
import os


def pytest_configure(config):
    for marker in ("generate", "slow", "torch_export_test", "onnx_export_test", "executorch_export_test",
                   "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test",
                   "is_training_test", "training_ci", "bitsandbytes", "is_staging_test", "is_pipeline_test",
                   "accelerate_tests"):
        config.addinivalue_line("markers", marker)


def defining_class(item):
    name = getattr(item, "originalname", None) or item.name
    return next((klass.__name__ for klass in item.cls.__mro__ if name in vars(klass)), None)


def pytest_collection_modifyitems(config, items):
    wants_generation = os.environ["BANG_COMMON_TESTS_PART"] == "generation"
    selected = [item for item in items if (defining_class(item) == "GenerationTesterMixin") == wants_generation]
    config.hook.pytest_deselected(items=[item for item in items if item not in selected])
    items[:] = selected
"""

# Written in place of what the sdist lacks. `config_common_kwargs` is this file's own set of keys every config must
# take and keep (`ConfigTester.check_config_arguments_init`): common `PreTrainedConfig` fields, and keys no BANG field
# has (a transformers 4 config's `finetuning_task`, another model's `rms_norm_eps`, another special id).
STUBS = {
    "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
    "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
    "utils/test_configuration_utils.py": (
        "config_common_kwargs = {\n"
        "    'return_dict': False, 'output_hidden_states': True, 'output_attentions': True, 'dtype': 'float16',\n"
        "    'chunk_size_feed_forward': 5, 'is_encoder_decoder': True, 'architectures': ['BangModel'],\n"
        "    'finetuning_task': 'translation', 'rms_norm_eps': 1e-06, 'sep_token_id': 4,\n"
        "}\n"
    ),
}
COMMON_FILES = ("test_modeling_common.py", "test_configuration_common.py")

# Every skip the run may report: (test-name pattern, transformers' skip-message pattern, why it does not apply),
# both patterns matching the whole name / message.
INAPPLICABLE = [
    (
        r".*",
        r"test requires (accelerator|multiple accelerators|CUDA|MPS|Flash Attention.*|deepspeed|the kernels library)",
        "hardware or libraries a CPU run does not have: GPU kernels (Flash Attention, SDPA on flash, the kernels "
        "library's hub kernels), device placement and offloading, DeepSpeed",
    ),
    (
        r"test_torch_compile_for_training",
        r"test is slow",
        "transformers' @slow compile-for-training test, which also needs an accelerator",
    ),
    (
        r"test_(attn_implementation_composite_models|can_set_attention_dynamically_composite_model"
        r"|internal_model_config_and_subconfig_are_same)",
        r".*",
        "BANG has one config, no sub-configs (not a composite model)",
    ),
    (
        r"test_sdpa_can_dispatch_composite_models",
        r".*",
        "not a composite model (transformers' message says 'does not support SDPA'; BANG's SDPA is tested by "
        "test_eager_matches_sdpa_inference and test_sdpa_can_dispatch_non_composite_models)",
    ),
    (
        r"test_(can_load_from_already_mapped_keys|reverse_loading_mapping)",
        r"No conversion found .*",
        "BANG checkpoints need no weight-name conversion mapping",
    ),
    (
        r"test_(can_capture_specific_layers_hidden_states|capture_outputs_decorator)",
        r".*",
        "BANG records its hidden states itself (main stream, and the predicting streams with output_predict_streams), "
        "not through transformers' capture_outputs recorders",
    ),
    (r"test_causal_lm_loss_honors_shift_labels", r".*", "an encoder-decoder, no decoder-only LM head"),
    (r"test_keep_in_fp32_modules.*", r".*", "no BANG module must stay in float32"),
    (
        r"test_eager_matches_batched_and_grouped_inference_.*",
        r".* does not support grouped_mm",
        "no mixture-of-experts layers",
    ),
    (
        r"test_(moe_models_record_router_logits|output_router_logits_from_config)",
        r".*",
        "no mixture-of-experts layers",
    ),
    (
        r"test_(model_rope_.*|vision_axial_rope)",
        r".*",
        "no rotary embeddings: learned absolute positions and T5-style relative buckets",
    ),
    (
        r"test_resize_position_vector_embeddings",
        r".*",
        "BANG does not resize its learned position tables (no resize_position_embeddings; the official model has "
        "fixed tables of max_position_embeddings + 1 / + 2 rows)",
    ),
    (r"test_sliding_window_mask", r".*", "no sliding-window attention"),
    (r"test_tp_plan_matches_params", r".*", "no tensor-parallel plan"),
]


def transformers_sdist() -> Path:
    """The sdist of the installed transformers version: `BANG_TRANSFORMERS_SDIST`, else the cached download; a skip
    naming what is missing and how to fetch it when it is not there."""
    if os.environ.get("BANG_TRANSFORMERS_SDIST"):
        sdist = Path(os.environ["BANG_TRANSFORMERS_SDIST"])
        if not sdist.is_file():
            pytest.skip(f"BANG_TRANSFORMERS_SDIST names {sdist}, which is no file")
        return sdist
    sdist = SDIST_CACHE / f"transformers-{transformers.__version__}.tar.gz"
    if not sdist.is_file():
        pytest.skip(
            f"the transformers {transformers.__version__} sdist is not in {SDIST_CACHE} (no network when .ci/install "
            f"ran?); fetch it with `{SDIST_COMMAND}` or set BANG_TRANSFORMERS_SDIST"
        )
    return sdist


def build_suite(root: Path, sdist: Path) -> Path:
    """A `tests` package under `root`: transformers' common test files (from the source checkout in
    `BANG_TRANSFORMERS_TESTS_DIR` where it has them, else from `sdist`), `STUBS` for what neither has, and the BANG
    tester. Returns the tester's path."""
    tests = root / "tests"
    checkout = (
        Path(os.environ["BANG_TRANSFORMERS_TESTS_DIR"]) if os.environ.get("BANG_TRANSFORMERS_TESTS_DIR") else None
    )
    for package in ("", "generation", "exporters", "utils", "models", "models/bang"):
        (tests / package).mkdir(parents=True, exist_ok=True)
        (tests / package / "__init__.py").touch()
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.parts[1:] in [("tests", file) for file in COMMON_FILES]:
                (tests / name.name).write_bytes(archive.extractfile(member).read())
    for relative in (*COMMON_FILES, *STUBS):
        source = checkout / relative if checkout is not None else None
        if source is not None and source.is_file():
            (tests / relative).write_bytes(source.read_bytes())
        elif relative in STUBS:
            (tests / relative).write_text(STUBS[relative])
        elif not (tests / relative).is_file():
            raise FileNotFoundError(f"{sdist} holds no tests/{relative}")
    (tests / "models" / "bang" / "test_modeling_bang.py").write_text(TESTER)
    (root / "conftest.py").write_text(CONFTEST)
    return tests / "models" / "bang" / "test_modeling_bang.py"


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    return build_suite(tmp_path_factory.mktemp("transformers_common"), transformers_sdist())


def run_part(tester: Path, part: str) -> tuple[list[tuple[str, str]], int]:
    """Runs the `part` ("model" or "generation") of the suite; fails on any failure or error. Returns the skips as
    (test name, message) and the number of tests that ran without a skip."""
    root = tester.parents[3]
    report = root / f"{part}.xml"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), "BANG_COMMON_TESTS_PART": part}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(tester)]
    result = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=1200)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    print(f"transformers {transformers.__version__} common tests ({part}) against BANG: {summary}")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    skipped = [
        (case.get("name"), child.get("message", "")) for case in cases for child in case if child.tag == "skipped"
    ]
    return skipped, sum(1 for case in cases if not any(child.tag == "skipped" for child in case))


def unexplained(skipped: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The skips that no `INAPPLICABLE` entry explains."""
    return [
        (name, message)
        for name, message in skipped
        if not any(re.fullmatch(test, name) and re.fullmatch(why, message) for test, why, _ in INAPPLICABLE)
    ]


def test_transformers_model_and_config_tests_pass_against_bang(suite):
    skipped, ran = run_part(suite, "model")
    assert ran >= 80, f"only {ran} of transformers' model and config tests ran"
    leftover = unexplained(skipped)
    assert not leftover, f"skips that INAPPLICABLE does not explain: {leftover}"


def test_transformers_generation_tests_pass_against_bang(suite):
    mixin = suite.parents[2] / "generation" / "test_utils.py"
    if mixin.read_text() == STUBS["generation/test_utils.py"]:
        pytest.skip(
            f"transformers' generation tests (tests/generation/test_utils.py) are not in the transformers "
            f"{transformers.__version__} sdist, the only copy pip can fetch; set BANG_TRANSFORMERS_TESTS_DIR to the "
            f"tests/ folder of a transformers {transformers.__version__} source checkout to run them"
        )
    skipped, ran = run_part(suite, "generation")
    assert ran > 0, "no generation test ran"
    leftover = unexplained(skipped)
    assert not leftover, f"skips that INAPPLICABLE does not explain: {leftover}"


def test_every_inapplicable_entry_explains_the_skips_it_is_for():
    """The skip filter itself: an explained skip passes, a skip with another message (a real SDPA refusal in
    another test) does not."""
    assert unexplained([("test_sdpa_can_dispatch_composite_models", "BangModel does not support SDPA")]) == []
    assert unexplained([("test_cpu_offload", "test requires accelerator")]) == []
    refused = [("test_eager_matches_sdpa_inference_00_fp16", "BangModel does not support SDPA")]
    assert unexplained(refused) == refused
