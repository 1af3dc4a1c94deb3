"""CLIPTextEncodeSDXL and its refiner node on the tiny SDXL checkpoint, against the raw transformers encoders."""
from __future__ import annotations

import instant_clip_tokenizer
import pytest
import torch

from graph_engine import Engine, Folders, InvalidNodeInput
from nodes.diffusion.sdxl_text import CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner
from nodes.diffusion.text import MAX_PROMPT_CHARACTERS, CLIPTextEncode
from nodes.runtime.guidance import read_conditioning
from nodes.runtime.models.text_encoders import TextEncoders
from tests.fixtures.registries import builtin_registry

BOS, EOS = 49406, 49407


def chunk_ids(prompt: str, pad: int) -> torch.Tensor:
    """The prompt's ids in rows of 75 tokens framed by BOS/EOS and padded (one-token words: no word is split)."""
    body = instant_clip_tokenizer.Tokenizer().encode(prompt)
    rows = [body[i:i + 75] for i in range(0, max(len(body), 1), 75)]
    return torch.tensor([[BOS, *row, EOS] + [pad] * (75 - len(row)) for row in rows])


def penultimate(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    return out.hidden_states[-2].reshape(1, -1, out.hidden_states[-2].shape[-1]), out


def clip_of(checkpoint) -> TextEncoders:
    return TextEncoders(text_encoders=tuple(checkpoint.text_encoders), detected=checkpoint.detected, source="tiny")


def test_each_encoder_reads_its_own_text_and_the_shorter_is_padded_with_empty_chunks(sdxl):
    clip_l, clip_g = sdxl.text_encoders
    text_l, text_g = " ".join(["cat", "dog"] * 50), "a photo of a cat"  # two chunks for CLIP-L, one for bigG
    (conditioning,) = CLIPTextEncodeSDXL().encode(clip_of(sdxl), 832, 1216, 16, 32, 1024, 960, text_g, text_l)
    hidden, options = conditioning[0]
    expected_l, _ = penultimate(clip_l, chunk_ids(text_l, pad=EOS))
    ids_g = torch.cat([chunk_ids(text_g, pad=0), chunk_ids("", pad=0)])
    expected_g, out_g = penultimate(clip_g, ids_g)
    assert hidden.shape == (1, 154, 128)
    torch.testing.assert_close(hidden[..., :64], expected_l)
    torch.testing.assert_close(hidden[..., 64:], expected_g)
    with torch.no_grad():  # the first chunk of text_g, projected at its end-of-text token (the highest id)
        pooled = clip_g.text_projection(out_g.last_hidden_state[0, ids_g[0].argmax()])
    torch.testing.assert_close(options["pooled_output"], pooled[None])
    assert {k: options[k] for k in ("width", "height", "crop_w", "crop_h", "target_width", "target_height")} == {
        "width": 832, "height": 1216, "crop_w": 16, "crop_h": 32, "target_width": 1024, "target_height": 960}
    # Guidance hands SDXL's UNet [height, width, crop top, crop left, target height, target width].
    time_ids = read_conditioning(conditioning, "positive")[0].time_ids(512, 512)
    assert time_ids.tolist() == [[1216, 832, 32, 16, 960, 1024]]


def test_the_same_text_for_both_encoders_is_clip_text_encode_with_sizes(sdxl):
    clip = clip_of(sdxl)
    ((plain, plain_options),) = CLIPTextEncode().encode(clip, "a red fox")[0]
    ((both, _),) = CLIPTextEncodeSDXL().encode(clip, 1024, 1024, 0, 0, 1024, 1024, "a red fox", "a red fox")[0]
    torch.testing.assert_close(both, plain)
    ((refined, options),) = CLIPTextEncodeSDXLRefiner().encode(clip, 2.5, 768, 640, "a red fox")[0]
    torch.testing.assert_close(refined, plain)
    torch.testing.assert_close(options["pooled_output"], plain_options["pooled_output"])
    assert (options["aesthetic_score"], options["width"], options["height"]) == (2.5, 768, 640)


def test_an_sd1_clip_is_refused_with_what_to_use(sd1):
    with pytest.raises(InvalidNodeInput, match="use CLIPTextEncode"):
        CLIPTextEncodeSDXL().encode(clip_of(sd1), 1024, 1024, 0, 0, 1024, 1024, "a", "b")
    with pytest.raises(InvalidNodeInput, match="no text encoder"):
        CLIPTextEncodeSDXLRefiner().encode(None, 6.0, 1024, 1024, "a")


class ClipSource:
    """A CLIP output for graphs that are only validated."""

    CATEGORY = "tests"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        raise AssertionError("only validated")


@pytest.mark.parametrize("node, text_input", [("CLIPTextEncodeSDXL", "text_l"), ("CLIPTextEncodeSDXL", "text_g"),
                                              ("CLIPTextEncodeSDXLRefiner", "text")])
def test_a_prompt_over_the_cap_is_refused_before_the_run_by_its_input(tmp_path, node, text_input):
    folders = Folders.under(tmp_path)
    engine = Engine(builtin_registry(folders, {"ClipSource": ClipSource}), folders)
    inputs = {"clip": ["clip", 0], "width": 1024, "height": 1024}
    inputs.update({"crop_w": 0, "crop_h": 0, "target_width": 1024, "target_height": 1024, "text_g": "a", "text_l": "b"}
                  if node == "CLIPTextEncodeSDXL" else {"ascore": 6.0, "text": "c"})
    inputs[text_input] = "x" * (MAX_PROMPT_CHARACTERS + 1)
    prompt = {"clip": {"class_type": "ClipSource", "inputs": {}}, "encode": {"class_type": node, "inputs": inputs},
              "zero": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["encode", 0]}},
              "show": {"class_type": "PreviewAny", "inputs": {"source": ["zero", 0]}}}
    report = engine.validate(prompt)
    assert [(e.type, e.input_name) for e in report.node_errors["encode"].errors] == [("input_too_large", text_input)]
    inputs[text_input] = "fine"
    assert engine.validate(prompt).ok
