"""Phase two's toolkit: typed, located reads from the YAML tree that collect every problem.

Each accessor resolves environment references in strings, checks the type, and on a problem
records an Issue naming file:line:col and the key's path, then returns None so parsing goes on
and the user sees all errors at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pllm.config.envsubst import substitute
from pllm.config.model import Secret
from pllm.config.yamlsrc import LDict, LList, Mark
from pllm.errors import Issue

__all__ = ["MISSING", "UNSET_PREFIX", "Reader", "suggest"]

MISSING = object()
UNSET_PREFIX = "unset-env-"


def suggest(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a close match exists, else ""."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class Reader:
    def __init__(self, env: Mapping[str, str], *, allow_missing_env: bool = False) -> None:
        self.env = env
        self.allow_missing_env = allow_missing_env
        self.issues: list[Issue] = []

    # -- reporting ----------------------------------------------------------------------------
    def error(self, message: str, path: str, mark: Mark | None, severity: str = "error") -> None:
        self.issues.append(
            Issue(message, path=path, file=mark.file if mark else None,
                  line=mark.line if mark else None, column=mark.column if mark else None,
                  severity=severity)
        )

    def warn(self, message: str, path: str, mark: Mark | None) -> None:
        self.error(message, path, mark, severity="warning")

    def check_keys(
        self,
        d: LDict,
        path: str,
        known: Iterable[str],
        *,
        tolerated: Iterable[str] = (),
        tolerated_note: str = "accepted for LiteLLM compatibility; pllm ignores it",
    ) -> None:
        """Unknown keys are errors (with a suggestion); `tolerated` ones are warnings."""
        known_set = set(known)
        tolerated_set = set(tolerated)
        for key in d:
            if key in known_set:
                continue
            at = d.key_at(key)
            if key in tolerated_set:
                self.warn(f"'{key}' is {tolerated_note}", _join(path, key), at)
            else:
                hint = suggest(key, known_set | tolerated_set)
                self.error(f"unknown key '{key}'{hint}", _join(path, key), at)

    # -- values ---------------------------------------------------------------------------------
    def resolve(self, value: Any, path: str, mark: Mark) -> Any:
        """Substitute environment references in every string inside `value`."""
        if isinstance(value, str):
            out, missing = substitute(value, self.env)
            for name in missing:
                msg = f"environment variable {name} is not set"
                if self.allow_missing_env:
                    self.warn(msg, path, mark)
                else:
                    self.error(msg, path, mark)
            if missing and self.allow_missing_env:
                # Validation without secrets: a stand-in, so checks that need *a* value
                # (a key present, a base URL given) judge the rest of the config.
                return UNSET_PREFIX + missing[0]
            return out
        if isinstance(value, LDict):
            return {k: self.resolve(v, _join(path, k), value.at(k)) for k, v in value.items()}
        if isinstance(value, LList):
            return [self.resolve(v, f"{path}[{i}]", value.at(i)) for i, v in enumerate(value)]
        return value

    def get(self, d: LDict, key: str, path: str) -> Any:
        """The resolved value of `key`, or MISSING."""
        if key not in d or d[key] is None:
            return MISSING
        return self.resolve(d[key], _join(path, key), d.at(key))

    def string(self, d: LDict, key: str, path: str, *, required: bool = False) -> str | None:
        v = self.get(d, key, path)
        if v is MISSING:
            if required:
                self.error(f"'{key}' is required", _join(path, key), d.mark)
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self.error(f"expected text, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        return str(v)

    def secret(self, d: LDict, key: str, path: str) -> Secret | None:
        v = self.string(d, key, path)
        return Secret(v) if v else None

    def integer(self, d: LDict, key: str, path: str, *, minimum: int | None = 0) -> int | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                pass
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(f"expected a whole number, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        if minimum is not None and v < minimum:
            self.error(f"must be >= {minimum}, got {v}", _join(path, key), d.at(key))
            return None
        return v

    def number(self, d: LDict, key: str, path: str, *, positive: bool = False) -> float | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.error(f"expected a number, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        if v < 0 or (positive and v == 0):
            bound = "> 0" if positive else ">= 0"
            self.error(f"must be {bound}, got {v}", _join(path, key), d.at(key))
            return None
        return float(v)

    def boolean(self, d: LDict, key: str, path: str) -> bool | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return v.strip().lower() in ("true", "1", "yes")
        if not isinstance(v, bool):
            self.error(f"expected true or false, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        return v

    def mapping(self, d: LDict, key: str, path: str) -> LDict | None:
        if key not in d or d[key] is None:
            return None
        v = d[key]
        if not isinstance(v, LDict):
            self.error(f"expected a mapping of keys to values, got {_kind(v)}",
                       _join(path, key), d.at(key))
            return None
        return v

    def sequence(self, d: LDict, key: str, path: str) -> LList | None:
        if key not in d or d[key] is None:
            return None
        v = d[key]
        if not isinstance(v, LList):
            self.error(f"expected a list, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        return v

    def string_list(self, d: LDict, key: str, path: str) -> list[str] | None:
        """A list of strings; a single string is accepted as a list of one."""
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.error(f"expected a list of names, got {_kind(v)}", _join(path, key), d.at(key))
            return None
        return list(v)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    if isinstance(v, str):
        return "text"  # never echo the value: it may have come from a secret variable
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__
