"""Typed specs of node classes, read once from ComfyUI's classic node interface."""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN"})
ANY_TYPE = "*"
COMBO = "COMBO"
# ComfyUI's V3 dynamic input kinds (graph_engine/dynamic_inputs.py)
AUTOGROW = "COMFY_AUTOGROW_V3"
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
MATCH_TYPE = "COMFY_MATCHTYPE_V3"
HIDDEN_KINDS = frozenset({"PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG"})
SECTIONS = ("required", "optional", "hidden")
SUB_SECTIONS = ("required", "optional")  # those of a dynamic input's template or option
# output types that are loaded models: results costly to load again, which a router sends work towards
MODEL_TYPES = frozenset({"MODEL", "CLIP", "VAE", "CONTROL_NET", "CLIP_VISION", "STYLE_MODEL", "GLIGEN",
                         "UPSCALE_MODEL", "PHOTOMAKER", "AUDIO_ENCODER", "MODEL_PATCH"})
# output types that are data, not models: results one process can hand another (a cluster's workers share them)
PORTABLE_TYPES = frozenset({"LATENT", "IMAGE", "MASK", "CONDITIONING"})
CORE_MODULE = "nodes"  # ComfyUI's python_module for its core nodes; clients group nodes by it


class NodeInterfaceError(ValueError):
    """A node class that does not follow the classic node interface."""


@dataclass(frozen=True)
class InputSpec:
    """One declared input: its socket type, choices (for a combo) and options."""

    name: str
    type: str
    section: str
    choices: tuple | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    declaration: Any = None  # as written in INPUT_TYPES, for /object_info

    @property
    def required(self) -> bool:
        return self.section == "required"

    @property
    def hidden(self) -> bool:
        return self.section == "hidden"

    @property
    def lazy(self) -> bool:
        return bool(self.options.get("lazy", False))

    @property
    def raw_link(self) -> bool:
        """ComfyUI's rawLink: the node receives the link itself, [source id, output index] (loop packs use it to
        find their other end); the source still runs first."""
        return bool(self.options.get("rawLink", False))

    @property
    def accepts_constant(self) -> bool:
        """Widgets, `*` inputs and socketless inputs (a widget of another type, such as COLOR or BOUNDING_BOX) take
        literal values; other socket types only take links."""
        return (self.choices is not None or self.type in WIDGET_TYPES or self.type == ANY_TYPE
                or bool(self.options.get("socketless")) or self.matches_any)

    @property
    def matches_any(self) -> bool:
        """A match-type input whose template allows any type, as `*` does."""
        return self.type == MATCH_TYPE and (self.options.get("template") or {}).get("allowed_types") == ANY_TYPE


@dataclass(frozen=True)
class OutputSpec:
    type: str
    name: str
    is_list: bool = False
    choices: tuple | None = None
    tooltip: str | None = None


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine needs to know about a node class, parsed once."""

    class_type: str
    cls: type
    source: str  # where the class came from, for people (`latentloom nodes`): may name a path on this machine
    display_name: str
    category: str
    description: str
    inputs: Mapping[str, InputSpec]
    input_order: Mapping[str, tuple[str, ...]]
    outputs: tuple[OutputSpec, ...]
    function: str
    output_node: bool = False
    input_is_list: bool = False
    not_idempotent: bool = False
    has_is_changed: bool = False
    validate_params: frozenset[str] | None = None  # None: the class has no VALIDATE_INPUTS
    validate_takes_all: bool = False
    flags: Mapping[str, Any] = field(default_factory=dict)
    python_module: str = CORE_MODULE  # ComfyUI's module name for /object_info: never a path
    # CHOICES_HINT(input_name): where a combo's choices come from and how to add one (e.g. the folder a model file
    # belongs in); validation adds it to a value_not_in_list message. None: the class has none.
    choices_hint: Callable[[str], str | None] | None = None

    @cached_property
    def has_dynamic_inputs(self) -> bool:
        """Whether any input is one of ComfyUI's V3 dynamic kinds (its sockets then depend on the prompt)."""
        return any(s.type in (AUTOGROW, DYNAMIC_COMBO, MATCH_TYPE) for s in self.inputs.values())

    @cached_property
    def outputs_model(self) -> bool:
        """Whether the node declares a model output (MODEL_TYPES): its result is a loaded model."""
        return any(output.type in MODEL_TYPES for output in self.outputs)

    @cached_property
    def outputs_portable(self) -> bool:
        """Whether every output is data of PORTABLE_TYPES (a node with no output is not)."""
        return bool(self.outputs) and all(output.type in PORTABLE_TYPES for output in self.outputs)

    @cached_property
    def hidden_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(s for s in self.inputs.values() if s.hidden)

    @cached_property
    def wants_unique_id(self) -> bool:
        return any(s.type == "UNIQUE_ID" for s in self.hidden_inputs)

    def object_info(self) -> dict[str, Any]:
        """The node's description in the JSON shape of ComfyUI's /object_info."""
        sections: dict[str, dict[str, Any]] = {}
        for spec in self.inputs.values():
            sections.setdefault(spec.section, {})[spec.name] = copy.deepcopy(spec.declaration)
        info: dict[str, Any] = {
            "input": sections,
            "input_order": {k: list(v) for k, v in self.input_order.items()},
            "output": [list(o.choices) if o.choices is not None else o.type for o in self.outputs],
            "output_is_list": [o.is_list for o in self.outputs],
            "output_name": [o.name for o in self.outputs],
            "name": self.class_type,
            "display_name": self.display_name,
            "description": self.description,
            "python_module": self.python_module,
            "category": self.category,
            "output_node": self.output_node,
            "is_input_list": self.input_is_list,
        }
        tooltips = [o.tooltip for o in self.outputs]
        if any(t is not None for t in tooltips):
            info["output_tooltips"] = tooltips
        for flag in ("deprecated", "experimental"):
            if self.flags.get(flag):
                info[flag] = True
        return info


def _type_and_choices(declared: Any, where: str) -> tuple[str, tuple | None]:
    if isinstance(declared, str):
        return declared, None
    if isinstance(declared, (list, tuple)):
        return COMBO, tuple(declared)
    raise NodeInterfaceError(f"{where}: the type must be a string or a list of choices, got {declared!r}")


def parse_input(name: str, section: str, declaration: Any, where: str) -> InputSpec:
    """One INPUT_TYPES entry as an InputSpec (a dynamic combo's choices are its option keys)."""
    if not isinstance(name, str):
        raise NodeInterfaceError(f"{where}: input name {name!r} is not a string")
    if section == "hidden":
        if not isinstance(declaration, str):
            if isinstance(declaration, (list, tuple)) and declaration and isinstance(declaration[0], str):
                return InputSpec(name, declaration[0], section, None, {}, declaration)
            raise NodeInterfaceError(f"{where}: hidden input {name!r} must name a kind such as 'PROMPT'")
        return InputSpec(name, declaration, section, None, {}, declaration)
    if not isinstance(declaration, (list, tuple)) or not declaration:
        raise NodeInterfaceError(f"{where}: input {name!r} must be a tuple (TYPE,) or (TYPE, options)")
    type_, choices = _type_and_choices(declaration[0], f"{where}: input {name!r}")
    options = declaration[1] if len(declaration) > 1 else {}
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise NodeInterfaceError(f"{where}: options of input {name!r} must be a dict, got {type(options).__name__}")
    if type_ == COMBO and isinstance(options.get("options"), (list, tuple)):
        choices = tuple(options["options"])  # the newer ("COMBO", {"options": [...]}) spelling
    if type_ == DYNAMIC_COMBO:
        if not isinstance(options.get("options"), (list, tuple)) or not all(
                isinstance(option, Mapping) and "key" in option for option in options["options"]):
            raise NodeInterfaceError(f"{where}: dynamic combo {name!r} needs 'options', a list of "
                                     "{'key': ..., 'inputs': {...}}")
        choices = tuple(option["key"] for option in options["options"])
    spec = InputSpec(name, type_, section, choices, dict(options), declaration)
    if type_ == AUTOGROW:
        _check_autogrow(spec, where)
    return spec


def template_entry(declared: InputSpec) -> tuple[str, str, Any] | None:
    """(section, short name, declaration) of an autogrow input's template socket; None when it declares none."""
    template = declared.options.get("template")
    sections = template.get("input") if isinstance(template, Mapping) else None
    for section in SUB_SECTIONS if isinstance(sections, Mapping) else ():
        entries = sections.get(section)
        for name, declaration in entries.items() if isinstance(entries, Mapping) else ():
            return section, name, declaration
    return None


def _check_autogrow(spec: InputSpec, where: str) -> None:
    template = spec.options.get("template")
    counts = ("min", "max") if isinstance(template, Mapping) and "prefix" in template else ("min",)
    if (not isinstance(template, Mapping) or template_entry(spec) is None
            or not isinstance(template.get("names", []), (list, tuple))
            or not all(isinstance(template.get(key, 1), int) for key in counts)):
        raise NodeInterfaceError(f"{where}: autogrow input {spec.name!r} needs a 'template' with one 'input' and "
                                 "'names' or a 'prefix' (whole-number 'min', 'max')")


def read_input_types(cls: type, where: str) -> tuple[dict[str, InputSpec], dict[str, tuple[str, ...]]]:
    """Call INPUT_TYPES once and turn its dict into input specs in declaration order."""
    input_types = getattr(cls, "INPUT_TYPES", None)
    if not callable(input_types):
        raise NodeInterfaceError(f"{where}: INPUT_TYPES is missing or not a classmethod")
    try:
        declared = input_types()
    except Exception as exc:  # a plugin's own bug: report it as an interface error
        raise NodeInterfaceError(f"{where}: INPUT_TYPES() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(declared, Mapping):
        raise NodeInterfaceError(f"{where}: INPUT_TYPES() must return a dict, got {type(declared).__name__}")
    inputs: dict[str, InputSpec] = {}
    order: dict[str, tuple[str, ...]] = {}
    for section, entries in declared.items():
        if section not in SECTIONS:
            raise NodeInterfaceError(f"{where}: INPUT_TYPES() has unknown section {section!r}")
        if not isinstance(entries, Mapping):
            raise NodeInterfaceError(f"{where}: INPUT_TYPES()[{section!r}] must be a dict")
        for name, declaration in entries.items():
            inputs[name] = parse_input(name, section, declaration, where)
        order[section] = tuple(entries.keys())
    return inputs, order


def _read_outputs(cls: type, where: str) -> tuple[OutputSpec, ...]:
    return_types = getattr(cls, "RETURN_TYPES", None)
    if not isinstance(return_types, (tuple, list)):
        raise NodeInterfaceError(f"{where}: RETURN_TYPES must be a tuple of type names")
    count = len(return_types)
    names = getattr(cls, "RETURN_NAMES", None)
    is_list = getattr(cls, "OUTPUT_IS_LIST", None)
    tooltips = getattr(cls, "OUTPUT_TOOLTIPS", None)
    for attr, value in (("RETURN_NAMES", names), ("OUTPUT_IS_LIST", is_list), ("OUTPUT_TOOLTIPS", tooltips)):
        if value is not None and (not isinstance(value, (tuple, list)) or len(value) != count):
            raise NodeInterfaceError(f"{where}: {attr} must have one entry per RETURN_TYPES entry ({count})")
    outputs = []
    for i, declared in enumerate(return_types):
        type_, choices = _type_and_choices(declared, f"{where}: RETURN_TYPES[{i}]")
        name = names[i] if names is not None else (type_ if choices is None else COMBO)
        outputs.append(OutputSpec(
            type=type_, name=str(name), is_list=bool(is_list[i]) if is_list is not None else False,
            choices=choices, tooltip=tooltips[i] if tooltips is not None else None))
    return tuple(outputs)


def _validate_signature(cls: type) -> tuple[frozenset[str] | None, bool]:
    validate = getattr(cls, "VALIDATE_INPUTS", None)
    if validate is None:
        return None, False
    try:
        parameters = inspect.signature(validate).parameters.values()
    except (TypeError, ValueError):
        return frozenset(), True
    names = frozenset(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "cls", "s"))
    takes_all = any(p.kind == p.VAR_KEYWORD for p in parameters)
    return names, takes_all


def spec_from_class(class_type: str, cls: Any, *, display_name: str | None = None, source: str = "built-in",
                    python_module: str = CORE_MODULE) -> NodeSpec:
    """Read a classic ComfyUI node class into a NodeSpec, or raise NodeInterfaceError saying what is wrong.

    `source` tells people where the class came from; `python_module` is what ComfyUI clients see."""
    where = f"node {class_type!r}"
    if not isinstance(class_type, str) or not class_type:
        raise NodeInterfaceError(f"node name {class_type!r} must be a non-empty string")
    if not inspect.isclass(cls):
        raise NodeInterfaceError(f"{where}: NODE_CLASS_MAPPINGS must map to a class, got {type(cls).__name__}")
    inputs, order = read_input_types(cls, where)
    outputs = _read_outputs(cls, where)
    function = getattr(cls, "FUNCTION", None)
    if not isinstance(function, str) or not callable(getattr(cls, function, None)):
        raise NodeInterfaceError(f"{where}: FUNCTION must name a method of the class, got {function!r}")
    validate_params, validate_takes_all = _validate_signature(cls)
    category = getattr(cls, "CATEGORY", "sd")
    choices_hint = getattr(cls, "CHOICES_HINT", None)
    return NodeSpec(
        class_type=class_type,
        cls=cls,
        source=source,
        display_name=str(display_name or getattr(cls, "DISPLAY_NAME", None) or class_type),
        category=str(category),
        description=str(getattr(cls, "DESCRIPTION", "") or ""),
        inputs=inputs,
        input_order=order,
        outputs=outputs,
        function=function,
        output_node=getattr(cls, "OUTPUT_NODE", False) is True,
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)),
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        has_is_changed=callable(getattr(cls, "IS_CHANGED", None)),
        validate_params=validate_params,
        validate_takes_all=validate_takes_all,
        flags={"deprecated": bool(getattr(cls, "DEPRECATED", False)), "experimental": bool(getattr(cls, "EXPERIMENTAL", False))},
        python_module=python_module,
        choices_hint=choices_hint if callable(choices_hint) else None,
    )


def types_compatible(received: OutputSpec, expected: InputSpec) -> bool:
    """ComfyUI's link rule: `*` matches anything, comma lists match on any shared name, combos only combos; a
    match-type input takes its template's allowed types, a match-type output (whose type the node's inputs decide)
    goes anywhere, as in ComfyUI."""
    if received.type in (ANY_TYPE, MATCH_TYPE) or expected.type == ANY_TYPE:
        return True
    if expected.type == MATCH_TYPE:
        allowed = str((expected.options.get("template") or {}).get("allowed_types", ANY_TYPE))
        return types_compatible(received, InputSpec(expected.name, allowed, expected.section))
    if expected.type == COMBO or received.type == COMBO:
        return expected.type == received.type
    if received.type == expected.type:
        return True
    return bool({t.strip() for t in received.type.split(",")} & {t.strip() for t in expected.type.split(",")})
