"""Conditioning from the tiny SD1/SDXL checkpoints equals what the raw transformers models give, weighted by hand."""
from __future__ import annotations

import instant_clip_tokenizer
import pytest
import torch

from nodes.runtime.text.encode import HiddenLayer, choose_hidden_layer, encode_chunks, encode_prompt
from nodes.runtime.text.tokens import empty_chunk, tokenize_prompt

BOS, EOS = 49406, 49407


def ids(prompt: str, pad: int = EOS) -> torch.Tensor:
    """The prompt's ids for one chunk, framed and padded independently of the code under test."""
    body = instant_clip_tokenizer.Tokenizer().encode(prompt)
    return torch.tensor([[BOS, *body, EOS] + [pad] * (75 - len(body))])


def raw(model, input_ids):
    with torch.no_grad():
        return model(input_ids=input_ids, output_hidden_states=True)


def projected_at_end(model, out, input_ids: torch.Tensor) -> torch.Tensor:
    """bigG's pooled output by the published rule: the projection of the final state at the end-of-text token (the
    highest id in a row)."""
    with torch.no_grad():
        return model.text_projection(out.last_hidden_state[torch.arange(len(input_ids)), input_ids.argmax(dim=-1)])


def final_norm(model, hidden):
    with torch.no_grad():
        return getattr(model, "text_model", model).final_layer_norm(hidden)


def test_unweighted_prompt_is_the_plain_last_layer(sd1):
    model = sd1.text_encoders[0]
    out = raw(model, ids("a photo of a cat"))
    conditioning = encode_prompt(sd1, "a photo of a cat")
    assert conditioning.hidden.shape == (1, 77, 64)
    torch.testing.assert_close(conditioning.hidden, out.last_hidden_state)
    end = len(instant_clip_tokenizer.Tokenizer().encode("a photo of a cat")) + 1
    torch.testing.assert_close(conditioning.pooled, out.last_hidden_state[:, end])


def test_weighted_tokens_move_away_from_the_empty_prompt(sd1):
    model = sd1.text_encoders[0]
    z = raw(model, ids("a red fox on snow")).last_hidden_state[0]
    z_empty = raw(model, ids("")).last_hidden_state[0]
    weights = torch.ones(77)
    weights[2:4] = 1.5  # "red fox" (one token each)
    weights[5] = 0.5  # "snow"
    expected = torch.where(weights[:, None] != 1, (z - z_empty) * weights[:, None] + z_empty, z)
    got = encode_prompt(sd1, "a (red fox:1.5) on (snow:0.5)").hidden[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    untouched = weights == 1
    torch.testing.assert_close(got[untouched], z[untouched], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[2], z[2], atol=1e-3)


@pytest.mark.parametrize("clip_skip, index, normed", [(-1, -1, True), (-2, -2, True), (-5, -1, True)])
def test_clip_skip_picks_the_layer(sd1, clip_skip, index, normed):
    model = sd1.text_encoders[0]
    out = raw(model, ids("a photo of a cat"))
    assert len(out.hidden_states) == 3  # embeddings + 2 layers
    expected = final_norm(model, out.hidden_states[index]) if normed else out.hidden_states[index]
    torch.testing.assert_close(encode_prompt(sd1, "a photo of a cat", clip_skip=clip_skip).hidden, expected)
    if clip_skip == -2:
        assert not torch.allclose(expected, out.last_hidden_state, atol=1e-3)


def test_clip_skip_must_be_negative(sd1):
    spec = sd1.detected.text_encoders[0]
    assert choose_hidden_layer(spec) == HiddenLayer(-1, True)
    for wrong in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match="negative"):
            choose_hidden_layer(spec, wrong)


def test_long_prompt_concatenates_chunks(sd1):
    model = sd1.text_encoders[0]
    prompt = " ".join(["cat", "dog"] * 50)
    hidden = encode_prompt(sd1, prompt).hidden
    assert hidden.shape == (1, 154, 64)
    first, second = tokenize_prompt(prompt)
    for k, chunk in enumerate((first, second)):
        expected = raw(model, torch.tensor([chunk.tokens])).last_hidden_state[0]
        torch.testing.assert_close(hidden[0, 77 * k:77 * (k + 1)], expected)


def test_weighted_long_prompt_weights_each_chunk_against_the_same_empty_prompt(sd1):
    model = sd1.text_encoders[0]
    prompt = " ".join(["cat"] * 80) + " (dog:2)"
    chunks = tokenize_prompt(prompt)
    hidden = encode_prompt(sd1, prompt).hidden[0]
    z = raw(model, torch.tensor([chunks[1].tokens])).last_hidden_state[0]
    z_empty = raw(model, ids("")).last_hidden_state[0]
    dog = 6  # BOS + 5 cats
    torch.testing.assert_close(hidden[77 + dog], (z[dog] - z_empty[dog]) * 2 + z_empty[dog], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hidden[77:77 + dog], z[:dog], rtol=1e-5, atol=1e-5)


def test_embedding_vectors_act_like_extra_vocabulary(sd1):
    model = sd1.text_encoders[0]
    vectors = torch.randn(2, 64, generator=torch.Generator().manual_seed(5))
    got = encode_prompt(sd1, "a embedding:style cat", embeddings={"clip_l": {"style": vectors}.get}).hidden
    # reference: the vectors appended as two new rows of the token table, addressed by their ids
    embeddings = model.text_model.embeddings
    table = embeddings.token_embedding.weight.detach()
    extended = torch.nn.Embedding.from_pretrained(torch.cat([table, vectors]))
    cat = instant_clip_tokenizer.Tokenizer().encode("cat")[0]
    input_ids = torch.tensor([[BOS, 320, 49408, 49409, cat, EOS] + [EOS] * 71])
    original = embeddings.token_embedding
    embeddings.token_embedding = extended
    try:
        expected = raw(model, input_ids).last_hidden_state
    finally:
        embeddings.token_embedding = original
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="width"):
        encode_prompt(sd1, "embedding:style", embeddings={"clip_l": {"style": torch.zeros(3, 32)}.get})


def test_sdxl_concatenates_both_encoders_and_pools_big_g(sdxl):
    clip_l, clip_g = sdxl.text_encoders
    prompt = "a photo of a cat"
    out_l, out_g = raw(clip_l, ids(prompt, pad=EOS)), raw(clip_g, ids(prompt, pad=0))
    conditioning = encode_prompt(sdxl, prompt)
    assert conditioning.hidden.shape == (1, 77, 128)
    torch.testing.assert_close(conditioning.hidden[..., :64], out_l.hidden_states[-2])  # penultimate, no norm
    torch.testing.assert_close(conditioning.hidden[..., 64:], out_g.hidden_states[-2])
    assert conditioning.pooled.shape == (1, 32)
    torch.testing.assert_close(conditioning.pooled, projected_at_end(clip_g, out_g, ids(prompt, pad=0)))


def test_encode_chunks_without_weights_encodes_no_empty_prompt(sd1):
    calls = []
    model = sd1.text_encoders[0]
    handle = model.register_forward_hook(lambda _m, _args, kwargs, _out: calls.append(kwargs["input_ids"].shape[0]),
                                         with_kwargs=True)
    try:
        encode_chunks(model, tokenize_prompt("a cat"), HiddenLayer(-1, True), empty_chunk(pad=EOS))
        encode_chunks(model, tokenize_prompt("a (cat)"), HiddenLayer(-1, True), empty_chunk(pad=EOS))
    finally:
        handle.remove()
    assert calls == [1, 2]
