"""Phase one of config loading: YAML text -> plain Python values that remember where they came from.

Mappings become `LDict` and sequences `LList`; each keeps the file, line and column of its items
so that phase two can point every error at its source. `include:` files are merged here (lists
extend, mappings merge, the including file wins on conflicts). YAML syntax errors become Issues
with a hint for the mistakes LiteLLM's own docs make (an unquoted `*`, tabs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pllm.errors import Issue

__all__ = ["LDict", "LList", "Mark", "load_yaml"]


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    line: int  # 1-based
    column: int  # 1-based


class LDict(dict[str, Any]):
    """A mapping from YAML; `key_marks`/`value_marks` locate each entry."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks = {}
        self.value_marks = {}

    def at(self, key: str) -> Mark:
        return self.value_marks.get(key) or self.key_marks.get(key) or self.mark

    def key_at(self, key: str) -> Mark:
        return self.key_marks.get(key) or self.mark


class LList(list[Any]):
    """A sequence from YAML; `item_marks[i]` locates item i."""

    mark: Mark
    item_marks: list[Mark]

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.item_marks = []

    def at(self, index: int) -> Mark:
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def load_yaml(path: Path, issues: list[Issue], _seen: frozenset[Path] = frozenset()) -> LDict:
    """Read `path` (and its includes). Problems are appended to `issues`; an empty LDict is
    returned when the file cannot be used at all."""
    display = str(path)
    empty = LDict(Mark(display, 1, 1))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        issues.append(Issue(f"cannot read config file: {e.strerror or e}", file=display))
        return empty
    except UnicodeDecodeError:
        issues.append(Issue("config file is not UTF-8 text", file=display))
        return empty
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            tree = _convert(node, loader, display, issues) if node is not None else empty
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        issues.append(_syntax_issue(e, display))
        return empty
    except yaml.YAMLError as e:
        issues.append(Issue(f"invalid YAML: {e}", file=display))
        return empty
    if not isinstance(tree, LDict):
        m = _mark(node, display) if node is not None else empty.mark
        issues.append(Issue("the config must be a mapping of sections (model_list:, ...)",
                            file=m.file, line=m.line, column=m.column))
        return empty
    _merge_includes(tree, path, issues, _seen | {path.resolve()})
    return tree


def _mark(node: Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(node: Node, loader: yaml.SafeLoader, file: str, issues: list[Issue]) -> Any:
    if isinstance(node, ScalarNode):
        return loader.construct_object(node, deep=True)
    if isinstance(node, SequenceNode):
        out = LList(_mark(node, file))
        for item in node.value:
            out.append(_convert(item, loader, file, issues))
            out.item_marks.append(_mark(item, file))
        return out
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
        d = LDict(_mark(node, file))
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            km = _mark(key_node, file)
            if not isinstance(key, str):
                issues.append(Issue(f"keys must be text, not {type(key).__name__} {key!r}",
                                    file=file, line=km.line, column=km.column))
                key = str(key)
            if key in d:
                issues.append(Issue(f"duplicate key '{key}': YAML keeps only the last one",
                                    file=file, line=km.line, column=km.column,
                                    severity="warning"))
            d[key] = _convert(value_node, loader, file, issues)
            d.key_marks[key] = km
            d.value_marks[key] = _mark(value_node, file)
        return d
    return loader.construct_object(node, deep=True)


_HINTS = (
    ("alias", "'*' starts a YAML alias: quote it, e.g. model_name: \"*\""),
    ("found character '\\t'", "YAML does not allow tabs; indent with spaces"),
    ("mapping values are not allowed here",
     "a value contains ': ' or the indentation is off; quote the value or align the keys"),
    ("expected <block end>", "the indentation of this line does not match its siblings"),
)


def _syntax_issue(e: yaml.MarkedYAMLError, file: str) -> Issue:
    mark = e.problem_mark or e.context_mark
    problem = e.problem or "invalid YAML"
    text = f"{e.context} {problem}" if e.context else problem
    msg = f"invalid YAML: {text}"
    for needle, hint in _HINTS:
        if needle in text:
            msg += f" (hint: {hint})"
            break
    if mark is None:
        return Issue(msg, file=file)
    return Issue(msg, file=file, line=mark.line + 1, column=mark.column + 1)


def _merge_includes(tree: LDict, path: Path, issues: list[Issue], seen: frozenset[Path]) -> None:
    if "include" not in tree:
        return
    spec = tree.pop("include")
    at = tree.value_marks.pop("include", tree.mark)
    tree.key_marks.pop("include", None)
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        issues.append(Issue("include must be a file name or a list of file names",
                            path="include", file=at.file, line=at.line, column=at.column))
        return
    for i, name in enumerate(names):
        m = names.at(i) if isinstance(names, LList) else at
        target = (path.parent / name).resolve()
        if target in seen:
            issues.append(Issue(f"include cycle: {name} includes itself", path=f"include[{i}]",
                                file=m.file, line=m.line, column=m.column))
            continue
        if not target.is_file():
            issues.append(Issue(f"included file not found: {name}", path=f"include[{i}]",
                                file=m.file, line=m.line, column=m.column))
            continue
        _merge(tree, load_yaml(target, issues, seen))


def _merge(into: LDict, other: LDict) -> None:
    for key, value in other.items():
        if key not in into:
            into[key] = value
            into.key_marks[key] = other.key_marks[key]
            into.value_marks[key] = other.value_marks[key]
            continue
        mine = into[key]
        if isinstance(mine, LList) and isinstance(value, LList):
            mine.extend(value)
            mine.item_marks.extend(value.item_marks)
        elif isinstance(mine, LDict) and isinstance(value, LDict):
            _merge(mine, value)
