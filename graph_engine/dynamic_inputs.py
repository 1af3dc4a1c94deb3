"""ComfyUI's newer ("V3") dynamic input kinds, declared in INPUT_TYPES as ComfyUI's /object_info shows them.

- COMFY_AUTOGROW_V3: sockets grown from a template, named from a list (`values.a`, `values.b` ...) or a prefix
  (`images.image0` ...); the first `min` are required. The node receives one dict of the connected ones by short name.
- COMFY_DYNAMICCOMBO_V3: a combo whose chosen option brings its own inputs (`resize_type.width` ...). The node
  receives one dict: the chosen key under the combo's own name, and the option's inputs by short name.
- COMFY_MATCHTYPE_V3: a socket that takes any of its template's `allowed_types`; the inputs sharing a template
  must receive one type.

A prompt names every socket by its dotted key; `expand_inputs` turns a node's declared inputs into the sockets
a given prompt node has, and `nested_arguments` gathers the dotted values into the dicts the node receives.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from .specs import AUTOGROW, DYNAMIC_COMBO, MATCH_TYPE, SUB_SECTIONS, InputSpec, parse_input, template_entry

def autogrow_names(declared: InputSpec) -> tuple[str, ...]:
    """The short names an autogrow input's sockets may take, in order."""
    template = declared.options.get("template") or {}
    if "names" in template:
        return tuple(str(name) for name in template["names"])
    return tuple(f"{template.get('prefix', '')}{index}" for index in range(int(template.get("max", 10))))


def autogrow_sockets(declared: InputSpec) -> list[InputSpec]:
    """Every socket an autogrow input may grow, named by its prompt key; the first `min` required."""
    section, _, declaration = template_entry(declared)
    minimum = int((declared.options.get("template") or {}).get("min", 1))
    required = declared.required and section == "required"
    return [parse_input(f"{declared.name}.{name}", "required" if required and index < minimum else "optional",
                        declaration, f"input {declared.name!r}")
            for index, name in enumerate(autogrow_names(declared))]


def option_sockets(declared: InputSpec, key: Any) -> list[InputSpec] | None:
    """The inputs the dynamic combo's option `key` brings, named by their prompt keys; None for an unknown key."""
    for option in declared.options.get("options") or ():
        if isinstance(option, Mapping) and option.get("key") == key:
            sections = option.get("inputs") if isinstance(option.get("inputs"), Mapping) else {}
            entries = [(section, sections[section]) for section in SUB_SECTIONS
                       if isinstance(sections.get(section), Mapping)]
            return [parse_input(f"{declared.name}.{name}",
                                section if declared.required else "optional", declaration, f"input {declared.name!r}")
                    for section, declared_inputs in entries for name, declaration in declared_inputs.items()]
    return None


def expand_inputs(inputs: Mapping[str, InputSpec] | list[InputSpec], given: Mapping[str, Any]) -> Iterator[InputSpec]:
    """The sockets a prompt node with inputs `given` has, in order: classic inputs as declared, an autogrow input
    followed by each socket it may grow, a dynamic combo followed by the inputs of the option it is set to."""
    for declared in (inputs.values() if isinstance(inputs, Mapping) else inputs):
        yield declared
        if declared.type == AUTOGROW:
            yield from expand_inputs(autogrow_sockets(declared), given)
        elif declared.type == DYNAMIC_COMBO:
            chosen = option_sockets(declared, given.get(declared.name))
            yield from expand_inputs(chosen or [], given)


def template_id(declared: InputSpec) -> str | None:
    return (declared.options.get("template") or {}).get("template_id") if declared.type == MATCH_TYPE else None


def nested_arguments(sockets: Mapping[str, InputSpec], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's keyword arguments as the node receives them: a dynamic input's dotted values gathered into one dict
    (ComfyUI's build_nested_inputs); an autogrow input with nothing connected gets an empty dict."""
    if not any(declared.type in (AUTOGROW, DYNAMIC_COMBO) for declared in sockets.values()):
        return kwargs
    arguments: dict[str, Any] = {}
    for key, declared in sockets.items():
        if declared.type == AUTOGROW:
            _place(arguments, key.split("."), {})
        elif key in kwargs:  # in socket order, so that a dict lists its entries as the template does
            path = key.split(".")
            if declared.type == DYNAMIC_COMBO:
                path.append(path[-1])  # the chosen key sits under the combo's own name
            _place(arguments, path, kwargs[key])
    arguments.update((key, value) for key, value in kwargs.items() if key not in sockets)
    return arguments


def _place(arguments: dict[str, Any], path: list[str], value: Any) -> None:
    current = arguments
    for part in path[:-1]:
        current = current.setdefault(part, {})
    current[path[-1]] = value


def autogrow_input(name: str, declaration: tuple, *, minimum: int, names: list[str] | None = None,
                   prefix: str | None = None, maximum: int = 10) -> tuple:
    """An INPUT_TYPES entry for an autogrow input whose sockets are declared as `declaration` under `name`, named
    from `names`, else `prefix` with 0 .. maximum-1 (ComfyUI's two template kinds, as /object_info shows them)."""
    template: dict[str, Any] = {"input": {"required": {name: declaration}}}
    if names is not None:
        template.update({"min": minimum, "names": list(names)})
    else:
        template.update({"max": maximum, "min": minimum, "prefix": prefix})
    return (AUTOGROW, {"template": template})
