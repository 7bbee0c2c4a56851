"""The config reference (``docs/config.md``), generated from the config schema.

The schema (``hepdl/schemas/config.schema.yaml``) already describes every key, its type, bounds
and default; this module renders it as Markdown, one table per block, so the reference cannot
drift from what :func:`hepdl.config.validate_config` accepts. Keys the schema marks
``x-rerun: false`` are marked as changing no result. Regenerate after editing the schema::

    python -m hepdl.docs_config > docs/config.md

``tests/test_readme.py`` fails when the committed file differs from this output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from hepdl.config import RERUN_ANNOTATION, load_schema

__all__ = ["NO_RERUN", "render_config_reference"]

#: What a key marked ``x-rerun: false`` is labelled with in the reference.
NO_RERUN = "changes no result (no rerun)"

COMMAND = "python -m hepdl.docs_config > docs/config.md"
SCHEMA_PATH = "src/hepdl/schemas/config.schema.yaml"

_BOUNDS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
)


def _text(description: str | None) -> str:
    """A schema description as one line (folded YAML keeps a trailing newline)."""
    return " ".join((description or "").split())


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (``|eta|`` would split the cell)."""
    return text.replace("|", "\\|")


def _value(value: Any) -> str:
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def _array_type(schema: Mapping[str, Any]) -> str:
    """``list of integer >= 1 (at least 1, at most 8)``."""
    items = schema.get("items", {})
    if not items:
        return "list"
    inner = _type(items)
    if "enum" in items:
        inner = "values from " + ", ".join(_value(v) for v in items["enum"])
    elif items.get("type") == "array":
        inner = f"[{inner}]"
    if "minItems" in schema and schema["minItems"] == schema.get("maxItems"):
        counts = [f"exactly {schema['minItems']}"]
    else:
        counts = [
            f"{word} {schema[key]}"
            for key, word in (("minItems", "at least"), ("maxItems", "at most"))
            if key in schema
        ]
    if schema.get("uniqueItems"):
        counts.append("no repeats")
    return f"list of {inner}" + (f" ({', '.join(counts)})" if counts else "")


def _object_type(schema: Mapping[str, Any], *, inline: bool = False) -> str:
    """``mapping (keys below)``; one of several forms of a key (``inline``) names its keys."""
    extra = schema.get("additionalProperties")
    if schema.get("properties") and inline:
        return "mapping of " + ", ".join(f"`{name}`" for name in schema["properties"])
    if schema.get("properties"):
        return "mapping (keys below)"
    if isinstance(extra, Mapping):
        return f"mapping of name to {_type(extra)}"
    return "mapping"


def _scalar_type(kind: str, schema: Mapping[str, Any]) -> str:
    """``number > 0, <= 5``, ``non-empty string``, ``string matching `...```."""
    text = kind
    bounds = [f"{op} {schema[key]}" for key, op in _BOUNDS if key in schema]
    if bounds:
        text += " " + ", ".join(bounds)
    if schema.get("minLength") == 1:
        text = f"non-empty {text}"
    elif "minLength" in schema:
        text += f" (at least {schema['minLength']} characters)"
    if "pattern" in schema:
        text += f" matching `{schema['pattern']}`"
    return text


def _type(schema: Mapping[str, Any], *, inline: bool = False) -> str:
    """The type of a key with its bounds, e.g. ``integer >= 1`` or ``one of `bce`, `wgan_gp```
    (``inline``: one form of a ``oneOf``, whose mapping keys have no table below)."""
    if "$ref" in schema:
        return "a sample (keys in `samples` below)"
    if "enum" in schema:
        return "one of " + ", ".join(_value(v) for v in schema["enum"])
    if "const" in schema:
        return _value(schema["const"])
    if "oneOf" in schema:
        return ", or ".join(_type(option, inline=True) for option in schema["oneOf"])
    kinds = schema.get("type", "any")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    parts = [
        _array_type(schema)
        if kind == "array"
        else _object_type(schema, inline=inline)
        if kind == "object"
        else _scalar_type(kind, schema)
        for kind in kinds
        if kind != "null"
    ]
    if not parts:
        return "`null`"
    return " or ".join(parts) + (" or `null`" if "null" in kinds else "")


def _row(key: str, schema: Mapping[str, Any], *, required: bool, note: str = "") -> str:
    kind = _type(schema) + (", required" if required else "")
    default = _value(schema["default"]) if "default" in schema else ""
    description = _text(schema.get("description"))
    if note:
        description = f"{note} {description}".strip()
    if schema.get(RERUN_ANNOTATION) is False:
        description = f"**{NO_RERUN.capitalize()}.** {description}".strip()
    return f"| `{key}` | {_cell(kind)} | {_cell(default)} | {_cell(description)} |"


def _table(rows: list[str]) -> list[str]:
    return ["| key | type | default | description |", "|---|---|---|---|", *rows]


def _blocks(schema: Mapping[str, Any], prefix: str) -> Iterator[list[str]]:
    """One section per object with properties: its table, then its sub-blocks'."""
    required = set(schema.get("required", []))
    rows = [
        _row(f"{prefix}{name}", sub, required=name in required)
        for name, sub in schema.get("properties", {}).items()
    ]
    title = prefix.rstrip(".") or "top level"
    lines = [f"## `{title}`" if prefix else "## Top level", ""]
    if prefix and _text(schema.get("description")):
        lines += [_text(schema.get("description")), ""]
    yield [*lines, *_table(rows), ""]
    for name, sub in schema.get("properties", {}).items():
        if isinstance(sub, Mapping) and sub.get("properties"):
            yield from _blocks(sub, f"{prefix}{name}.")


def _sample_block(schema: Mapping[str, Any], samples: Mapping[str, Any]) -> list[str]:
    """The per-sample keys: the common ones, then each process's own."""
    prefix = "samples.<name>."
    required = set(schema.get("required", []))
    rows = [
        _row(f"{prefix}{name}", sub, required=name in required)
        for name, sub in schema.get("properties", {}).items()
    ]
    for branch in schema.get("allOf", []):
        process = branch["if"]["properties"]["process"]["const"]
        then = branch["then"]
        needed = set(then.get("required", []))
        for name, sub in then.get("properties", {}).items():
            if isinstance(sub, Mapping):
                rows.append(
                    _row(
                        f"{prefix}{name}",
                        sub,
                        required=name in needed,
                        note=f"(process `{process}`)",
                    )
                )
    name_rule = samples.get("propertyNames", {}).get("pattern")
    lines = ["## `samples`", "", _text(samples.get("description"))]
    if name_rule:
        lines[-1] += f" Names match `{name_rule}`."
    lines += [
        "",
        (
            "Each sample is a mapping with the keys below; a process accepts only the common "
            "keys and its own."
        ),
        "",
    ]
    return [*lines, *_table(rows), ""]


def render_config_reference(schema: Mapping[str, Any] | None = None) -> str:
    """The Markdown config reference of ``schema`` (default: the shipped config schema)."""
    schema = load_schema() if schema is None else schema
    properties = schema.get("properties", {})
    lines = [
        "# Config reference",
        "",
        f"<!-- Generated from {SCHEMA_PATH} by `{COMMAND}`; do not edit by hand. -->",
        "",
        f"Generated from the config schema (`{SCHEMA_PATH}`, also "
        "`workflow/schemas/config.schema.yaml`) by `" + COMMAND + "`; "
        "`tests/test_readme.py` checks that this file is what the command writes. The config "
        "files themselves, seeds, overrides and pinning: [stages.md](stages.md#configs).",
        "",
        _text(schema.get("description")),
        "",
        (
            f'Keys marked "{NO_RERUN}" (`x-rerun: false` in the schema) change speed, memory, '
            "storage, logging, or which jobs run, never a result: changing one reruns no job. "
            "Units are in the key names (`_gev`, `_ifb`, `_mm`, `_mb`)."
        ),
        "",
    ]
    for block in _blocks(schema, ""):
        lines += block
    if "samples" in properties:
        sample = schema.get("$defs", {}).get("sample", {})
        lines += _sample_block(sample, properties["samples"])
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    sys.stdout.write(render_config_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
