"""ComfyUI's V3 dynamic inputs on our canvas: autogrow sockets grow as they are linked and shrink back, a dynamic
combo's option brings its own widgets, and both survive a reload and run on the server."""

import json
import time
import urllib.request

def input_names(canvas, node_id) -> list[str]:
    return canvas.node(node_id).locator("[data-input]").evaluate_all("els => els.map(e => e.dataset.input)")


def widget_names(canvas, node_id) -> list[str]:
    return canvas.node(node_id).locator(".widget[data-widget]").evaluate_all("els => els.map(e => e.dataset.widget)")


def api_prompt(canvas) -> dict:
    return canvas.page.evaluate("""async () => {
        const { api } = await import('/static/api.js');
        const { toWorkflow } = await import('/static/workflow.js');
        return (await api.convertWorkflow(toWorkflow(window.latentloom.graph), 'api')).prompt; }""")


def shown_text(live_server, math, show, timeout: float = 60.0) -> list[str]:
    """PreviewAny's text from the history entry of our prompt (told apart by its expression), once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{live_server.url}/api/history?max_items=50") as response:
            entries = json.loads(response.read()).values()
        for entry in entries:
            node = entry["prompt"][2].get(str(math), {})
            if node.get("inputs", {}).get("expression") == "a * b + 1" and str(show) in entry.get("outputs", {}):
                return entry["outputs"][str(show)]["text"]
        time.sleep(0.1)  # polling the server's record of the run; its arrival is the event waited for
    raise AssertionError("the prompt did not finish")


def test_autogrow_sockets_grow_when_linked_and_the_expression_runs(canvas, live_server):
    canvas.click_action("clear")
    math = canvas.add_node("ComfyMathExpression")
    assert input_names(canvas, math) == ["values.a", "values.b"]  # min 1, plus one free
    first, second = canvas.add_node("PrimitiveFloat"), canvas.add_node("PrimitiveFloat")
    show = canvas.add_node("PreviewAny")
    canvas.place(first, 10, 10)
    canvas.place(second, 10, 200)
    canvas.place(math, 320, 10)
    canvas.place(show, 700, 10)
    canvas.set_widget(first, "value", 3)
    canvas.set_widget(second, "value", 4)
    canvas.connect(first, 0, math, "values.a")
    assert input_names(canvas, math) == ["values.a", "values.b"]
    canvas.connect(second, 0, math, "values.b")
    assert input_names(canvas, math) == ["values.a", "values.b", "values.c"]
    canvas.set_widget(math, "expression", "a * b + 1")
    canvas.connect(math, 0, show, "source")

    prompt = api_prompt(canvas)
    assert prompt[str(math)]["inputs"]["values.a"] == [str(first), 0]
    assert prompt[str(math)]["inputs"]["values.b"] == [str(second), 0]
    canvas.click_action("queue")
    assert shown_text(live_server, math, show) == ["13.0"]

    # unlinking the last one shrinks the free sockets back; the layout survives a reload
    canvas.page.evaluate("id => { const g = window.latentloom.graph; const s = g.nodes.get(id).inputs[1];"
                         " g.disconnect(s.link); window.latentloom.changed(); }", math)
    assert input_names(canvas, math) == ["values.a", "values.b"]
    canvas.reload()
    assert input_names(canvas, math) == ["values.a", "values.b"]
    assert canvas.widget(math, "expression").input_value() == "a * b + 1"


def test_a_dynamic_combo_brings_its_options_widgets_and_keeps_them_over_a_reload(canvas):
    canvas.click_action("clear")
    resize = canvas.add_node("ResizeImageMaskNode")
    assert input_names(canvas, resize) == ["input"]
    widgets = widget_names(canvas, resize)
    assert widgets[:4] == ["resize_type", "resize_type.width", "resize_type.height", "resize_type.crop"]
    assert widgets[-1] == "scale_method"

    canvas.set_widget(resize, "resize_type", "scale by multiplier")
    assert widget_names(canvas, resize) == ["resize_type", "resize_type.multiplier", "scale_method"]
    canvas.set_widget(resize, "resize_type.multiplier", 2.5)
    canvas.reload()
    assert widget_names(canvas, resize) == ["resize_type", "resize_type.multiplier", "scale_method"]
    assert canvas.widget(resize, "resize_type.multiplier").input_value() == "2.5"
    inputs = api_prompt(canvas)[str(resize)]["inputs"]
    assert inputs["resize_type"] == "scale by multiplier" and inputs["resize_type.multiplier"] == 2.5
    assert "resize_type.width" not in inputs
