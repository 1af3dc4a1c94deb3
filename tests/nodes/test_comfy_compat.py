"""The ComfyUI compatibility modules answer from Latentloom's real runtime: model folders, input/output folders,
SaveImage's naming, the sampler names, the running node's context, the safe file readers."""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from graph_engine import EventStream, Folders, Interrupted, ModelRoot, NodeContext, using_folders
from graph_engine.context import enter_context, leave_context
from nodes.comfy_compat import MODULES_FOLDER, install_comfy_modules
from nodes.runtime.sampler_names import SAMPLER_NAMES, SCHEDULER_NAMES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def installation(tmp_path):
    """An installation whose folders the shims must answer from: that of the engine loading the plugins."""
    extra = tmp_path / "elsewhere" / "loras"
    extra.mkdir(parents=True)
    folders = Folders.under(tmp_path, extra_model_roots=[ModelRoot("loras", extra, "test"),
                                                         ModelRoot("upscale_models", tmp_path / "sd" / "ESRGAN",
                                                                   "test")])
    folders.create()
    install_comfy_modules(folders)
    import folder_paths

    yield folders, extra
    folder_paths.folder_names_and_paths.clear()


@pytest.fixture
def running_node(installation):
    """A node context as the engine lends one, recording the events the node sends."""
    events, seen = EventStream(), []
    events.subscribe(lambda event, data: seen.append((event, data)))
    context = NodeContext("prompt-1", "7", "PluginNode", events, threading.Event())
    token = enter_context(context)
    yield context, seen
    leave_context(token)


def test_folder_paths_lists_and_finds_models_in_every_root(installation):
    import folder_paths

    folders, extra = installation
    (folders.models / "loras" / "style").mkdir(parents=True)
    (folders.models / "loras" / "style" / "ink.safetensors").write_bytes(b"1")
    (extra / "far.pt").write_bytes(b"2")
    (extra / "readme.txt").write_text("not a model")
    assert folder_paths.models_dir == str(folders.models)
    assert folder_paths.get_folder_paths("loras") == [str(folders.models / "loras"), str(extra)]
    assert folder_paths.get_filename_list("loras") == ["far.pt", "style/ink.safetensors"]
    assert folder_paths.get_full_path("loras", "far.pt") == str(extra / "far.pt")
    assert folder_paths.get_full_path("loras", "missing.safetensors") is None
    (folders.models / "secret.pt").write_bytes(b"3")
    assert folder_paths.get_full_path("loras", "../secret.pt") is None  # outside every loras folder
    assert ".safetensors" in folder_paths.supported_pt_extensions


def test_folder_paths_serves_kinds_latentloom_does_not_load_and_added_folders(installation, tmp_path):
    import folder_paths

    folders, _ = installation
    (folders.models / "upscale_models").mkdir()
    (folders.models / "upscale_models" / "x4.pth").write_bytes(b"1")
    added = tmp_path / "plugin_models"
    added.mkdir()
    (added / "extra.safetensors").write_bytes(b"2")
    folder_paths.add_model_folder_path("upscale_models", str(added))
    assert folder_paths.get_folder_paths("upscale_models") == [  # extra_model_paths.yaml's folders of the kind too
        str(folders.models / "upscale_models"), str(folders.base / "sd" / "ESRGAN"), str(added)]
    assert folder_paths.get_filename_list("upscale_models") == ["extra.safetensors", "x4.pth"]
    assert folder_paths.get_full_path("upscale_models", "extra.safetensors") == str(added / "extra.safetensors")
    with pytest.raises(FileNotFoundError, match="not in the upscale_models folder"):
        folder_paths.get_full_path_or_raise("upscale_models", "absent.pth")

    own = tmp_path / "ipadapter"
    own.mkdir()
    (own / "face.bin").write_bytes(b"3")
    (own / "notes.safetensors").write_bytes(b"4")
    folder_paths.folder_names_and_paths["ipadapter"] = ([str(own)], {".bin"})  # as plugins register their kinds
    assert folder_paths.get_folder_paths("ipadapter") == [str(folders.models / "ipadapter"), str(own)]
    assert folder_paths.get_filename_list("ipadapter") == ["face.bin"]


def test_folder_paths_input_output_temp_and_annotated_names(installation):
    import folder_paths

    folders, _ = installation
    assert folder_paths.get_input_directory() == str(folders.input)
    assert folder_paths.get_output_directory() == str(folders.output)
    assert folder_paths.get_temp_directory() == str(folders.temp)
    assert folder_paths.get_annotated_filepath("cat.png") == str(folders.input / "cat.png")
    assert folder_paths.get_annotated_filepath("cat.png [output]") == str(folders.output / "cat.png")
    assert folder_paths.get_annotated_filepath("cat.png [temp]") == str(folders.temp / "cat.png")
    with pytest.raises(ValueError, match="outside"):
        folder_paths.get_annotated_filepath("../secret.txt [output]")
    (folders.output / "cat.png").write_bytes(b"png")
    assert folder_paths.exists_annotated_filepath("cat.png [output]")
    assert not folder_paths.exists_annotated_filepath("cat.png")


def test_folder_paths_answers_with_the_folders_of_the_engine_calling_plugin_code(installation, tmp_path):
    """A plugin's code inside a node call (or INPUT_TYPES, validation) sees the calling engine's installation; outside
    any engine call, that of the engine that loaded it."""
    import folder_paths

    loaded_by, _ = installation
    calling = Folders.under(tmp_path / "other", input=tmp_path / "pictures")
    with using_folders(calling):
        assert folder_paths.get_input_directory() == str(tmp_path / "pictures")
        assert folder_paths.models_dir == str(tmp_path / "other" / "models")
        assert folder_paths.get_folder_paths("loras") == [str(tmp_path / "other" / "models" / "loras")]
    assert folder_paths.get_input_directory() == str(loaded_by.input)
    assert folder_paths.base_path == str(loaded_by.base)


def test_get_save_image_path_counts_on_as_save_image_does(installation):
    import folder_paths

    output = folder_paths.get_output_directory()
    folder, name, counter, subfolder, prefix = folder_paths.get_save_image_path("shots/cat", output, 64, 64)
    assert (folder, name, counter, subfolder, prefix) == (str(Path(output) / "shots"), "cat", 1, "shots", "shots/cat")
    Path(folder, f"{name}_{counter:05}_.png").write_bytes(b"")
    assert folder_paths.get_save_image_path("shots/cat", output)[2] == 2
    with pytest.raises(ValueError, match="outside the output folder"):
        folder_paths.get_save_image_path("../escape", output)


def test_sampler_names_are_latentloom_s_as_lists():
    install_comfy_modules()
    import comfy.samplers

    assert comfy.samplers.KSampler.SAMPLERS == list(SAMPLER_NAMES)
    assert comfy.samplers.KSampler.SCHEDULERS == list(SCHEDULER_NAMES)
    assert "ddim" not in comfy.samplers.KSAMPLER_NAMES and "euler" in comfy.samplers.KSAMPLER_NAMES


def test_progress_bar_reports_on_the_running_node_and_stops_when_interrupted(running_node):
    import comfy.model_management as mm
    import comfy.utils

    context, seen = running_node
    bar = comfy.utils.ProgressBar(4)
    bar.update(1)
    bar.update_absolute(3, preview=("JPEG", "an image", 512))
    assert [data["value"] for _, data in seen if _ == "progress"] == [1, 3]
    assert seen[0][1] == {"value": 1, "max": 4, "prompt_id": "prompt-1", "node": "7"}
    assert [data["image"] for event, data in seen if event == "preview"] == ["an image"]
    mm.throw_exception_if_processing_interrupted()  # not interrupted: nothing happens
    mm.interrupt_current_processing()
    assert mm.processing_interrupted()
    with pytest.raises(mm.InterruptProcessingException):
        mm.throw_exception_if_processing_interrupted()
    with pytest.raises(Interrupted):
        bar.update(1)
    mm.interrupt_current_processing(False)
    assert not mm.processing_interrupted()


def test_progress_bar_and_interrupts_outside_a_run_do_nothing():
    install_comfy_modules()
    import comfy.model_management as mm
    import comfy.utils

    comfy.utils.ProgressBar(2).update(1)
    mm.interrupt_current_processing()
    mm.throw_exception_if_processing_interrupted()
    assert not mm.processing_interrupted()


def test_devices_are_latentloom_s():
    install_comfy_modules()
    import comfy.model_management as mm
    from nodes.runtime.devices import model_manager

    assert mm.get_torch_device() == model_manager().compute_device
    assert mm.intermediate_device() == torch.device("cpu")
    mm.soft_empty_cache()


def test_load_torch_file_reads_safetensors_and_plain_pickles_and_refuses_code(tmp_path):
    install_comfy_modules()
    from safetensors.torch import save_file

    import comfy.utils

    weights = {"a.weight": torch.arange(6.0).reshape(2, 3)}
    save_file(weights, str(tmp_path / "w.safetensors"), metadata={"ss_network_dim": "4"})
    tensors, metadata = comfy.utils.load_torch_file(str(tmp_path / "w.safetensors"), return_metadata=True)
    assert torch.equal(tensors["a.weight"], weights["a.weight"]) and metadata == {"ss_network_dim": "4"}
    torch.save({"state_dict": weights}, tmp_path / "w.ckpt")
    assert torch.equal(comfy.utils.load_torch_file(str(tmp_path / "w.ckpt"))["a.weight"], weights["a.weight"])
    torch.save({"state_dict": weights, "hook": argparse.Namespace(run="code")}, tmp_path / "code.ckpt")
    with pytest.raises(Exception, match="code.ckpt"):
        comfy.utils.load_torch_file(str(tmp_path / "code.ckpt"), safe_load=False)


def test_common_upscale_resizes_channel_first_samples():
    install_comfy_modules()
    import comfy.utils

    samples = torch.rand(1, 3, 8, 12)
    assert comfy.utils.common_upscale(samples, 6, 4, "bilinear", "disabled").shape == (1, 3, 4, 6)
    assert comfy.utils.common_upscale(samples, 4, 4, "nearest-exact", "center").shape == (1, 3, 4, 4)


def test_conditioning_set_values_copies_and_updates_options():
    install_comfy_modules()
    import node_helpers

    tensor = torch.zeros(1, 2, 3)
    conditioning = [[tensor, {"pooled_output": None, "areas": [1]}]]
    updated = node_helpers.conditioning_set_values(conditioning, {"strength": 0.5, "areas": [2]}, append=True)
    assert updated[0][1] == {"pooled_output": None, "areas": [1, 2], "strength": 0.5} and updated[0][0] is tensor
    assert conditioning[0][1] == {"pooled_output": None, "areas": [1]}


def test_nodes_module_offers_comfyui_names():
    import nodes

    assert nodes.MAX_RESOLUTION == 16384
    assert nodes.KSampler is nodes.NODE_CLASS_MAPPINGS["KSampler"]
    assert nodes.CheckpointLoaderSimple.FUNCTION and nodes.SaveImage.OUTPUT_NODE
    with pytest.raises(AttributeError, match="NoSuchNode"):
        nodes.NoSuchNode


def test_prompt_server_without_a_web_server_accepts_messages_and_routes(caplog):
    install_comfy_modules()
    from server import PromptServer

    instance = PromptServer.instance
    assert instance.client_id is None and instance.app is None and instance.last_node_id is None
    with caplog.at_level("DEBUG", logger="server"):
        instance.send_sync("my.event", {"x": 1})
    assert "my.event" in caplog.text
    sent = []
    instance.attach(None, lambda event, data, sid: sent.append((event, data, sid)), lambda: "client-1")
    try:
        instance.send_sync("my.event", {"x": 2}, instance.client_id)
    finally:
        instance.attach(None, None, lambda: None)
    assert sent == [("my.event", {"x": 2}, "client-1")]


def test_importing_the_modules_loads_no_torch():
    code = (f"import sys; sys.path.insert(0, {str(MODULES_FOLDER)!r}); "
            "import folder_paths, node_helpers, server, comfy.samplers, comfy.sample, comfy.model_management, "
            "comfy.utils, nodes, "
            "comfy.cli_args, comfy_execution.graph_utils, comfy_execution.graph, comfy_extras.nodes_mask, latent_preview; "
            "from graph_engine import Folders; folder_paths.use_plugin_folders(Folders.under('.')); "
            "folder_paths.get_filename_list('checkpoints'); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_bare_import_comfy_gives_its_submodules_and_names_the_missing_ones():
    install_comfy_modules()
    import comfy

    from nodes.comfy_compat.not_offered import AttributeNotOffered

    assert comfy.utils.ProgressBar and comfy.samplers.KSampler and comfy.model_management.get_torch_device
    assert comfy.cli_args.args is not None
    import comfy.utils as utils

    assert comfy.utils is utils
    assert comfy.sd.load_checkpoint_guess_config and comfy.sample.sample and comfy.model_patcher.ModelPatcher
    assert not hasattr(comfy, "hooks") and not hasattr(comfy.model_management, "no_such_function")
    with pytest.raises(AttributeNotOffered, match="^this pack needs comfy.hooks, which Latentloom does not "
                                                  "offer yet$"):
        comfy.hooks
    with pytest.raises(ModuleNotFoundError, match="needs comfy.ldm.flux,"):
        import comfy.ldm.flux  # noqa: F401


def test_comfy_extras_modules_hold_our_nodes_under_comfyui_names():
    install_comfy_modules()
    import importlib

    import nodes

    expected: dict[str, dict[str, type]] = {}
    for name, module in nodes.NODE_PYTHON_MODULES.items():
        if module.startswith("comfy_extras."):
            expected.setdefault(module, {})[name] = nodes.NODE_CLASS_MAPPINGS[name]
    assert "comfy_extras.nodes_mask" in expected and "comfy_extras.nodes_latent" in expected
    for module_name, classes in expected.items():
        module = importlib.import_module(module_name)
        assert module.NODE_CLASS_MAPPINGS == classes
        assert all(getattr(module, name) is cls for name, cls in classes.items())
        assert set(module.NODE_DISPLAY_NAME_MAPPINGS) <= set(classes)
    import comfy_extras

    assert comfy_extras.nodes_mask.InvertMask is nodes.NODE_CLASS_MAPPINGS["InvertMask"]


def test_comfy_extras_nodes_mask_composite_pastes_as_comfyui_s():
    install_comfy_modules()
    from comfy_extras.nodes_mask import composite

    destination = torch.zeros(1, 1, 4, 4)
    source = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[1.0, 0.5], [0.0, 1.0]])
    pasted = composite(destination, source, 1, 2, mask, multiplier=1)
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 2:4, 1:3] = mask
    assert pasted is destination and torch.allclose(pasted, expected)


def test_graph_builder_prefixes_ids_with_the_running_node_s(running_node):
    from comfy_execution.graph_utils import GraphBuilder, add_graph_prefix, is_link

    first, second = GraphBuilder(), GraphBuilder()
    assert (first.prefix, second.prefix) == ("7.0.0.", "7.0.1.")  # the node of running_node is "7"
    a = first.node("Add", a=1, b=2)
    b = first.node("Add", "total", a=a.out(0), b=a.out(0))
    assert first.node("Other", "total") is b and first.lookup_node("1") is a
    b.set_override_display_id("5")
    assert first.finalize() == {
        "7.0.0.1": {"class_type": "Add", "inputs": {"a": 1, "b": 2}},
        "7.0.0.total": {"class_type": "Add", "inputs": {"a": ["7.0.0.1", 0], "b": ["7.0.0.1", 0]},
                        "override_display_id": "5"}}
    first.replace_node_output("1", 0, 9)
    assert b.inputs == {"a": 9, "b": 9}
    b.set_input("a", a.out(0))
    b.set_input("b", a.out(1))
    first.replace_node_output("1", 0, None)
    assert b.inputs == {"b": ["7.0.0.1", 1]}
    first.remove_node("1")
    assert list(first.finalize()) == ["7.0.0.total"]
    assert is_link(["3", 0]) and not is_link(["3", "0"]) and not is_link(("3", 0)) and not is_link([3, 0])
    graph, outputs = add_graph_prefix({"1": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 4}}},
                                      (["1", 0], 5), "p.")
    assert graph == {"p.1": {"class_type": "Add", "inputs": {"a": ["p.2", 0], "b": 4}}} and outputs == (["p.1", 0], 5)
    GraphBuilder.set_default_prefix("parent", 3)
    assert GraphBuilder().prefix == "parent.3.0."


def test_graph_dynamic_prompt_is_the_engine_s():
    install_comfy_modules()
    from comfy_execution.graph import DynamicPrompt

    import graph_engine

    assert DynamicPrompt is graph_engine.DynamicPrompt


def test_cli_args_give_latentloom_s_settings_and_comfyui_s_defaults():
    install_comfy_modules()
    from comfy.cli_args import LatentPreviewMethod, args

    from nodes.runtime.devices import requested_device_settings

    settings = requested_device_settings()
    assert (args.cpu, args.lowvram, args.gpu_only) == (settings.mode == "cpu", settings.mode == "lowvram",
                                                       settings.mode == "gpu_only")
    assert args.force_fp16 == (settings.dtype == "fp16")
    assert args.preview_method == LatentPreviewMethod.Latent2RGB and args.disable_metadata is False
    assert args.port == 8188
    assert not hasattr(args, "no_such_flag")
    with pytest.raises(AttributeError, match="needs comfy.cli_args.args.no_such_flag,"):
        args.no_such_flag


def test_model_management_memory_dtypes_and_loading_through_our_manager():
    install_comfy_modules()
    import comfy.model_management as mm
    from nodes.runtime.devices import model_manager

    free = mm.get_free_memory(torch.device("cpu"))
    assert isinstance(free, int) and free > 0
    free_total, torch_free = mm.get_free_memory(torch.device("cpu"), torch_free_too=True)
    assert free_total > 0 and torch_free == 0
    assert mm.vae_dtype() == mm.unet_dtype() == model_manager().weight_dtype()
    assert mm.unet_offload_device() == model_manager().offload_device
    layer = torch.nn.Linear(3, 2)
    mm.load_models_gpu([layer, "not a model"])
    assert any(entry.name == "Linear" and entry.nbytes == 8 * 4 for entry in model_manager().tracked())
    assert next(layer.parameters()).device.type == model_manager().compute_device.type


def test_latent_preview_callback_reports_progress_with_a_preview(running_node):
    import types

    import latent_preview
    import numpy as np

    from nodes.runtime.models.latent_formats import SD1_FORMAT

    context, seen = running_node
    model = types.SimpleNamespace(model=types.SimpleNamespace(latent_format=SD1_FORMAT))  # ComfyUI's layout
    kept: dict = {}
    callback = latent_preview.prepare_callback(model, 3, kept)
    x0 = torch.linspace(-1, 1, 4 * 2 * 3).reshape(1, 4, 2, 3)
    callback(1, x0, x0 * 2, 3)
    assert kept["x0"] is x0
    (progress,) = [data for event, data in seen if event == "progress"]
    assert (progress["value"], progress["max"]) == (2, 3)
    (preview,) = [data["image"] for event, data in seen if event == "preview"]
    rgb = np.einsum("chw,cr->hwr", x0[0].numpy(), np.array(SD1_FORMAT.rgb_factors))
    expected = np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)
    assert preview.size == (3, 2) and np.abs(np.asarray(preview).astype(int) - expected).max() <= 1


def test_k_diffusion_sampling_offers_the_built_in_samplers_and_their_helpers():
    install_comfy_modules()
    import comfy

    from nodes.comfy_compat.not_offered import AttributeNotOffered
    from nodes.runtime.sampling import SAMPLERS

    sampling = comfy.k_diffusion.sampling
    assert sampling.sample_dpmpp_2m.__wrapped__ is SAMPLERS["dpmpp_2m"]
    with pytest.raises(AttributeNotOffered, match="comfy.k_diffusion.sampling.sample_ddim,"):
        sampling.sample_ddim  # made by ComfyUI's samplers.py, not a k-diffusion function
    x, denoised = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    d = sampling.to_d(x, torch.tensor([2.0, 4.0]), denoised)  # a sigma per sample
    assert torch.equal(d[:, 0, 0, 0], torch.tensor([0.5, 0.25]))
    down, up = sampling.get_ancestral_step(torch.tensor(2.0), torch.tensor(1.0))
    assert torch.isclose(up, torch.tensor(0.75 ** 0.5)) and torch.isclose(down, torch.tensor(0.25 ** 0.5))
    karras = sampling.get_sigmas_karras(3, 0.1, 10.0)
    ramp = torch.linspace(0, 1, 3)
    expected = (10.0 ** (1 / 7) + ramp * (0.1 ** (1 / 7) - 10.0 ** (1 / 7))) ** 7
    assert torch.allclose(karras, torch.cat([expected, torch.zeros(1)]))
    first = sampling.default_noise_sampler(x, seed=5)(None, None)
    assert torch.equal(first, torch.randn(x.shape, generator=torch.Generator().manual_seed(6)))  # seed + 1 on a CPU
