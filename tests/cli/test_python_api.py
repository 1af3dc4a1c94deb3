"""The Python API through the real parts: a tiny SD1 checkpoint run in-process, a real server for submit, the CLI
and the server for the same validation errors, and the generated stub checked against the registry."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph_engine import NodeRegistry
from latentloom import Workflow, WorkflowFailed, WorkflowInvalid
from latentloom.cli import main as cli_main
from latentloom.python_api.stubs import render_stub
from latentloom.startup import Options
from tests.fixtures.registries import builtin_registry
from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1
from tests.web.conftest import TEST_PLUGIN, start_server
from web.security import PathRedactor

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = "tiny_sd1.safetensors"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A base folder with a tiny SD1 checkpoint and the web tests' plugin (TestFail raises on purpose)."""
    folder = tmp_path_factory.mktemp("python_api")
    build_sd1(folder / "models" / "checkpoints", name=CHECKPOINT, vocab_size=FULL_VOCABULARY)
    (folder / "custom_nodes").mkdir()
    (folder / "custom_nodes" / "latentloom_test_nodes.py").write_text(TEST_PLUGIN)
    return folder


@pytest.fixture(scope="module")
def server(base):
    live = start_server(base)
    yield live
    live.stop()


@pytest.fixture
def wf(base) -> Workflow:
    return Workflow(options=Options(base_dir=base))


def text_to_image(wf: Workflow, *, seed: int = 1, checkpoint: str = CHECKPOINT, steps: int = 2):
    """The default graph, small; returns (checkpoint loader, sampler, save) handles."""
    ckpt = wf.CheckpointLoaderSimple(ckpt_name=checkpoint)
    positive = wf.CLIPTextEncode(text="a glass bottle", clip=ckpt.CLIP)
    negative = wf.CLIPTextEncode(text="watermark", clip=ckpt.CLIP)
    latent = wf.EmptyLatentImage(width=64, height=64, batch_size=1)
    sampler = wf.KSampler(model=ckpt.MODEL, seed=seed, steps=steps, cfg=7.0, sampler_name="euler",
                          scheduler="normal", positive=positive, negative=negative.CONDITIONING,
                          latent_image=latent.LATENT)
    image = wf.VAEDecode(samples=sampler.LATENT, vae=ckpt.VAE)
    save = wf.SaveImage(images=image.IMAGE, filename_prefix="python_api")
    return ckpt, sampler, save


def test_run_in_process_writes_the_image_and_a_new_seed_reuses_the_loaded_checkpoint(wf, base):
    ckpt, sampler, save = text_to_image(wf)
    first = wf.run()
    [path] = first.image_paths(save)
    assert path.parent == base / "output" and path.read_bytes().startswith(b"\x89PNG")
    assert first.images(save)[0]["filename"] == path.name and ckpt.node_id in first.executed

    wf.set_inputs(sampler, seed=2)
    second = wf.run()
    assert ckpt.node_id in second.cached and ckpt.node_id not in second.executed
    assert sampler.node_id in second.executed
    assert second.image_paths(save)[0] != path


def test_outputs_are_attributes_indexes_and_unpack_into_api_format_links(wf):
    model, clip, vae = wf.CheckpointLoaderSimple(ckpt_name=CHECKPOINT)
    loader = model.node
    assert (loader.MODEL.index, loader.CLIP.index, loader[2].index, loader[-1].index) == (0, 1, 2, 2)
    assert [o.type for o in loader] == ["MODEL", "CLIP", "VAE"]
    encode = wf.CLIPTextEncode(text="hi", clip=clip)
    assert "KSampler" in dir(wf) and "CheckpointLoaderSimple" in dir(wf)
    assert {"MODEL", "CLIP", "VAE"} <= set(dir(loader))
    with pytest.raises(AttributeError, match="has no output 'LATENT'; its outputs: 'MODEL', 'CLIP', 'VAE'"):
        loader.LATENT
    with pytest.raises(IndexError, match="has 3 output"):
        loader[3]
    assert wf.to_api() == {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "hi", "clip": ["1", 1]}},
    }
    assert encode.node_id == "2" and vae.link() == ["1", 2]
    latent = wf.EmptyLatentImage(width=64)  # left out: the declared defaults
    assert wf.to_api()[latent.node_id]["inputs"] == {"width": 64, "height": 512, "batch_size": 1}


def test_wrong_connections_and_names_are_refused_at_once(wf):
    ckpt = wf.CheckpointLoaderSimple(ckpt_name=CHECKPOINT)
    with pytest.raises(TypeError, match=r"node 2 \(KSampler\) input 'model' expects MODEL, got CLIP from "
                                        r"<output 1 'CLIP' \(CLIP\) of node 1 \(CheckpointLoaderSimple\)>"):
        wf.KSampler(model=ckpt.CLIP)
    with pytest.raises(TypeError, match="node 2 \\(CLIPTextEncode\\) has no input 'prompt'; its inputs: text, clip"):
        wf.CLIPTextEncode(prompt="hi", clip=ckpt.CLIP)
    with pytest.raises(TypeError, match="has 3 outputs; pass one of them: MODEL, CLIP, VAE"):
        wf.CLIPTextEncode(text="hi", clip=ckpt)
    with pytest.raises(AttributeError, match="no node type 'KSamplr' is registered"):
        wf.KSamplr
    other = Workflow(registry=wf.registry)
    with pytest.raises(ValueError, match="belongs to another Workflow"):
        other.CLIPTextEncode(text="hi", clip=ckpt.CLIP)
    assert list(wf.to_api()) == ["1"]  # refused nodes were not added


def broken_graph(wf: Workflow) -> None:
    """A missing checkpoint file and a step count over the maximum."""
    text_to_image(wf, checkpoint="missing.safetensors", steps=100_000)


def test_validation_errors_are_those_of_the_cli_and_of_the_server(wf, base, server, tmp_path, capsys):
    broken_graph(wf)
    with pytest.raises(WorkflowInvalid) as local:
        wf.run()
    errors = local.value.report.node_errors
    assert [e.type for e in errors["1"].errors] == ["value_not_in_list"]
    assert [(e.type, e.input_name) for e in errors["5"].errors] == [("value_bigger_than_max", "steps")]

    with pytest.raises(WorkflowInvalid) as remote:
        wf.submit(server.url)
    shown = PathRedactor([(base / "models", "models"), (base, ".")])  # the server shows no path of its disk
    assert remote.value.report.to_json() == shown(local.value.report.to_json())
    assert remote.value.report.lines() == shown(local.value.report.lines())
    assert local.value.report.lines() == str(local.value).splitlines()

    workflow_file = tmp_path / "broken.json"
    workflow_file.write_text(json.dumps(wf.to_api()))
    assert cli_main(["run", str(workflow_file), "--base-dir", str(base)]) == 2
    printed = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert printed == local.value.report.lines()


def test_submit_waits_for_the_servers_outputs(wf, base, server):
    _, _, save = text_to_image(wf, seed=7)
    result = wf.submit(server.url, client_id="python-api-test")
    [image] = result.images(save)
    assert image["type"] == "output" and (base / "output" / image["subfolder"] / image["filename"]).is_file()
    with pytest.raises(ValueError, match="ran on a server"):
        result.image_paths(save)
    prompt_id = wf.submit(server.url, wait=False)
    assert isinstance(prompt_id, str) and prompt_id != result.prompt_id


def test_a_failing_node_is_named_in_process_and_on_the_server(wf, server):
    wf.TestFail(message="boom on purpose")
    with pytest.raises(WorkflowFailed, match=r"node 1 \(TestFail\) failed: RuntimeError: boom on purpose"):
        wf.run()
    with pytest.raises(WorkflowFailed, match=r"node 1 \(TestFail\) failed: RuntimeError: boom on purpose"):
        wf.submit(server.url, timeout=60)


def test_an_unreachable_server_is_named():
    wf = Workflow(registry=NodeRegistry())
    with pytest.raises(ConnectionError, match="cannot reach the server at http://127.0.0.1:9/prompt"):
        wf.submit("http://127.0.0.1:9")


def test_the_checked_in_stub_matches_the_registered_built_in_nodes():
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    checked = subprocess.run([sys.executable, "-m", "latentloom.python_api.stubs", "--check"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


class Blend:
    """A plugin-style node: a small combo, a socket input, an input whose name is no identifier."""

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "spec")  # `spec` is a handle attribute: no typed attribute for it
    FUNCTION = "blend"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "mode": (["add", "multiply"],),
                             "amount": ("FLOAT", {"default": 0.5})},
                "optional": {"mask or image": ("IMAGE,MASK",)}, "hidden": {"prompt": "PROMPT"}}

    def blend(self, **inputs):
        return inputs["image"], None


def test_the_stub_types_inputs_choices_links_and_outputs():
    registry = NodeRegistry()
    registry.register("Blend", Blend)
    registry.register("Image Blend", Blend)  # not an identifier: reached with wf.add only
    stub = render_stub(registry)
    assert "class BlendNode(NodeHandle):\n    image: Output[Literal['IMAGE']]\n\n" in stub
    assert ("    def Blend(\n        self,\n        *,\n        image: Output[Literal['IMAGE']],\n"
            "        mode: Literal['add', 'multiply'] | Output[Literal['COMBO']],\n"
            "        amount: float | Output[Literal['FLOAT']] = ...,\n        **inputs: Any,\n    ) -> BlendNode:\n"
            in stub)
    assert "Image Blend" not in stub and "prompt" not in stub
    compile(stub, "builtin_nodes.pyi", "exec")


def test_import_latentloom_stays_light_until_the_api_is_used():
    code = ("import sys, latentloom; assert 'latentloom.python_api' not in sys.modules; "
            "from latentloom import Workflow; print(Workflow.__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "latentloom.python_api.workflow"


def test_dynamic_inputs_take_their_sockets_prompt_keys_and_option_defaults():
    wf = Workflow(registry=builtin_registry())
    text = wf.PrimitiveString(value="x")
    wf.StringFormat(f_string="{a}{c}", **{"values.a": text, "values.c": 3})
    wf.ColorTransfer(method="histogram", source_stats="target_frame")
    with pytest.raises(TypeError, match=r"has no input 'source_stats.size'; its inputs: image_target, image_ref, "
                                        r"method, source_stats, source_stats.target_index, strength"):
        wf.ColorTransfer(method="histogram", source_stats="target_frame", **{"source_stats.size": 1})
    prompt = wf.to_api()
    assert prompt["2"]["inputs"] == {"f_string": "{a}{c}", "values.a": ["1", 0], "values.c": 3}
    assert prompt["3"]["inputs"] == {"method": "histogram", "source_stats": "target_frame",
                                     "source_stats.target_index": 0, "strength": 1.0}
    stub = render_stub(builtin_registry())
    assert "    def ComfyAndNode(self, **inputs: Any) -> ComfyAndNodeNode:" in stub
    compile(stub, "builtin_nodes.pyi", "exec")


def test_set_reaches_the_sockets_of_dynamic_inputs():
    from latentloom.overrides import apply_overrides

    prompt = {"3": {"class_type": "ResizeImageMaskNode", "inputs": {"resize_type": "scale width",
                                                                   "resize_type.width": 64, "scale_method": "area"}},
              "4.1": {"class_type": "StringFormat", "inputs": {"f_string": "{a}"}}}
    registry = builtin_registry()
    assert apply_overrides(prompt, ["3.resize_type.width=96", "4.1.values.a=7"], registry) == []
    assert prompt["3"]["inputs"]["resize_type.width"] == 96 and prompt["4.1"]["inputs"]["values.a"] == 7
    [problem] = apply_overrides(prompt, ["3.resize_type.height=5"], registry)
    assert "has no input 'resize_type.height'" in problem
