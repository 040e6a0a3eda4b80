"""torch.compile of BANG: the NAR decode is one graph (no graph break, `fullgraph=True`), forward and generate compile.

The tests use dynamo with the `eager` / `aot_eager` backends (the graph capture and, for `aot_eager`, the
functionalised forward and backward graphs, without inductor's code generation, which takes tens of seconds on a
small CPU); the deployment benchmark (`bang-benchmark-deploy`) runs inductor.
"""

import pytest
import torch

from .helpers import random_batch, tiny_model


CANVAS = 7


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def counting_backend():
    """A dynamo backend that counts the graphs it is given and runs them as they are."""
    graphs = []

    def backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    return backend, graphs


def test_nar_decode_is_one_graph_without_break_and_equals_eager():
    """`fullgraph=True` raises on any graph break; the backend sees exactly one graph."""
    model = tiny_model(init_std=0.3)
    backend, graphs = counting_backend()
    compiled = torch.compile(model.nar_decode, fullgraph=True, backend=backend)
    for batch, length, seed in ((3, 9, 1), (3, 9, 2)):
        input_ids, attention_mask, _ = random_batch(model.config, batch=batch, source_len=length, seed=seed)
        with torch.no_grad():
            got = compiled(input_ids, attention_mask, CANVAS)
        assert torch.equal(got, model.nar_decode(input_ids, attention_mask, CANVAS))
    assert len(graphs) == 1


def test_traced_nar_pass_skips_the_value_checks_that_eager_mode_runs():
    """No data-dependent branch in the graph: an id outside the vocabulary is refused in eager mode only."""
    model = tiny_model()
    input_ids, attention_mask, _ = random_batch(model.config)
    bad = input_ids.clone()
    bad[0, 0] = model.config.vocab_size + 5
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.nar_decode(bad, attention_mask, CANVAS)
    backend, graphs = counting_backend()
    compiled = torch.compile(model.nar_decode, fullgraph=True, backend=backend)
    compiled(input_ids, attention_mask, CANVAS)
    host_reads = [
        node.target
        for node in graphs[0].graph.nodes
        if (node.op == "call_method" and node.target in ("item", "tolist", "nonzero", "__bool__"))
        or (node.op == "call_function" and node.target in (torch.nonzero, torch.Tensor.item))
    ]
    assert host_reads == []


def test_compiled_training_forward_and_backward_equal_eager():
    """The n-stream flow (main stream and every predicting stream) with labels, through dynamo and autograd."""
    model = tiny_model(ngram=2).train()
    input_ids, attention_mask, labels = random_batch(model.config)
    eager = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode="ngram")
    eager.loss.backward()
    eager_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    compiled = torch.compile(model, backend="eager")
    out = compiled(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode="ngram")
    out.loss.backward()
    torch.testing.assert_close(out.loss, eager.loss, atol=1e-6, rtol=1e-6)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, eager_grads[name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("decoding_mode", ["ar", "nar", "semi_nar"])
def test_generate_with_a_compiled_model_equals_eager(decoding_mode):
    model = tiny_model(init_std=0.3)
    input_ids, attention_mask, _ = random_batch(model.config)
    settings = {"attention_mask": attention_mask, "decoding_mode": decoding_mode, "max_new_tokens": 4}
    expected = model.generate(input_ids, **settings)
    model.compile(backend="eager", dynamic=True)
    assert torch.equal(model.generate(input_ids, **settings), expected)


def test_static_source_padding_bounds_recompilation_and_changes_no_output():
    """`nar_source_padding=m` pads every source batch to a multiple of m: one static graph serves lengths 5..8."""
    model, reference = tiny_model(init_std=0.3), tiny_model(init_std=0.3)
    backend, graphs = counting_backend()
    model.nar_logits = torch.compile(model.nar_logits, fullgraph=True, dynamic=False, backend=backend)
    for length in (5, 6, 8):
        input_ids, attention_mask, _ = random_batch(model.config, batch=2, source_len=length, seed=length)
        settings = {"attention_mask": attention_mask, "decoding_mode": "nar", "max_new_tokens": CANVAS}
        got = model.generate(input_ids, nar_source_padding=8, **settings)
        assert torch.equal(got, reference.generate(input_ids, **settings)), length
    assert len(graphs) == 1
