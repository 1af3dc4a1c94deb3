"""ComfyUI's text nodes (comfy_extras.nodes_string), run through the engine; expected values written out by hand or
computed with Python's own `re` module (the nodes search with `regex`)."""
from __future__ import annotations

import re
import time

import pytest

from graph_engine import InvalidNodeInput
from graph_engine.estimate import ValueSize
from nodes.utility.json_text import ConvertArrayToString, JsonExtractString
from nodes.utility.strings import replaced_length
from nodes.utility.text_format import MAX_FORMAT_NUMBER, StringFormat
from nodes.utility.text_patterns import RegexExtract, RegexMatch, RegexReplace

TEXT = "  Hello World, hello Moon  "


@pytest.mark.parametrize("mode,expected", [("UPPERCASE", "  HELLO WORLD, HELLO MOON  "),
                                           ("lowercase", "  hello world, hello moon  "),
                                           ("Capitalize", "  hello world, hello moon  "),
                                           ("Title Case", "  Hello World, Hello Moon  ")])
def test_case_converter(runner, mode, expected):
    assert runner.output("CaseConverter", {"string": TEXT, "mode": mode}) == expected
    assert runner.output("CaseConverter", {"string": "dOG cat", "mode": "Capitalize"}) == "Dog cat"


@pytest.mark.parametrize("mode,expected", [("Both", "a b"), ("Left", "a b \n"), ("Right", "\t a b")])
def test_string_trim(runner, mode, expected):
    assert runner.output("StringTrim", {"string": "\t a b \n", "mode": mode}) == expected


@pytest.mark.parametrize("start,end,expected", [(0, 5, "Hello"), (6, 100, "World"), (-5, -1, "Worl"), (3, 1, "")])
def test_string_substring_uses_python_slices(runner, start, end, expected):
    assert runner.output("StringSubstring", {"string": "Hello World", "start": start, "end": end}) == expected


def test_string_contains_and_compare(runner):
    assert runner.output("StringContains", {"string": TEXT, "substring": "WORLD", "case_sensitive": True}) is False
    assert runner.output("StringContains", {"string": TEXT, "substring": "WORLD", "case_sensitive": False}) is True
    compare = {"string_a": "Latent Loom", "case_sensitive": True}
    assert runner.output("StringCompare", {**compare, "string_b": "Latent", "mode": "Starts With"}) is True
    assert runner.output("StringCompare", {**compare, "string_b": "loom", "mode": "Ends With"}) is False
    assert runner.output("StringCompare", {**compare, "string_b": "loom", "mode": "Ends With",
                                           "case_sensitive": False}) is True
    assert runner.output("StringCompare", {**compare, "string_b": "latent loom", "mode": "Equal"}) is False
    assert runner.output("StringCompare", {**compare, "string_b": "latent loom", "mode": "Equal",
                                           "case_sensitive": False}) is True


def test_string_replace_with_an_empty_find_surrounds_every_character_as_comfyui(runner):
    assert runner.output("StringReplace", {"string": "abc", "find": "", "replace": "-="}) == "-=a-=b-=c-="
    sizes = {"string": ValueSize.text(3), "find": ValueSize.text(0), "replace": ValueSize.text(2)}
    assert replaced_length({}, sizes) == len("-=a-=b-=c-=")


def test_string_format_reads_the_connected_values_by_letter(runner):
    inputs = {"f_string": "{a} has {b:.2f} and {c!r} ({b:>8.1f}) {d[x]}"}
    links = {"values.a": "Ann", "values.b": 3.14159, "values.c": "q", "values.d": {"x": [1, 2]}}
    assert runner.output("StringFormat", inputs, links) == "Ann has 3.14 and 'q' (     3.1) [1, 2]"
    assert runner.output("StringFormat", {"f_string": "no fields, {{braces}}"}) == "no fields, {braces}"


@pytest.mark.parametrize("f_string,message", [
    ("{b}", "no input values.b is connected"),
    ("{a.__class__}", "private attribute '__class__'"),
    ("{a:>999999999}", f"at most {MAX_FORMAT_NUMBER:,}"),
    ("{0}", "positional field"),
    ("{a:q}", "cannot be formatted"),
])
def test_string_format_errors_name_the_field(runner, f_string, message):
    assert message in runner.error("StringFormat", {"f_string": f_string}, {"values.a": "text"})


def test_string_format_allows_public_attributes():
    assert StringFormat().execute({"a": 5}, "{a.real}") == ("5",)


@pytest.mark.parametrize("pattern,case_insensitive,expected", [
    (r"w\w+d", True, True), (r"w\w+d", False, False), (r"^moon", True, False), (r"[", True, False)])
def test_regex_match(runner, pattern, case_insensitive, expected):
    inputs = {"string": TEXT, "regex_pattern": pattern, "case_insensitive": case_insensitive, "multiline": False,
              "dotall": False}
    assert runner.output("RegexMatch", inputs) is expected


def test_regex_match_flags():
    match = RegexMatch().execute
    assert match("one\ntwo", "^two", False, True, False) == (True,)
    assert match("one\ntwo", "^two", False, False, False) == (False,)
    assert match("one\ntwo", "one.two", False, False, True) == (True,)
    assert match("one\ntwo", "one.two", False, False, False) == (False,)


SENTENCE = "cat=3, dog=12, bird=, cow=7"


@pytest.mark.parametrize("pattern,mode,group_index,expected", [
    (r"(\w+)=(\d+)", "First Match", 1, "cat=3"),
    (r"\w+=\d+", "All Matches", 1, "cat=3\ndog=12\ncow=7"),
    (r"(\w+)=(\d+)", "All Matches", 1, "cat\ndog\ncow"),  # findall gives the first group of each match
    (r"(\w+)=(\d+)", "First Group", 2, "3"),
    (r"(\w+)=(\d+)", "First Group", 0, "cat=3"),
    (r"(\w+)=(\d+)", "First Group", 3, ""),
    (r"(\w+)=(\d+)", "All Groups", 2, "3\n12\n7"),
    (r"\w+=\d+", "All Groups", 0, ""),  # no group at all: nothing, as in ComfyUI
    (r"(\w+)=(\d+)?,", "All Groups", 2, "3\n12\n"),  # a group that took no part is empty
    (r"(\w+", "First Match", 1, ""),  # not a valid pattern: nothing
    (r"horse", "First Match", 1, ""),
])
def test_regex_extract(runner, pattern, mode, group_index, expected):
    inputs = {"string": SENTENCE, "regex_pattern": pattern, "mode": mode, "case_insensitive": True,
              "multiline": False, "dotall": False, "group_index": group_index}
    assert runner.output("RegexExtract", inputs) == expected


def test_regex_extract_agrees_with_pythons_re():
    text = "A1 b22 C333\nd4444 e"
    for pattern in (r"[a-z](\d+)", r"^\w", r"(\w)(\d)?", r"\d{2,3}"):
        for flags in (0, re.IGNORECASE | re.MULTILINE):
            ignore, multiline = bool(flags & re.IGNORECASE), bool(flags & re.MULTILINE)
            found = re.findall(pattern, text, flags)
            expected = "\n".join(item[0] if isinstance(item, tuple) else item for item in found)
            assert RegexExtract().execute(text, pattern, "All Matches", ignore, multiline, False, 1) == (expected,)
            first = re.search(pattern, text, flags)
            assert RegexExtract().execute(text, pattern, "First Match", ignore, multiline, False, 1) == (
                first.group(0) if first else "",)


def test_regex_replace(runner):
    inputs = {"string": "Cat cat CAT", "regex_pattern": "cat", "replace": "dog"}
    assert runner.output("RegexReplace", inputs) == "dog dog dog"  # the optional inputs' defaults: ignore case
    assert runner.output("RegexReplace", {**inputs, "case_insensitive": False}) == "Cat dog CAT"
    assert runner.output("RegexReplace", {**inputs, "count": 2}) == "dog dog CAT"
    swapped = {"string": "x=1, y=2", "regex_pattern": r"(\w)=(\d)", "replace": r"\2:\g<1>"}
    assert runner.output("RegexReplace", swapped) == re.sub(r"(\w)=(\d)", r"\2:\g<1>", "x=1, y=2") == "1:x, 2:y"


@pytest.mark.parametrize("pattern,replace,message", [
    ("(", "x", "regex_pattern '(' is not a valid regular expression"),
    ("(a)", r"\2", r"replace '\\2' cannot be used with this pattern"),
])
def test_regex_replace_errors_name_the_input(runner, pattern, replace, message):
    assert message in runner.error("RegexReplace", {"string": "a", "regex_pattern": pattern, "replace": replace})


def test_a_pattern_that_backtracks_without_end_is_stopped(monkeypatch):
    import nodes.utility.text_patterns as patterns

    monkeypatch.setattr(patterns, "TIME_LIMIT", 0.2)
    started = time.monotonic()
    for run in (lambda: RegexMatch().execute("x" * 5000, "(x+x+)+y", False, False, False),
                lambda: RegexExtract().execute("x" * 5000, "(x+x+)+y", "All Groups", False, False, False, 1),
                lambda: RegexReplace().execute("x" * 5000, "(x+x+)+y", "")):
        with pytest.raises(InvalidNodeInput, match=r"took more than 0\.2 seconds"):
            run()
    assert time.monotonic() - started < 30


def test_json_extract_string(runner):
    document = '{"name": "Loom", "size": 3, "ok": true, "none": null, "nested": {"a": 1}}'
    expected = {"name": "Loom", "size": "3", "ok": "True", "none": "", "nested": "{'a': 1}", "missing": ""}
    for key, text in expected.items():
        assert runner.output("JsonExtractString", {"json_string": document, "key": key}) == text
    assert runner.output("JsonExtractString", {"json_string": "[1, 2]", "key": "0"}) == ""
    assert runner.output("JsonExtractString", {"json_string": "{not json", "key": "a"}) == ""
    assert JsonExtractString().execute("[" * 100_000, "a") == ("",)


def test_convert_dictionary_and_array_to_string(runner):
    dictionary = {"b": [1, 2], "ä": "ö"}
    assert runner.output("ConvertDictionaryToString", {"indent": 0}, {"dictionary": dictionary}) == \
        '{"b": [1, 2], "ä": "ö"}'
    assert runner.output("ConvertDictionaryToString", {"indent": 2}, {"dictionary": dictionary}) == \
        '{\n  "b": [\n    1,\n    2\n  ],\n  "ä": "ö"\n}'
    assert runner.output("ConvertArrayToString", {"indent": 1}, {"array": [True, None]}) == "[\n true,\n null\n]"


def test_convert_array_refuses_values_json_cannot_hold():
    with pytest.raises(InvalidNodeInput, match="array cannot be written as JSON"):
        ConvertArrayToString().execute([object()], 2)


def test_string_format_from_comfyuis_editor_file(runner):
    """ComfyUI's canvas names the grown inputs values.a, values.b ... on the node: they convert and run."""
    from graph_engine.ui_format import ui_to_api

    editor = {"nodes": [
        {"id": 1, "type": "PrimitiveString", "mode": 0, "inputs": [], "properties": {}, "widgets_values": ["Ada"],
         "outputs": [{"name": "STRING", "type": "STRING", "links": [1]}]},
        {"id": 2, "type": "PrimitiveInt", "mode": 0, "inputs": [], "properties": {}, "widgets_values": [36, "fixed"],
         "outputs": [{"name": "INT", "type": "INT", "links": [2]}]},
        {"id": 3, "type": "StringFormat", "mode": 0, "properties": {}, "widgets_values": ["{a} is {b}"],
         "inputs": [{"name": "values.a", "type": "*", "link": 1}, {"name": "values.b", "type": "*", "link": 2},
                    {"name": "values.c", "type": "*", "link": None}],
         "outputs": [{"name": "STRING", "type": "STRING", "links": [3]}]},
        {"id": 4, "type": "PreviewAny", "mode": 0, "properties": {}, "outputs": [],
         "inputs": [{"name": "source", "type": "*", "link": 3}]}],
        "links": [[1, 1, 0, 3, 0, "STRING"], [2, 2, 0, 3, 1, "INT"], [3, 3, 0, 4, 0, "STRING"]], "version": 0.4}
    prompt = ui_to_api(editor, runner.engine.registry)
    assert prompt["3"]["inputs"] == {"f_string": "{a} is {b}", "values.a": ["1", 0], "values.b": ["2", 0]}
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["4"]["text"] == ["Ada is 36"]
