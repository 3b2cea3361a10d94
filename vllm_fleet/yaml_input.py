"""Reading Pulumi.yaml and stack files safely: bounded size, time and memory, one-line errors.

A stack file is untrusted input to a tool that runs in CI. PyYAML's safe loader
never runs code, but it still accepts what makes the rest of the tool crash or
hang: invalid UTF-8, a "billion laughs" of nested aliases (linear to parse,
exponential to walk), nesting deep enough to overflow the stack, and duplicate
keys it silently resolves to the last one (the Pulumi CLI rejects them). Every
such file fails here with `file:line:column: problem`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# A stack file with 200 models is ~100 KiB; a limit 20× above that still parses in well under a second.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Nodes after expanding aliases: what the rest of the tool walks. 200 models are ~20,000.
MAX_EXPANDED_NODES = 500_000
MAX_DEPTH = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlInputError(ValueError):
    """A file that can't be read as the YAML we accept; the message starts with `file[:line:col]`."""


def _where(path: Path, mark: Any) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise YamlInputError(
            f"{path}:{line}:{column}: not UTF-8 (byte 0x{data[error.start]:02x}); save the file as UTF-8"
        ) from None


def _check_graph(path: Path, root: yaml.Node) -> None:
    """Measures the document as the rest of the tool will walk it (aliases expanded); refuses duplicate keys.

    Each node is measured once (size and height memoized), so a billion-laughs
    file costs as little to refuse as it costs to parse.
    """
    measured: dict[int, tuple[int, int]] = {}

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) not in measured:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.MappingNode):
                _refuse_duplicate_keys(path, node)
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            sizes = [measure(child, depth + 1) for child in children]
            measured[id(node)] = (1 + sum(size for size, _ in sizes), 1 + max((height for _, height in sizes), default=0))
        size, height = measured[id(node)]
        if depth + height > MAX_DEPTH + 1:
            raise YamlInputError(f"{_where(path, node.start_mark)}: nested more than {MAX_DEPTH} levels deep (through aliases)")
        if size > MAX_EXPANDED_NODES:
            raise YamlInputError(
                f"{_where(path, node.start_mark)}: expands to more than {MAX_EXPANDED_NODES} values "
                "(aliases of aliases: a 'billion laughs' file?)"
            )
        return size, height

    measure(root, 0)


def _refuse_duplicate_keys(path: Path, node: yaml.MappingNode) -> None:
    seen: dict[Any, Any] = {}
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode):
            if key.value in seen:
                raise YamlInputError(
                    f"{_where(path, key.start_mark)}: duplicate key {key.value!r} "
                    f"(first at line {seen[key.value].line + 1}); the Pulumi CLI rejects it"
                )
            seen[key.value] = key.start_mark


def _check_depth(path: Path, text: str) -> None:
    """Refuses deep nesting from the event stream, before libyaml's recursive composer can overflow the C stack."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlInputError(f"{_where(path, event.start_mark)}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def load_yaml(path: Path) -> Any:
    """The document in `path` (None when empty), or YamlInputError naming the file and position."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise YamlInputError(f"{path}: can't be read ({error.strerror or error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlInputError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; a stack file is far smaller")
    text = _decode(path, data)
    try:
        _check_depth(path, text)
        root = yaml.compose(text, Loader=_Loader)
        if root is None:
            return None
        _check_graph(path, root)
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        context = error.context
        if context and error.context_mark is not None and error.context_mark.line != getattr(mark, "line", None):
            context += f" started at line {error.context_mark.line + 1}"
        problem = ": ".join(part for part in (context, error.problem) if part)
        raise YamlInputError(f"{_where(path, mark)}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise YamlInputError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from None
    except RecursionError:
        raise YamlInputError(f"{path}: nested too deeply") from None


def load_mapping(path: Path, what: str) -> dict[str, Any]:
    """A file whose top level must be a mapping (Pulumi.yaml, a stack file); empty is {}."""
    document = load_yaml(path)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise YamlInputError(f"{path}: {what} must be a mapping of keys (like `config:`), got a {type_name(document)}")
    return document


def type_name(value: Any) -> str:
    """'list', 'string', 'number'...: how a YAML user would call the type of `value`."""
    names = {list: "list", dict: "mapping", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), type(value).__name__)
