"""ComfyUI's own frontend, unchanged, on our server: 1.58.1 (the newest on the registry, from the test extra, by
`serve --front-end comfyui`) and 1.35.9 (by --front-end-root), each on a server of its own. Each loads without a
server error or a page error, opens our SD workflow on a first visit (1.58.1 files our nodes under its core nodes
and the test plugin's under extensions), runs it to the image on Save Image with node progress and live previews,
lists the run with its thumbnail in its job queue, saves a workflow with Ctrl+S that is listed after a reload,
keeps its settings across a reload, and interrupts a run while the sampler shows its progress bar and preview."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.web.browser.canvas_driver import DEMO_CHECKPOINT
from tests.web.browser.comfyui_page import ComfyPage, old_version_root
from tests.web.client import call_json
from tests.web.conftest import prepare_base, start_server, wait_until_up

DEFAULT_WORKFLOW = sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage",
                           "KSampler", "VAEDecode", "SaveImage"])


NEWEST, OLDER = "1.58.1", "1.35.9"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A server for each version, started together: the older one loads ahead while the newer one's tests run."""
    started = {}
    try:
        import comfyui_frontend_package  # noqa: F401
        started[NEWEST] = start_server(prepare_base(tmp_path_factory.mktemp("server")), "--front-end", "comfyui",
                                       wait=False)
    except ImportError:
        pass  # its tests skip, saying why
    if old_version_root() is not None:
        started[OLDER] = start_server(prepare_base(tmp_path_factory.mktemp("older")), "--front-end-root",
                                      str(old_version_root()), wait=False)
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module", params=[NEWEST, OLDER])
def version(request, servers):
    if request.param not in servers:
        pytest.skip(f"ComfyUI's frontend {request.param} is not installed (the test extra and scripts/frontends.sh "
                    "install them)")
    return request.param


@pytest.fixture(scope="module")
def server(servers, version):
    wait_until_up(servers[version], {})
    return servers[version]


@pytest.fixture(scope="module")
def page(chromium, server):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    comfy = ComfyPage(context.new_page(), server.url + "/")
    comfy.open()
    yield comfy
    context.close()
    assert not comfy.page_errors, f"errors on the page: {comfy.page_errors}"
    assert not comfy.server_errors, f"server errors: {comfy.server_errors}"


def test_a_first_visit_opens_our_workflow_and_files_our_nodes_as_core(page, version):
    assert page.node_types() == DEFAULT_WORKFLOW
    assert page.widget("CheckpointLoaderSimple", "ckpt_name") == DEMO_CHECKPOINT
    if version == OLDER:
        return  # its node library does not group nodes by where they come from
    page.page.keyboard.press("n")  # the node library
    page.page.get_by_text("testing", exact=True).wait_for()
    text = page.text().lower()
    core, extensions = text.index("comfy nodes"), text.index("extensions")
    assert core < text.index("\nmodel\n") < extensions and core < text.index("\nimage\n") < extensions
    assert text.index("\ntesting\n") > extensions  # the test plugin's category
    page.page.keyboard.press("n")


def test_run_shows_progress_previews_and_the_image(page, server):
    page.shrink_run(steps=6)
    page.listen()
    server.wait_for_log("loaded ahead of the first run")  # the user presses Run a moment after start-up
    page.run()
    images = page.saved_images()
    assert len(images) == 1 and "Latentloom_" in images[0] and "type=output" in images[0]
    history = call_json(server.url + "/history")[1]
    (prompt_id, entry), = history.items()
    assert entry["status"]["status_str"] == "success"
    seen = page.seen()
    sampler = next(node_id for node_id, node in entry["prompt"][2].items() if node["class_type"] == "KSampler")
    final = seen["progress_state"][-1]
    assert final["prompt_id"] == prompt_id and set(final["nodes"]) == set(entry["prompt"][2])
    assert all(node["state"] == "finished" for node in final["nodes"].values())
    running = [state["nodes"][sampler] for state in seen["progress_state"]
               if state["nodes"].get(sampler, {}).get("state") == "running"]
    assert running and running[-1]["max"] == 6
    assert seen["preview"] and {p["nodeId"] for p in seen["preview"]} == {sampler}
    assert {p["jobId"] for p in seen["preview"]} == {prompt_id} and seen["preview"][0]["type"] == "image/jpeg"
    page.page.get_by_role("button", name="Expand job queue").first.click()  # its job queue (1.58.1 reads /jobs)
    saved_name = parse_qs(urlsplit(images[0]).query)["filename"][0]
    expect(page.page.locator(f"img[src*='filename={saved_name}']").first).to_be_visible()
    expect(page.page.get_by_text(saved_name).first).to_be_visible()
    page.page.get_by_role("button", name="Expand job queue").first.click()


def test_ctrl_s_saves_to_user_data_and_settings_persist(page, server):
    page.page.mouse.click(700, 150)  # the graph has the focus, as after editing it
    page.page.keyboard.press("Control+s")
    name = page.page.get_by_role("textbox").last
    name.fill("my first loom")
    name.press("Enter")
    page.page.get_by_text("my first loom").first.wait_for()
    status, listed = call_json(server.url + "/userdata?dir=workflows")
    assert status == 200 and listed == ["my first loom.json"]
    page.set_setting("Comfy.LinkRenderMode", 1)
    page.reload()
    assert page.setting("Comfy.LinkRenderMode") == 1
    page.page.keyboard.press("w")  # the workflows sidebar
    page.page.get_by_text("my first loom").first.wait_for()
    page.page.keyboard.press("w")


def test_interrupt_stops_the_run(page, server):
    page.shrink_run(size=128, steps=500)
    page.listen()
    page.run()
    # the sampled node carries its progress (the bar LiteGraph draws on it) and the preview the page keeps for it
    page.page.wait_for_function("() => { const n = window.app.graph._nodes.find((n) => n.type === 'KSampler');"
                                " return n.progress > 0 && n.progress < 1"
                                " && n.imgs?.some((image) => image.src.startsWith('blob:')); }", timeout=60000)
    cancel = page.page.get_by_role("button", name="Cancel current run").first
    cancel.click()
    page.page.wait_for_function("() => window.__seen.executing.includes(null)", timeout=60000)
    history = call_json(server.url + "/history")[1]
    interrupted = [entry for entry in history.values()
                   if any(event == "execution_interrupted" for event, _ in entry["status"]["messages"])]
    assert len(interrupted) == 1 and not interrupted[0]["status"]["completed"]
