"""Our CLIP text model computes what transformers' CLIPTextModel(WithProjection) computes from the same weights:
every hidden state and the final one, for OpenAI CLIP (quick_gelu) and OpenCLIP (gelu, projection), several heads."""
from __future__ import annotations

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from nodes.runtime.models.clip_text_model import ClipTextModel

CONFIG = {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 384, "num_hidden_layers": 3,
          "num_attention_heads": 4, "max_position_embeddings": 77, "layer_norm_eps": 1e-5, "projection_dim": 48}


def transformers_names(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """transformers' weights under our names (`text_model.*`, whatever its version), without position ids."""
    return {(name if name.startswith(("text_model.", "text_projection.")) else "text_model." + name): tensor
            for name, tensor in model.state_dict().items() if not name.endswith("position_ids")}


@pytest.mark.parametrize("activation, with_projection", [("quick_gelu", False), ("gelu", True)])
def test_every_hidden_state_equals_transformers(activation, with_projection):
    config = {**CONFIG, "hidden_act": activation}
    torch.manual_seed(0)
    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    theirs = model_class(CLIPTextConfig(**config)).eval()
    ours = ClipTextModel(config, with_projection).eval()
    ours.load_state_dict(transformers_names(theirs), strict=True)
    input_ids = torch.randint(0, 500, (2, 77), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = theirs(input_ids=input_ids, output_hidden_states=True)
        got = ours(input_ids=input_ids, output_hidden_states=True)
    assert len(got.hidden_states) == len(want.hidden_states) == 4
    for got_state, want_state in zip(got.hidden_states, want.hidden_states):
        torch.testing.assert_close(got_state, want_state, rtol=0, atol=1e-6)
    torch.testing.assert_close(got.last_hidden_state, want.last_hidden_state, rtol=0, atol=1e-6)
    assert not torch.allclose(got.hidden_states[-1], got.last_hidden_state, atol=1e-3)  # the final norm is applied
    if with_projection:
        with torch.no_grad():
            torch.testing.assert_close(ours.text_projection(got.last_hidden_state),
                                       theirs.text_projection(want.last_hidden_state), rtol=0, atol=1e-6)


def test_a_folder_config_builds_with_defaults_for_what_it_omits_and_its_metadata_ignored():
    config = {"hidden_size": 64, "num_attention_heads": 1, "num_hidden_layers": 1, "intermediate_size": 128,
              "architectures": ["CLIPTextModel"], "dropout": 0.0, "model_type": "clip_text_model"}
    model = ClipTextModel(config, with_projection=False)
    embeddings = model.text_model.embeddings
    assert (embeddings.token_embedding.num_embeddings, embeddings.position_embedding.num_embeddings) == (49408, 77)
    assert not hasattr(model, "text_projection")


def test_an_unknown_activation_is_refused_naming_it():
    with pytest.raises(ValueError, match="'relu'.*quick_gelu, gelu"):
        ClipTextModel({**CONFIG, "hidden_act": "relu"}, with_projection=False)
