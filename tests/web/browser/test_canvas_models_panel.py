"""The models panel of the canvas: lists the model folders and installs a file by URL, with progress."""

from tests.fixtures.foreign_models import FLUX1, write_foreign_model
from tests.fixtures.model_servers import ModelFileServer
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.web.browser.canvas_driver import DEMO_CHECKPOINT, open_canvas


def install(canvas, source: str):
    """Types a source into the panel's form, presses Install; returns the locator of that install's final message."""
    panel = canvas.page.locator('[data-testid="models-panel"]')
    before = panel.locator('[data-install-message]').count()
    panel.locator('[data-testid="model-source"]').fill(source)
    panel.locator('[data-testid="model-install"]').click()
    canvas.page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"models-panel\"] [data-install-message]').length > n",
        arg=before, timeout=30000)
    return panel.locator('[data-testid="model-installs"] li').first.locator('[data-install-message]')


def test_models_panel_lists_models_and_installs_a_lora_by_url(chromium, own_server, tmp_path):
    lora = write_kohya_lora(tmp_path / "src" / "inky.safetensors",
                            metadata={"modelspec.trigger_phrase": "inky style, ink"})
    server = own_server("--allow-private-downloads")  # the file server is on loopback
    with ModelFileServer({"inky.safetensors": lora.read_bytes(), "page": b"<!DOCTYPE html><html>"}) as files:
        context, canvas = open_canvas(chromium, server)
        try:
            canvas.click_action("models")
            panel = canvas.page.locator('[data-testid="models-panel"]')
            checkpoint = panel.locator(f'[data-models-folder="checkpoints"] li[data-model="{DEMO_CHECKPOINT}"]')
            checkpoint.wait_for(timeout=10000)
            assert "checkpoint" in checkpoint.inner_text()
            assert panel.locator('[data-testid="model-source"]').get_attribute("placeholder") == (
                "org/repo/file.safetensors or https://…")

            message = install(canvas, files.url("inky.safetensors"))
            assert message.get_attribute("data-install-message") == "done", message.inner_text()
            entry = panel.locator('[data-models-folder="loras"] li[data-model="inky.safetensors"]')
            entry.wait_for(timeout=10000)
            assert entry.locator("[data-model-hint]").inner_text() == "trigger words: inky style, ink"
            assert "SD1" in entry.locator(".model-facts").inner_text()

            # The combos were refreshed: a new LoraLoader offers the file without pressing Refresh.
            node = canvas.add_node("LoraLoader")
            options = canvas.widget(node, "lora_name").locator("option").all_inner_texts()
            assert "inky.safetensors" in options

            failed = install(canvas, files.url("page"))
            assert failed.get_attribute("data-install-message") == "error"
            assert "html" in failed.inner_text().lower()
            assert panel.locator("progress").count() == 0
            assert not canvas.page_errors
        finally:
            context.close()


def test_an_install_that_waits_for_a_free_slot_says_so_until_it_starts(chromium, own_server, tmp_path):
    loras = {f"wait{k}.safetensors": write_kohya_lora(tmp_path / "src" / f"wait{k}.safetensors").read_bytes()
             for k in range(3)}
    server = own_server("--allow-private-downloads")
    with ModelFileServer(loras) as files:
        files.faults.hold_after = 1_000  # the two running installs hold until released; the third waits for a slot
        context, canvas = open_canvas(chromium, server)
        try:
            canvas.click_action("models")
            panel = canvas.page.locator('[data-testid="models-panel"]')
            source = panel.locator('[data-testid="model-source"]')
            for name in loras:
                source.fill(files.url(name))
                panel.locator('[data-testid="model-install"]').click()
                canvas.page.wait_for_function("e => e.value === ''", arg=source.element_handle())  # sent
            assert files.wait_for_held(2)
            waiting = panel.locator("[data-install-waiting]")
            waiting.wait_for(timeout=10000)
            assert waiting.count() == 1
            assert waiting.inner_text() == "Waiting for another install to finish."
            files.release_held()
            canvas.page.wait_for_function(
                "() => document.querySelectorAll('[data-testid=\"models-panel\"] [data-install-message=\"done\"]')"
                ".length === 3", timeout=30000)
            assert waiting.count() == 0 and panel.locator("progress").count() == 0
            assert not canvas.page_errors
        finally:
            context.close()


def test_a_model_of_a_family_latentloom_cannot_run_is_named_in_the_panel_and_on_its_loader(chromium, own_server,
                                                                                          tmp_path):
    write_foreign_model(tmp_path / "models" / "checkpoints" / "flux1-dev.safetensors", FLUX1, checkpoint=True)
    server = own_server()
    context, canvas = open_canvas(chromium, server)
    try:
        canvas.click_action("models")
        panel = canvas.page.locator('[data-testid="models-panel"]')
        entry = panel.locator('[data-models-folder="checkpoints"] li[data-model="flux1-dev.safetensors"]')
        entry.wait_for(timeout=10000)
        assert "FLUX.1" in entry.locator(".model-facts").inner_text()
        said = entry.locator("[data-model-unsupported]").inner_text()
        assert said.startswith("Latentloom cannot run FLUX.1 models")
        assert panel.locator(f'li[data-model="{DEMO_CHECKPOINT}"] [data-model-unsupported]').count() == 0

        loader = canvas.shrink_default_graph()["CheckpointLoaderSimple"]
        canvas.set_widget(loader, "ckpt_name", "flux1-dev.safetensors")
        note = canvas.node(loader).locator('[data-model-note="ckpt_name"]')
        assert note.inner_text() == said
        assert not canvas.page_errors
    finally:
        context.close()
