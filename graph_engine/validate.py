"""Validation: every problem of a workflow in one pass, each naming its node and input."""
from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import reprlib
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

from .errors import InputError, NodeErrors, PromptError
from .estimate import estimate_memory
from .plan import Link, Node, ancestors_of, is_link, run_order
from .registry import NodeRegistry
from .dynamic_inputs import expand_inputs, template_id
from .specs import AUTOGROW, DYNAMIC_COMBO, InputSpec, NodeSpec, OutputSpec, types_compatible

MAX_LISTED_CHOICES = 20  # like ComfyUI, long lists of model files are summarised, not echoed
MAX_SUGGESTIONS = 3
MAX_NAME_SHOWN = 200  # file names are shown whole; only absurd values are cut

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    """The outcome of validating one workflow: checked nodes and a run order, or errors."""

    nodes: dict[str, Node] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    error: PromptError | None = None
    node_errors: dict[str, NodeErrors] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.node_errors

    def to_json(self) -> dict[str, Any]:
        """ComfyUI's /prompt error body: {"error": {...}, "node_errors": {...}}."""
        return {
            "error": self.error.to_json() if self.error else None,
            "node_errors": {nid: ne.to_json() for nid, ne in self.node_errors.items()},
        }

    def lines(self) -> list[str]:
        """One readable line per error; the top-level error only when no node error says more."""
        lines = [line for ne in self.node_errors.values() for line in ne.lines()]
        if not lines and self.error is not None:
            lines.append(self.error.message + (f": {self.error.details}" if self.error.details else ""))
        return lines


def _short(value: Any) -> str:
    """A bounded repr for messages: long or deeply nested values are abbreviated."""
    return reprlib.repr(value)


def _conversion_error(spec: InputSpec, value: Any, why: str) -> InputError:
    return InputError("invalid_input_type", f"Failed to convert an input value to a {spec.type} value",
                      f"{spec.name}, {_short(value)}, {why}", spec.name, {"received_value": value})


def _convert(spec: InputSpec, value: Any) -> tuple[Any, InputError | None]:
    """Convert a literal to the input's declared type, as ComfyUI does, refusing what would be a silent mistake."""
    kind = spec.type
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None, _conversion_error(spec, value, "expected a whole number")
        if isinstance(value, int):
            return value, None
        if isinstance(value, str):
            try:
                return int(value), None
            except ValueError:
                pass  # maybe "4.0"
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None, _conversion_error(spec, value, "expected a whole number")
        if not math.isfinite(number) or number != int(number):
            return None, _conversion_error(spec, value, "expected a finite whole number")
        return int(number), None
    if kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None, _conversion_error(spec, value, "expected a number")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None, _conversion_error(spec, value, "expected a number")
        if not math.isfinite(number):
            return None, _conversion_error(spec, value, "NaN and infinity are not allowed")
        return number, None
    if kind == "STRING":
        if isinstance(value, str):
            return value, None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value), None
        return None, _conversion_error(spec, value, "expected text")
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        return None, _conversion_error(spec, value, "expected true or false")
    return value, None


def _range_error(spec: InputSpec, value: Any) -> InputError | None:
    if spec.type not in ("INT", "FLOAT"):
        return None
    low, high = spec.options.get("min"), spec.options.get("max")
    try:
        if low is not None and value < low:
            return InputError("value_smaller_than_min", f"Value {value} smaller than min of {low}", spec.name, spec.name,
                              {"received_value": value})
        if high is not None and value > high:
            return InputError("value_bigger_than_max", f"Value {value} bigger than max of {high}", spec.name, spec.name,
                              {"received_value": value})
    except TypeError:
        return None  # a plugin declared a non-numeric bound; nothing sensible to compare
    return None


def _choice_error(spec: InputSpec, value: Any) -> InputError | None:
    if value in spec.choices:
        return None
    listed = f"(list of length {len(spec.choices)})" if len(spec.choices) > MAX_LISTED_CHOICES else str(list(spec.choices))
    return InputError("value_not_in_list", "Value not in list", f"{spec.name}: '{value}' not in {listed}", spec.name,
                      {"received_value": value})


def _name_key(text: str) -> str:
    """What a file name is compared by: its last path part without the extension, case ignored (a shared
    '.safetensors' would make every file look alike)."""
    return os.path.splitext(text.rsplit("/", 1)[-1])[0].lower()


def close_choices(value: Any, choices: tuple) -> list[str]:
    """The choices a mistyped value probably meant: the same name in another subfolder or with another extension
    first, then the closest spellings."""
    if not isinstance(value, str) or not value:
        return []
    by_key: dict[str, list[str]] = {}
    for choice in choices:
        if isinstance(choice, str):
            by_key.setdefault(_name_key(choice), []).append(choice)
    wanted = _name_key(value)
    keys = [wanted] if wanted in by_key else []
    keys += difflib.get_close_matches(wanted, list(by_key), n=MAX_SUGGESTIONS, cutoff=0.6)
    found = [choice for key in keys for choice in by_key.get(key, ())]
    return list(dict.fromkeys(found))[:MAX_SUGGESTIONS]


def _explained(error: InputError, spec: NodeSpec, choices: tuple, value: Any) -> InputError:
    """ComfyUI's value_not_in_list, its type and details kept (clients parse them), with a message a beginner can
    act on: the closest choices and the node's CHOICES_HINT (where such values come from, how to add one)."""
    named = repr(value if len(value) <= MAX_NAME_SHOWN else value[:MAX_NAME_SHOWN] + "...") \
        if isinstance(value, str) else _short(value)
    parts = [f"Value not in list: {named}."]
    suggestions = close_choices(value, choices)
    if suggestions:
        parts.append("Did you mean " + " or ".join(f"'{s}'" for s in suggestions) + "?")
    if spec.choices_hint is not None:
        try:
            hint = spec.choices_hint(error.input_name)
        except Exception:  # a plugin's hint must never break validation
            log.warning("CHOICES_HINT of %s failed", spec.class_type, exc_info=True)
            hint = None
        if hint:
            parts.append(str(hint))
    return dataclasses.replace(error, message=" ".join(parts))


class _Checker:
    """Checks the inputs of nodes against their specs; one instance per validation."""

    def __init__(self, prompt: Mapping[str, Any], specs: Mapping[str, NodeSpec], registry: NodeRegistry) -> None:
        self.prompt = prompt
        self.specs = specs
        self.registry = registry
        self.refreshed: set[str] = set()

    def check(self, node_id: str, spec: NodeSpec, inputs: dict[str, Any]) -> tuple[Node, list[InputError]]:
        node = Node(node_id, spec.class_type, spec)
        errors: list[InputError] = []
        received_types: dict[str, str] = {}
        dynamic = spec.has_dynamic_inputs  # most nodes are classic: their sockets are their declared inputs
        for input_spec in (expand_inputs(spec.inputs, inputs) if dynamic else spec.inputs.values()):
            name = input_spec.name
            if input_spec.hidden:
                continue
            node.sockets[name] = input_spec
            if input_spec.type == AUTOGROW:  # only its sockets take values
                continue
            if name not in inputs:
                if input_spec.required:
                    errors.append(InputError("required_input_missing", "Required input is missing", name, name))
                continue
            value = inputs[name]
            if is_link(value):
                error = self._check_link(spec, input_spec, value, node, received_types)
            else:
                error = self._check_constant(spec, input_spec, value, node)
            if error is not None:
                errors.append(error)
        if dynamic:
            errors.extend(_mismatched_templates(node, received_types))
        if spec.validate_params is not None and not errors:
            error = self._custom_validation(spec, node, received_types)
            if error is not None:
                errors.append(error)
        return node, errors

    def _check_link(self, node_spec: NodeSpec, spec: InputSpec, value: Any, node: Node,
                    received_types: dict[str, str]) -> InputError | None:
        if spec.type == DYNAMIC_COMBO:
            return InputError("invalid_input_type", "A dynamic combo must be set to one of its options",
                              f"{spec.name}: its choice decides the node's other inputs, so it cannot come from a "
                              f"link; set it to one of {list(spec.choices)}", spec.name, {"linked_node": value})
        link = Link.of(value)
        if link is None:
            return InputError("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                              f"{spec.name}, {_short(value)}", spec.name, {"linked_node": value})
        source_id, index = link.source, link.index
        if source_id not in self.prompt:
            return InputError("bad_linked_input", f"Linked node {source_id} does not exist",
                              f"{spec.name} <- node {source_id}", spec.name, {"linked_node": [source_id, index]})
        source_spec = self.specs.get(source_id)
        if source_spec is None:
            return None  # the source node's own error already says why
        if not 0 <= index < len(source_spec.outputs):
            return InputError("bad_linked_input",
                              f"Node {source_id} ({source_spec.class_type}) has no output {index}; "
                              f"it has {len(source_spec.outputs)}",
                              f"{spec.name} <- [{source_id}, {index}]", spec.name, {"linked_node": [source_id, index]})
        output = source_spec.outputs[index]
        decides_types = node_spec.validate_params is not None and "input_types" in node_spec.validate_params
        if not decides_types and not types_compatible(output, spec):
            return InputError("return_type_mismatch", "Return type mismatch between linked nodes",
                              f"{spec.name}, received_type({output.type}) mismatch input_type({spec.type})", spec.name,
                              {"received_type": output.type, "linked_node": [source_id, index]})
        received_types[spec.name] = output.type
        node.links[spec.name] = link
        return None

    def _check_constant(self, spec: NodeSpec, input_spec: InputSpec, value: Any, node: Node) -> InputError | None:
        if not input_spec.accepts_constant:
            return InputError("invalid_input_type",
                              f"Input of type {input_spec.type} must be linked to another node's output",
                              f"{input_spec.name}, got the value {_short(value)}", input_spec.name,
                              {"received_value": value})
        value, error = _convert(input_spec, value)
        if error is not None:
            return error
        skip_builtin_checks = spec.validate_params is not None and (
            spec.validate_takes_all or input_spec.name in spec.validate_params)
        if not skip_builtin_checks:
            error = _range_error(input_spec, value)
            if error is None and input_spec.choices is not None:
                error = _choice_error(input_spec, value)
                if error is not None:
                    # the list may name files added since start-up: read it again, once per class and validation;
                    # later nodes of the class check against that fresh list too
                    if spec.class_type not in self.refreshed:
                        self.refreshed.add(spec.class_type)
                        self.registry.refresh(spec.class_type)
                    fresh = self.registry.get(spec.class_type) or spec
                    fresh_input = fresh.inputs.get(input_spec.name)
                    if fresh_input is None or fresh_input.choices is None:
                        fresh_input = input_spec
                    error = _choice_error(fresh_input, value)
                    if error is not None:
                        error = _explained(error, fresh, fresh_input.choices, value)
            if error is not None:
                return error
        node.constants[input_spec.name] = value
        return None

    def _custom_validation(self, spec: NodeSpec, node: Node, received_types: dict[str, str]) -> InputError | None:
        params = spec.validate_params
        kwargs = {k: v for k, v in node.constants.items() if spec.validate_takes_all or k in params}
        # as in ComfyUI, a linked input's value is not known yet: it is passed as None
        kwargs.update({k: None for k in node.links if spec.validate_takes_all or k in params})
        if "input_types" in params:
            kwargs["input_types"] = received_types
        try:
            result = spec.cls.VALIDATE_INPUTS(**kwargs)
        except Exception as exc:
            return InputError("exception_during_validation", "Exception when validating node",
                              f"{type(exc).__name__}: {exc}", None, {"exception_type": type(exc).__name__})
        if result is True:
            return None
        details = "" if result is False else str(result)
        # a check of one input names it, so an editor can mark that input
        named = [k for k in kwargs if k != "input_types"]
        return InputError("custom_validation_failed", "Custom validation failed for node", details,
                          named[0] if len(named) == 1 else None)


def _mismatched_templates(node: Node, received_types: dict[str, str]) -> list[InputError]:
    """The match-type inputs that share a template but receive types no link could join (IMAGE and MASK)."""
    first: dict[str, tuple[str, str]] = {}
    errors = []
    for name, received in received_types.items():
        template = template_id(node.sockets[name])
        if template is None:
            continue
        if template not in first:
            first[template] = (name, received)
            continue
        other, other_type = first[template]
        if not types_compatible(OutputSpec(received, received), InputSpec(other, other_type, "required")):
            errors.append(InputError(
                "return_type_mismatch", "Inputs of one match type receive different types",
                f"{name} receives {received} but {other} receives {other_type}; connect the same type to both",
                name, {"received_type": received}))
    return errors


def _shape_problem(node_id: str, body: Any, registry: NodeRegistry) -> InputError | None:
    """Why a node cannot be part of any run (not an object, no known class_type, inputs not an object), or None.

    Such a problem refuses the whole prompt, as in ComfyUI: the workflow is not what its author thinks it is."""
    if not isinstance(body, dict):
        return InputError("invalid_prompt", "A node must be an object with 'class_type' and 'inputs'",
                          f"Node ID '#{node_id}': got {_short(body)}", None, {"node_id": node_id, "class_type": None})
    class_type = body.get("class_type")
    where = {"node_id": node_id, "class_type": class_type if isinstance(class_type, str) else None}
    if "class_type" not in body:
        return InputError("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                          f"Node ID '#{node_id}'", None, where)
    if not isinstance(class_type, str):
        return InputError("invalid_prompt", "Cannot execute because a node's class_type is not a node type name.",
                          f"Node ID '#{node_id}': class_type is {_short(class_type)}", None, where)
    if registry.get(class_type) is None:
        return InputError("invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                          f"Node ID '#{node_id}': the node type '{class_type}' is not installed; "
                          "it may come from a plugin that is missing from custom_nodes", None, where)
    if not isinstance(body.get("inputs", {}), dict):
        return InputError("invalid_prompt", "A node's 'inputs' must be an object", f"Node ID '#{node_id}'", None,
                          where)
    return None


def _structure(prompt: dict, registry: NodeRegistry, node_errors: dict[str, NodeErrors]) -> tuple[dict, dict]:
    """Check each node's shape and class_type; return (specs, inputs) of the well-formed ones."""
    specs: dict[str, NodeSpec] = {}
    inputs: dict[str, dict] = {}
    for node_id, body in prompt.items():
        problem = _shape_problem(node_id, body, registry)
        if problem is not None:
            node_errors[node_id] = NodeErrors(node_id, problem.extra["class_type"], [problem])
            continue
        specs[node_id] = registry.get(body["class_type"])
        inputs[node_id] = body.get("inputs", {})
    return specs, inputs


def _mark_dependents(outputs: list[str], sources_of: dict, node_errors: dict[str, NodeErrors]) -> list[str]:
    """Record which outputs each failing node blocks; return the outputs that can still run."""
    good = []
    for output in outputs:
        blocked_by = [nid for nid in ancestors_of([output], sources_of) if nid in node_errors]
        for nid in blocked_by:
            node_errors[nid].dependent_outputs.append(output)
        if not blocked_by:
            good.append(output)
    return good


def validate_prompt(prompt: Any, registry: NodeRegistry, memory_budget: int | None = None,
                    targets: Collection[str] | None = None) -> ValidationReport:
    """Validate an API-format prompt; never raises for bad input, the report says what is wrong.

    With `memory_budget` (bytes), nodes whose memory estimate exceeds it are refused (see estimate.py). With
    `targets` (ComfyUI's partial execution), only the output nodes named there and what they need are checked and
    run; other ids in it are ignored, as in ComfyUI (none left: `prompt_no_outputs`)."""
    report = ValidationReport()
    if not isinstance(prompt, dict):
        report.error = PromptError("invalid_prompt", "A workflow must be a JSON object that maps node ids to nodes",
                                   f"got {type(prompt).__name__}")
        return report
    prompt = {str(k): v for k, v in prompt.items()}
    specs, inputs = _structure(prompt, registry, report.node_errors)
    malformed = bool(report.node_errors)  # the other nodes are still checked, so one pass names every problem
    all_sources = _link_sources(prompt)
    sources_of = {nid: [source for source in all_sources[nid] if source in specs] for nid in specs}
    wanted = None if targets is None else set(targets)
    outputs = [nid for nid, spec in specs.items() if spec.output_node and (wanted is None or nid in wanted)]
    needed = ancestors_of(outputs, sources_of)
    needed = [nid for nid in specs if nid in needed]  # prompt order: neighbours in memory, fewer cache misses
    checker = _Checker(prompt, specs, registry)
    for nid in needed:
        node, errors = checker.check(nid, specs[nid], inputs[nid])
        if errors:
            report.node_errors[nid] = NodeErrors(nid, node.class_type, errors)
        else:
            report.nodes[nid] = node
    order, cycle = run_order(needed, sources_of)
    if cycle:
        loop = " -> ".join(cycle + cycle[:1])
        for nid in cycle:
            report.node_errors.setdefault(nid, NodeErrors(nid, specs[nid].class_type)).errors.append(
                InputError("dependency_cycle", "Dependency cycle detected", loop))
    for nid, error in estimate_memory(report.nodes, order, memory_budget).items():
        report.node_errors[nid] = NodeErrors(nid, specs[nid].class_type, [error])
        del report.nodes[nid]
    good = _mark_dependents(outputs, all_sources, report.node_errors) if report.node_errors else outputs
    if malformed:
        good = []  # refused as a whole, even when the broken node feeds no output
    report.outputs = good
    if len(good) < len(outputs):
        order, _ = run_order([nid for nid in needed if nid in ancestors_of(good, sources_of)], sources_of)
    report.order = order
    report.error = _top_level_error(report, outputs, good, targets)
    return report


def _link_sources(prompt: dict[str, Any]) -> dict[str, list[str]]:
    """For every node, the existing node ids its well-formed links point at (known class or not); a malformed link
    is its node's own error and links nothing."""
    sources = {}
    for nid, body in prompt.items():
        node_inputs = body.get("inputs") if isinstance(body, dict) else None
        links = [Link.of(value) for value in node_inputs.values()] if isinstance(node_inputs, dict) else []
        sources[nid] = [link.source for link in links if link is not None and link.source in prompt]
    return sources


def _top_level_error(report: ValidationReport, outputs: list[str], good: list[str],
                     targets: Collection[str] | None) -> PromptError | None:
    structural = [e for ne in report.node_errors.values() for e in ne.errors if e.type == "invalid_prompt"]
    if structural:
        first = structural[0]
        more = f" (and {len(structural) - 1} more malformed or unknown node(s))" if len(structural) > 1 else ""
        return PromptError("invalid_prompt", first.message, first.details + more, dict(first.extra))
    if not outputs and targets is not None:
        return PromptError("prompt_no_outputs", "Prompt has no outputs",
                           f"none of the partial_execution_targets {_short(list(targets))} is an output node of this "
                           "prompt: name the ids of output nodes (those that save or show a result)")
    if not outputs:
        return PromptError("prompt_no_outputs", "Prompt has no outputs",
                           "add an output node (one that saves or shows a result) to the workflow")
    if not good:
        details = "\n".join(line for ne in report.node_errors.values() for line in ne.lines())
        return PromptError("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
    return None



@dataclass
class ExpansionReport:
    """The checked nodes of a graph expansion and an order to run them in, or one readable line per problem."""

    nodes: dict[str, Node] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def validate_expansion(bodies: dict[str, Any], existing: Mapping[str, Node], registry: NodeRegistry) -> ExpansionReport:
    """Check the nodes an expansion adds as a prompt's are checked; their links may also point at `existing` nodes
    (those already in the run)."""
    report = ExpansionReport()
    node_errors: dict[str, NodeErrors] = {}
    specs, inputs = _structure(bodies, registry, node_errors)
    known_specs = ChainMap(specs, {nid: node.spec for nid, node in existing.items()})
    checker = _Checker(ChainMap(bodies, existing), known_specs, registry)
    for nid in specs:
        node, errors = checker.check(nid, specs[nid], inputs[nid])
        if errors:
            node_errors[nid] = NodeErrors(nid, node.class_type, errors)
        else:
            report.nodes[nid] = node
    sources_of = {nid: [link.source for link in node.links.values() if link.source in bodies]
                  for nid, node in report.nodes.items()}
    order, cycle = run_order(list(report.nodes), sources_of)
    report.problems = [line for errors in node_errors.values() for line in errors.lines()]
    if cycle:
        report.problems.append("dependency cycle: " + " -> ".join(cycle + cycle[:1]))
    report.order = order
    return report
