"""`models list`, `models verify` and `models install` through the real command line."""
from __future__ import annotations

import json

from tests.cli.test_models_paths import latentloom
from tests.fixtures.hostile_files import write_deeply_nested_safetensors
from tests.fixtures.model_servers import ModelFileServer
from tests.fixtures.tiny_checkpoints import build_sd1, write_kohya_lora


def test_install_then_list_and_verify(tmp_path):
    tiny_sd1 = build_sd1(tmp_path / "built")
    downloads = tmp_path / "downloads"
    lora = write_kohya_lora(downloads / "mychar.safetensors",
                            metadata={"ss_network_dim": "4", "ss_network_alpha": "2", "ss_base_model_version": "sd_v1",
                                      "modelspec.trigger_phrase": "mychar"})
    base = tmp_path / "install"
    base.mkdir()
    for source in (lora, tiny_sd1.path):
        installed = latentloom("models", "install", source, cwd=base)
        assert installed.returncode == 0, installed.stderr
    assert "installed a LoRA for SD1.x" in installed.stdout or "installed a checkpoint" in installed.stdout

    listed = latentloom("models", "list", "--json", cwd=base)
    assert listed.returncode == 0, listed.stderr
    by_folder = {entry["folder"]: entry for entry in json.loads(listed.stdout)}
    assert by_folder["loras"]["training"]["trigger_words"] == ["mychar"]
    assert by_folder["checkpoints"]["model_hash"] == by_folder["checkpoints"]["sha256"][:10]
    assert (by_folder["checkpoints"]["kind"], by_folder["checkpoints"]["architecture"]) == ("checkpoint", "SD1.x")

    table = latentloom("models", "list", "--verbose", "--kind", "lora", cwd=base)
    assert "loras/mychar.safetensors" in table.stdout and "checkpoints/" not in table.stdout
    assert "dim 4, alpha 2.0" in table.stdout and "trigger words: mychar" in table.stdout

    assert latentloom("models", "verify", cwd=base).returncode == 0
    (base / "models" / "vae").mkdir()
    (base / "models" / "vae" / "vae.safetensors").write_bytes(b"<!doctype html><html></html>")
    checked = latentloom("models", "verify", cwd=base)
    assert checked.returncode == 1 and "BAD" in checked.stdout and "web page (HTML)" in checked.stdout

    refused = latentloom("models", "install", write_kohya_lora(tmp_path / "other" / "mychar.safetensors"), cwd=base)
    assert refused.returncode == 1 and "--force" in refused.stderr


def test_install_says_installed_once_and_tells_stated_trigger_words_from_frequent_tags(tmp_path):
    tags = json.dumps({"10_inky": {"ink drawing": 12, "monochrome": 9}, "5_more": {"monochrome": 4}})
    tagged = write_kohya_lora(tmp_path / "src" / "inky.safetensors", metadata={"ss_tag_frequency": tags})
    stated = write_kohya_lora(tmp_path / "src" / "mychar.safetensors",
                              metadata={"modelspec.trigger_phrase": "mychar", "ss_tag_frequency": tags})
    base = tmp_path / "install"
    base.mkdir()
    done = latentloom("models", "install", tagged, cwd=base)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("installed a LoRA") == 1, (done.stdout, done.stderr)
    assert "  most frequent training tags: monochrome, ink drawing" in done.stdout.splitlines()
    assert "trigger" not in done.stdout

    done = latentloom("models", "install", stated, cwd=base)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  trigger words: mychar" in lines and "  most frequent training tags: monochrome, ink drawing" in lines


def test_install_from_a_url_draws_a_progress_bar(tmp_path):
    lora = write_kohya_lora(tmp_path / "src" / "inky.safetensors")
    base = tmp_path / "install"
    base.mkdir()
    with ModelFileServer({"inky.safetensors": lora.read_bytes()}) as files:
        installed = latentloom("models", "install", files.url("inky.safetensors"), cwd=base)
    assert installed.returncode == 0, installed.stderr
    assert "inky.safetensors" in installed.stderr and "100%" in installed.stderr  # tqdm's bar, on stderr
    assert (base / "models" / "loras" / "inky.safetensors").read_bytes() == lora.read_bytes()


def test_a_header_nested_100000_deep_is_named_as_broken_beside_a_good_file(tmp_path):
    """A RecursionError in the header parser used to end both commands with a traceback."""
    base = tmp_path / "install"
    checkpoints = base / "models" / "checkpoints"
    build_sd1(checkpoints, "good.safetensors")
    deep = write_deeply_nested_safetensors(checkpoints / "deep.safetensors")

    listed = latentloom("models", "list", "--json", cwd=base)
    assert listed.returncode == 0, listed.stderr
    by_name = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert (by_name["good.safetensors"]["kind"], by_name["good.safetensors"]["problem"]) == ("checkpoint", None)
    assert "is not a safetensors header: nested too deeply" in by_name["deep.safetensors"]["problem"]
    table = latentloom("models", "list", cwd=base)
    assert table.returncode == 0 and "! checkpoints/deep.safetensors:" in table.stdout, table.stderr

    every, one = latentloom("models", "verify", cwd=base), latentloom("models", "verify", deep, cwd=base)
    for checked in (every, one):
        assert checked.returncode == 1, checked.stderr
        assert f"BAD  {deep}: " in checked.stdout and "nested too deeply" in checked.stdout
        assert "Traceback" not in checked.stderr
    assert any(line.startswith("ok") and "good.safetensors" in line for line in every.stdout.splitlines())
