"""What the Vae chooses per part (decoder, encoder) and size: the attention path and the memory layout, each timed once
on the first call of a size and kept, with results the same as the bare diffusers module's with the same weights; and
a whole image whose estimate is over the free memory goes to tiles at once.

Tolerance 1e-5: the attention paths and the two layouts sum the same products in other orders (float round-off, about
4e-6 here); a real mistake (channels and rows mixed up, a wrong scale) changes values by 0.1 or more."""
from __future__ import annotations

import logging
import resource
from pathlib import Path

import pytest
import torch

from nodes.runtime.demo_model import demo_vae
from nodes.runtime.models import Vae
from nodes.runtime.models.vae_attention import vae_attention_layers
from nodes.runtime.models.vae_layout import LayoutChooser, in_layout, is_channels_last, set_layout
from tests.fixtures.tiny_checkpoints import own_vae
from nodes.runtime.models.vae_tiling import whole_or_tiles

TOLERANCE = 1e-5
CHOOSERS = ("nodes.runtime.models.vae_attention", "nodes.runtime.models.vae_layout")


@pytest.fixture
def vae_and_bare():
    """The demo VAE, whose calls are short enough to skip the layout probe by default: here it always probes."""
    torch.manual_seed(0)
    bare = demo_vae().eval()
    return Vae(module=own_vae(bare), source="demo", layout=LayoutChooser(worth_probing_seconds=0)), bare


def latent(height: int = 8, width: int = 8) -> torch.Tensor:
    return torch.randn(1, 4, height, width, generator=torch.Generator().manual_seed(1))


def image(size: int = 64) -> torch.Tensor:
    return torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(2))


def test_decode_and_encode_give_the_bare_modules_results(vae_and_bare):
    vae, bare = vae_and_bare
    with torch.no_grad():
        expected_image = ((bare.decode(latent()).sample + 1) / 2).clamp(0, 1).movedim(1, -1)
        expected_latent = bare.encode(image().movedim(-1, 1).contiguous() * 2 - 1).latent_dist.mean
    for _ in range(2):  # the first call chooses, the second runs as chosen
        torch.testing.assert_close(vae.decode(latent()), expected_image, rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(vae.encode(image()), expected_latent, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_both_layouts_compute_the_same(vae_and_bare, part):
    module = vae_and_bare[0].module
    sample = latent() if part == "decoder" else image().movedim(-1, 1) * 2 - 1
    run = module.decode if part == "decoder" else (lambda x: module.encode(x).mode())
    results = {}
    with torch.no_grad():
        for channels_last in (False, True):
            set_layout(getattr(module, part), channels_last)
            assert is_channels_last(getattr(module, part)) == channels_last
            results[channels_last] = run(in_layout(sample, channels_last))
    assert results[True].shape == results[False].shape
    torch.testing.assert_close(results[True], results[False], rtol=0, atol=TOLERANCE)


def test_each_part_and_size_is_timed_once_and_its_choice_kept(vae_and_bare, caplog):
    vae, _ = vae_and_bare
    with caplog.at_level(logging.DEBUG, logger=CHOOSERS[0]), caplog.at_level(logging.DEBUG, logger=CHOOSERS[1]):
        vae.decode(latent())
        decoder_layer = vae_attention_layers(vae.module.decoder)[0]
        installed = decoder_layer.path
        vae.decode(latent())
        assert decoder_layer.path == installed  # kept, not timed again
        vae.decode(latent(8, 16))
        vae.encode(image())
        vae.encode(image())
    timed = [record.getMessage() for record in caplog.records if record.name in CHOOSERS]
    attention = [line for line in timed if line.startswith("VAE attention")]
    layout = [line for line in timed if line.startswith("VAE layout")]
    assert len(attention) == len(layout) == 3  # decoder 8x8, decoder 8x16, encoder 64 px
    assert {key[0] for key in vae.attention.choices} == {key[0] for key in vae.layout.choices} == {"decoder", "encoder"}
    assert len(vae.attention.choices) == len(vae.layout.choices) == 3


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_a_first_call_no_larger_than_the_probe_band_uses_the_probes_output(vae_and_bare, part):
    """A small sample is its own probe band: its first call runs the part in both layouts (one or two rounds) and
    returns the chosen layout's output rather than running a third time; later calls give exactly that result."""
    vae, _ = vae_and_bare
    module = getattr(vae.module, part)
    runs = []
    module.register_forward_pre_hook(lambda *_: runs.append(1))
    call = (lambda: vae.decode(latent())) if part == "decoder" else (lambda: vae.encode(image()))

    first = call()
    first_runs = len(runs)
    runs.clear()
    later = call()

    assert first_runs in (2, 4), first_runs  # both layouts per probe round, no extra run for the result
    assert len(runs) == 1
    assert torch.equal(first, later)


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_a_call_too_short_to_be_worth_probing_runs_once_in_channels_last(vae_and_bare, part):
    """A first run under the chooser's threshold is the call's result: contiguous is not timed, the part stays in
    channels-last, and later calls agree."""
    vae, _ = vae_and_bare
    vae.layout = LayoutChooser(worth_probing_seconds=3600)
    module = getattr(vae.module, part)
    runs = []
    module.register_forward_pre_hook(lambda *_: runs.append(1))
    call = (lambda: vae.decode(latent())) if part == "decoder" else (lambda: vae.encode(image()))

    first = call()
    assert len(runs) == 1
    assert list(vae.layout.choices.values()) == [True] and is_channels_last(module)
    torch.testing.assert_close(call(), first, rtol=0, atol=0)


def test_a_band_too_short_to_be_worth_probing_is_run_once_then_the_whole_sample(vae_and_bare):
    """A latent larger than the probe band: the band's one run in channels-last is under its share of the threshold,
    so contiguous is not timed and the call then decodes the whole latent once, in channels-last."""
    vae, _ = vae_and_bare
    vae.layout = LayoutChooser(worth_probing_seconds=3600)
    shapes = []
    vae.module.decoder.register_forward_pre_hook(lambda _module, args: shapes.append(tuple(args[0].shape)))

    vae.decode(latent(32, 32))

    assert shapes == [(1, 4, 8, 32), (1, 4, 32, 32)]  # the band (256 latent pixels at full width), then the call
    assert list(vae.layout.choices.values()) == [True] and is_channels_last(vae.module.decoder)


def test_the_decoder_is_left_in_its_chosen_layout(vae_and_bare):
    vae, _ = vae_and_bare
    vae.decode(latent())
    (chosen,) = vae.layout.choices.values()
    assert is_channels_last(vae.module.decoder) == chosen


@pytest.fixture
def room_of_64_mib():
    """This process may allocate about 64 MiB more (a data-size limit, which the free-memory reading counts)."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc: the data size in use is unknown")
    in_use = next(int(line.split()[1]) * 1024 for line in status.read_text().splitlines() if line.startswith("VmData:"))
    saved = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (in_use + (64 << 20), saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, saved)


def test_a_whole_image_estimated_over_the_free_memory_goes_to_tiles_at_once(room_of_64_mib, caplog):
    ran = []

    def whole():
        ran.append("whole")
        return "whole"

    def tiled():
        ran.append("tiles")
        return "tiles"

    cpu = torch.device("cpu")
    with caplog.at_level(logging.INFO, logger="nodes.runtime.models.vae_tiling"):
        assert whole_or_tiles(whole, tiled, cpu, "decoding", 1 << 30) == "tiles"
        assert whole_or_tiles(whole, tiled, cpu, "decoding", 1 << 20) == "whole"
    assert ran == ["tiles", "whole"]  # the big one never tried whole (no out-of-memory error to recover from)
    assert "in tiles" in caplog.text and "ran out of memory" not in caplog.text


def test_a_checkpoint_loaded_again_decodes_as_chosen_the_first_time_without_timing_again(tiny_sd1, tmp_path, caplog):
    from graph_engine import Folders, using_folders
    from nodes.runtime.loading import load_checkpoint_models

    with using_folders(Folders.under(tmp_path)):
        first = load_checkpoint_models(tiny_sd1.path)[2]
        expected = first.decode(latent(8, 24))
        again = load_checkpoint_models(tiny_sd1.path)[2]
    assert again.module is not first.module
    with caplog.at_level(logging.DEBUG, logger=CHOOSERS[0]), caplog.at_level(logging.DEBUG, logger=CHOOSERS[1]):
        pixels = again.decode(latent(8, 24))
    assert not [record for record in caplog.records if record.name in CHOOSERS]  # the devices' choices, shared
    assert torch.equal(pixels, expected)  # so the same weights give the same bits, as one loaded VAE always does
