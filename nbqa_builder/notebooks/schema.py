"""nbformat's notebook schemas compiled into Python code, for speed.

`nbformat.validate` checks a notebook with fastjsonschema, its default validator. The code that
fastjsonschema generates checks every line of every source and output in a Python loop. For each
cell and output it also tries the alternatives of a `oneOf` until one matches. On real notebooks
that costs more than parsing the JSON. This module compiles the same schema into one Python
function that gives the same verdicts, about three times faster:
- a list of lines is checked at C speed (`"".join` fails on anything but strings);
- an object's keys are checked with set operations, and an empty object skips its properties;
- a `oneOf` whose alternatives each pin a tag (`cell_type`, `output_type`), or each take a JSON type
  of their own (`multiline_string`), checks only the alternative that the value's tag or type names.
  No other alternative can match that value, so "exactly one matches" is "that one matches";
- `$ref`s are written inline, so a notebook is checked without a function call per value.

The verdicts are fastjsonschema's draft-04 ones, since those are nbformat's: booleans are not
numbers, `$` in a `pattern` (not in `patternProperties`) matches only at the very end, `enum`
compares values of the same type only, `$ref` ignores the keywords beside it, and keywords of no
draft-04 meaning are ignored. A draft-04 keyword that this module does not implement raises
`Unsupported` when the schema is compiled; the caller then uses fastjsonschema itself.
tests/test_notebooks_schema.py compares the verdicts with nbformat's on the example and corpus
notebooks and on thousands of mutations of them. `CompiledSchema(schema).source` shows the code.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable, Optional

# keywords that describe and never constrain
_ANNOTATIONS = frozenset(("$schema", "id", "title", "description", "default", "definitions"))
# draft-04 keywords this compiler does not implement: a schema using one is not compiled
_NOT_IMPLEMENTED = frozenset((
    "additionalItems", "dependencies", "minItems", "maxItems", "minProperties", "maxProperties",
    "multipleOf", "exclusiveMinimum", "exclusiveMaximum", "format",
))
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),), "boolean": (bool,), "integer": (int,), "number": (int, float, Decimal),
    "string": (str,), "array": (list, tuple), "object": (dict,),
}
# fastjsonschema makes `$` in a `pattern` mean the very end of the string (Python's `$` also
# matches before a final newline); it leaves `patternProperties` as they are
_DOLLAR = re.compile(r"(?<!\\)\$")
# Python allows 20 nested loops and `try`s in one function: deeper schemas get functions of their own
_MAX_NESTING = 12


class Unsupported(ValueError):
    """The schema uses something this compiler does not implement."""


class SchemaError(ValueError):
    """A value the schema rejects. `path` locates it, outermost first (`cells[3].outputs[0]`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self._reversed_path: list[str | int] = []  # filled on the way out of the nested checks

    def at(self, key: str | int) -> SchemaError:
        self._reversed_path.append(key)
        return self

    @property
    def path(self) -> str:
        return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(self._reversed_path)).lstrip(".")

    def __str__(self) -> str:
        return f"{self.path or 'notebook'}: {self.message}"


class CompiledSchema:
    """`validate(data)` raises SchemaError where fastjsonschema's validator of `schema` raises."""

    def __init__(self, schema: dict[str, Any]) -> None:
        writer = _Writer(schema)
        self.source = writer.write()
        namespace = writer.constants  # the generated functions join the constants they use
        exec(compile(self.source, "<nbqa_builder.notebooks.schema>", "exec"), namespace)  # noqa: S102
        self._check: Callable[[Any], None] = namespace["check_0"]

    def validate(self, data: Any) -> None:
        self._check(data)


class _Writer:
    """Writes the Python source of the checks of one schema: `check_0` checks the whole of it.

    `emit(node, var, depth)` writes the lines that check the value held by variable `var` against
    schema `node`: lines that raise SchemaError, or nothing when `node` accepts everything.
    Constants (key sets, patterns, helper functions) are passed in by name, `c0`, `c1`, ...
    """

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.constants: dict[str, Any] = {
            "SchemaError": SchemaError, "json_type": _json_type, "same_json": _same_json,
            "unique": _unique, "passes": _passes, "bad_line": _bad_line, "Decimal": Decimal,
        }
        self.functions: list[list[str]] = []
        self.function_of: dict[int, str] = {}  # id(schema node) -> name of its function
        self.refs_open: list[str] = []  # $refs being written, to refuse recursion
        self.lines: list[str] = []
        self.variables = 0

    def write(self) -> str:
        self.function(self.root)
        return "\n\n".join("\n".join(f) for f in self.functions) + "\n"

    # -- output helpers ------------------------------------------------------------------------

    def function(self, node: Any) -> str:
        """The name of a function `check_N(value)` that checks `node`, written once per node."""
        if id(node) in self.function_of:
            return self.function_of[id(node)]
        name = self.function_of[id(node)] = f"check_{len(self.function_of)}"
        outer, self.lines = self.lines, [f"def {name}(v0):"]
        self.emit(node, "v0", 1)
        self.lines.append("    return None")
        self.functions.append(self.lines)
        self.lines = outer
        return name

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        self.variables += 1
        return f"v{self.variables}"

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def fail(self, depth: int, message: str) -> None:
        """A line raising SchemaError; `message` is the source of an f-string."""
        self.line(depth, f"raise SchemaError(f{message!r})")

    def checked_in(self, depth: int, key: str, node: Any, var: str, nesting: int) -> None:
        """Check `var` against `node`; a failure is located at `key` (a literal or a variable)."""
        mark = len(self.lines)
        self.line(depth, "try:")
        before = len(self.lines)
        self.emit(node, var, depth + 1, nesting + 1)
        if len(self.lines) == before:  # nothing to check
            del self.lines[mark:]
            return
        self.line(depth, "except SchemaError as error:")
        self.line(depth + 1, f"raise error.at({key}) from None")

    # -- schema nodes --------------------------------------------------------------------------

    def emit(self, node: Any, var: str, depth: int, nesting: int = 0, known: Optional[str] = None,
             tag: Optional[str] = None) -> None:
        """`known`: the JSON type the value is known to have (a dispatch tested it); `tag`: a
        property whose value a dispatch has already tested."""
        if not isinstance(node, dict):
            raise Unsupported(f"schema node {node!r} is not an object")
        if "$ref" in node:  # draft 4: the keywords beside a $ref are ignored
            ref = node["$ref"]
            if ref in self.refs_open:
                raise Unsupported(f"recursive $ref {ref!r}")
            self.refs_open.append(ref)
            self.emit(self.resolve(ref), var, depth, nesting, known, tag)
            self.refs_open.pop()
            return
        if nesting > _MAX_NESTING:
            if _accepts_all(node):
                return
            self.line(depth, f"{self.function(node)}({var})")
            return
        unknown = _NOT_IMPLEMENTED & node.keys()
        if unknown or isinstance(node.get("items"), list):
            raise Unsupported(f"keywords not implemented: {sorted(unknown) or ['items (as a list)']}")
        names = _type_names(node)
        if names is not None and (known is None or known not in names):
            self.emit_type(names, var, depth)
        only = known or (names[0] if names is not None and len(names) == 1 else None)
        if "enum" in node:
            self.emit_enum(node["enum"], var, depth)
        self.emit_object(node, var, depth, nesting, known=only == "object", tag=tag)
        self.emit_array(node, var, depth, nesting, known=only == "array")
        self.emit_string(node, var, depth, known=only == "string")
        self.emit_number(node, var, depth)
        if "not" in node:
            self.line(depth, f"if passes({self.function(node['not'])}, {var}):")
            self.fail(depth + 1, "matches a schema it must not match")
        for option in node.get("allOf", ()):
            self.emit(option, var, depth, nesting)
        for keyword in ("oneOf", "anyOf"):
            if keyword in node:
                self.emit_alternatives(keyword, list(node[keyword]), var, depth, nesting)

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unsupported(f"$ref {ref!r} is not local")
        target: Any = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise Unsupported(f"$ref {ref!r} points nowhere")
            target = target[part]
        return target

    def emit_type(self, names: list[str], var: str, depth: int) -> None:
        types = self.constant(tuple(t for name in names for t in _PYTHON_TYPES[name]))
        test = f"not isinstance({var}, {types})"
        if "boolean" not in names and {"integer", "number"} & set(names):
            test += f" or isinstance({var}, bool)"
        self.line(depth, f"if {test}:")
        self.fail(depth + 1, f"must be {' or '.join(names)}, not {{json_type({var})}}")

    def emit_enum(self, options: list[Any], var: str, depth: int) -> None:
        strings = self.constant(frozenset(o for o in options if isinstance(o, str)))
        others = [o for o in options if not isinstance(o, str)]
        test = f"not (isinstance({var}, str) and {var} in {strings})"
        if others:
            test += f" and not any(same_json({var}, o) for o in {self.constant(others)})"
        self.line(depth, f"if {test}:")
        self.fail(depth + 1, f"{{{var}!r:.60}} is not one of {_literal(repr(options)[:200])}")

    def emit_object(self, node: dict[str, Any], var: str, depth: int, nesting: int, known: bool,
                    tag: Optional[str] = None) -> None:
        properties = node.get("properties") or {}
        patterns = node.get("patternProperties") or {}
        additional = node.get("additionalProperties", True)
        required = list(node.get("required") or ())
        checked = {name: sub for name, sub in properties.items() if not _accepts_all(sub) and name != tag}
        pattern_checks = {p: sub for p, sub in patterns.items() if not _accepts_all(sub)}
        additional_check = additional if isinstance(additional, dict) and not _accepts_all(additional) else None
        general = bool(pattern_checks or additional_check is not None or (additional is False and patterns))
        if not (checked or general or additional is False or required):
            return
        if not known:
            self.line(depth, f"if isinstance({var}, dict):")
            depth += 1
        if required:
            wanted = self.constant(frozenset(required))
            self.line(depth, f"if not {var}.keys() >= {wanted}:")
            self.fail(depth + 1, f"misses required properties {{sorted({wanted} - {var}.keys())}}")
        else:
            self.line(depth, f"if {var}:")  # an empty object has nothing more to check
            depth += 1
        if additional is False and not patterns:
            allowed = self.constant(frozenset(properties))
            self.line(depth, f"if not {var}.keys() <= {allowed}:")
            extra = f"{{sorted(map(str, {var}.keys() - {allowed}))}}"
            self.fail(depth + 1, f"has properties the schema does not allow: {extra}")
        for name, sub in checked.items():
            value = self.variable()
            self.line(depth, f"if {name!r} in {var}:")
            self.line(depth + 1, f"{value} = {var}[{name!r}]")
            self.checked_in(depth + 1, repr(name), sub, value, nesting)
        if general:
            # every key that a pattern matches is checked by it (properties too); a key that is
            # neither a property nor matched is checked by additionalProperties
            key, value, matched = self.variable(), self.variable(), self.variable()
            self.line(depth, f"for {key}, {value} in {var}.items():")
            self.line(depth + 1, f"{matched} = {key} in {self.constant(frozenset(properties))}")
            for pattern, sub in patterns.items():
                self.line(depth + 1, f"if {self.constant(re.compile(pattern))}.search({key}):")
                self.line(depth + 2, f"{matched} = True")
                if pattern in pattern_checks:
                    self.checked_in(depth + 2, key, sub, value, nesting + 1)
            if additional is False:
                self.line(depth + 1, f"if not {matched}:")
                self.fail(depth + 2, f"has a property the schema does not allow: {{{key}!r}}")
            elif additional_check is not None:
                self.line(depth + 1, f"if not {matched}:")
                self.checked_in(depth + 2, key, additional_check, value, nesting + 1)

    def emit_array(self, node: dict[str, Any], var: str, depth: int, nesting: int, known: bool) -> None:
        items = node.get("items")
        unique = bool(node.get("uniqueItems"))
        if (items is None or _accepts_all(items)) and not unique:
            return
        if not known:
            self.line(depth, f"if isinstance({var}, (list, tuple)):")
            depth += 1
        if items is not None and _is_plain(items, "string"):
            self.line(depth, "try:")
            self.line(depth + 1, f'"".join({var})  # C speed; fails on anything that is not a string')
            self.line(depth, "except TypeError:")
            self.line(depth + 1, f"bad_line({var})")
        elif items is not None and not _accepts_all(items):
            index, item = self.variable(), self.variable()
            self.line(depth, f"for {index}, {item} in enumerate({var}):")
            self.checked_in(depth + 1, index, items, item, nesting + 1)
        if unique:
            self.line(depth, f"if not unique({var}):")
            self.fail(depth + 1, "has repeated items")

    def emit_string(self, node: dict[str, Any], var: str, depth: int, known: bool) -> None:
        tests = []
        if "pattern" in node:
            pattern = re.compile(_DOLLAR.sub(r"\\Z", node["pattern"]))
            message = f"does not match {_literal(repr(node['pattern']))}"
            tests.append((f"not {self.constant(pattern)}.search({var})", message))
        if "minLength" in node:
            tests.append((f"len({var}) < {int(node['minLength'])}", f"is shorter than {node['minLength']} characters"))
        if "maxLength" in node:
            tests.append((f"len({var}) > {int(node['maxLength'])}", f"is longer than {node['maxLength']} characters"))
        if not tests:
            return
        if not known:
            self.line(depth, f"if isinstance({var}, str):")
            depth += 1
        for test, message in tests:
            self.line(depth, f"if {test}:")
            self.fail(depth + 1, message)

    def emit_number(self, node: dict[str, Any], var: str, depth: int) -> None:
        bounds = [(key, node[key]) for key in ("minimum", "maximum") if key in node]
        if not bounds:
            return
        self.line(depth, f"if isinstance({var}, (int, float, Decimal)) and not isinstance({var}, bool):")
        for key, bound in bounds:
            self.line(depth + 1, f"if {var} {'<' if key == 'minimum' else '>'} {self.constant(bound)}:")
            self.fail(depth + 2, f"{{{var}}} is {'less' if key == 'minimum' else 'more'} than {_literal(str(bound))}")

    # -- alternatives --------------------------------------------------------------------------

    def emit_alternatives(self, keyword: str, options: list[Any], var: str, depth: int, nesting: int) -> None:
        targets = [self.resolved(o) for o in options]
        if keyword == "oneOf" and self.emit_by_tag(options, targets, var, depth, nesting):
            return
        if self.emit_by_type(options, targets, var, depth, nesting):
            return
        checks = self.functions_tuple(options)
        if keyword == "oneOf":
            count = self.variable()
            self.line(depth, f"{count} = sum(1 for check in {checks} if passes(check, {var}))")
            self.line(depth, f"if {count} != 1:")
            self.fail(depth + 1, f"matches {{{count}}} of the schemas of a oneOf, not exactly one")
        else:
            self.line(depth, f"if not any(passes(check, {var}) for check in {checks}):")
            self.fail(depth + 1, "matches none of the schemas of an anyOf")

    def functions_tuple(self, nodes: list[Any]) -> str:
        """Source of a tuple of the nodes' functions (looked up when it runs: all are defined by then)."""
        return "(" + "".join(f"{self.function(node)}, " for node in nodes) + ")"

    def resolved(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            node, seen = self.resolve(node["$ref"]), seen + 1
        return node

    def branch(self, first: bool, test: str, option: Any, var: str, depth: int, nesting: int, known: str,
               tag: Optional[str] = None) -> None:
        """One `if`/`elif` of a dispatch: when `test` holds, `var` is checked against `option`."""
        self.line(depth, f"{'if' if first else 'elif'} {test}:")
        before = len(self.lines)
        self.emit(option, var, depth + 1, nesting, known=known, tag=tag)
        if len(self.lines) == before:
            self.line(depth + 1, "pass")

    def emit_by_tag(self, options: list[Any], targets: list[Any], var: str, depth: int, nesting: int) -> bool:
        """Objects that each require a tag property with one allowed string: check the one the
        value's tag names (the others cannot match, since each requires its own tag)."""
        if len(targets) < 2 or not all(isinstance(t, dict) and t.get("type") == "object" for t in targets):
            return False
        for tag in targets[0].get("required") or ():
            values = [_single_string(t, tag) for t in targets]
            if all(v is not None for v in values) and len(set(values)) == len(values):
                break
        else:
            return False
        kind = self.variable()
        self.line(depth, f"{kind} = {var}.get({tag!r}) if isinstance({var}, dict) else None")
        for position, (value, option) in enumerate(zip(values, options)):
            test = f"{kind} == {value!r} and isinstance({kind}, str)"
            self.branch(position == 0, test, option, var, depth, nesting, known="object", tag=tag)
        self.line(depth, "else:")
        self.fail(depth + 1, f"{_literal(tag)} must be one of {_literal(str(sorted(values)))}, not {{{kind}!r:.60}}")
        return True

    def emit_by_type(self, options: list[Any], targets: list[Any], var: str, depth: int, nesting: int) -> bool:
        """Alternatives that each take one JSON type, no two the same: check the one of the
        value's type (a value has one JSON type, so at most one alternative can match)."""
        names = [t.get("type") if isinstance(t, dict) else None for t in targets]
        if not all(isinstance(n, str) and n in _PYTHON_TYPES for n in names) or len(set(names)) != len(names):
            return False
        if {"integer", "number"} <= set(names):
            return False  # an integer is a number too
        for position, (name, option) in enumerate(zip(names, options)):
            # exact types: `type(x) is bool` is never taken for an integer
            test = " or ".join(f"type({var}) is {self.constant(t)}" for t in _PYTHON_TYPES[name])
            self.branch(position == 0, test, option, var, depth, nesting, known=name)
        # a value of another type, or of a subclass: try them all (at most one can match)
        self.line(depth, f"elif not any(passes(check, {var}) for check in {self.functions_tuple(options)}):")
        self.fail(depth + 1, f"must be {' or '.join(names)}, not {{json_type({var})}}")
        return True


# -- helpers ------------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """`text` as literal text inside the source of an f-string."""
    return text.replace("{", "{{").replace("}", "}}")


def _type_names(node: dict[str, Any]) -> Optional[list[str]]:
    if "type" not in node:
        return None
    names = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
    if any(not isinstance(name, str) or name not in _PYTHON_TYPES for name in names):
        raise Unsupported(f"unknown type in {names}")
    return names


# the draft-04 keywords that constrain a value ($ref aside)
_CONSTRAINING = frozenset((
    "type", "enum", "properties", "patternProperties", "additionalProperties", "required", "items",
    "uniqueItems", "pattern", "minLength", "maxLength", "minimum", "maximum", "not", "oneOf", "anyOf", "allOf",
)) | _NOT_IMPLEMENTED


def _accepts_all(node: Any) -> bool:
    """A node with no constraining keyword (annotations only, or unknown keywords)."""
    return isinstance(node, dict) and "$ref" not in node and not (_CONSTRAINING & node.keys())


def _is_plain(node: Any, type_name: str) -> bool:
    """`{"type": type_name}` and nothing else that constrains."""
    if not isinstance(node, dict) or node.get("type") != type_name:
        return False
    return _accepts_all({k: v for k, v in node.items() if k != "type"})


def _single_string(node: dict[str, Any], tag: str) -> Optional[str]:
    """The one string `node` allows for its required property `tag`, or None."""
    if tag not in (node.get("required") or ()):
        return None
    prop = (node.get("properties") or {}).get(tag)
    if not isinstance(prop, dict) or "$ref" in prop or set(prop) - _ANNOTATIONS != {"enum"}:
        return None
    enum = prop["enum"]
    return enum[0] if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str) else None


def _passes(check: Callable[[Any], None], value: Any) -> bool:
    try:
        check(value)
    except SchemaError:
        return False
    return True


def _bad_line(lines: Any) -> None:
    """Raise at the first item of `lines` that is not a string (`"".join` found one)."""
    for index, item in enumerate(lines):
        if not isinstance(item, str):
            raise SchemaError(f"must be string, not {_json_type(item)}").at(index)


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if isinstance(value, _PYTHON_TYPES[name]) and (name == "boolean" or not isinstance(value, bool)):
            return name
    return type(value).__name__


def _same_json(value: Any, option: Any) -> bool:
    """fastjsonschema's enum equality: values of the same JSON type that are equal."""
    if isinstance(option, bool) or option is None:
        return value is option
    if isinstance(option, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == option
    if isinstance(option, dict):
        return (isinstance(value, dict) and len(value) == len(option)
                and all(k in value and _same_json(value[k], v) for k, v in option.items()))
    if isinstance(option, list):
        return (isinstance(value, (list, tuple)) and len(value) == len(option)
                and all(_same_json(a, b) for a, b in zip(value, option)))
    return value == option


def _unique(items: Any) -> bool:
    """fastjsonschema's uniqueItems: booleans differ from numbers, containers compare by content."""
    def key(value: Any) -> Any:
        if isinstance(value, dict):
            return frozenset((k, key(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return tuple(key(v) for v in value)
        return (bool, value) if isinstance(value, bool) else value

    try:
        return len(items) == len({key(item) for item in items})
    except TypeError:  # something unhashable that JSON does not make
        return True
