"""Typed model inputs: validation with field-named errors, and the one encoding used to train and to serve.

One function encodes for both training and serving, so the two cannot drift apart. Categories become their
index in the declared list (tree models split on it fine; explanations stay one column per feature).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from reviewqueue.errors import ValidationFailed

if TYPE_CHECKING:  # numpy loads when encode() first runs, not on `import reviewqueue`
    import numpy as np

KINDS = ("float", "int", "bool", "category", "text")


@dataclass(frozen=True)
class Category:
    """A categorical feature: the value must be one of ``values``."""

    values: tuple[str, ...]

    def __init__(self, *values: str) -> None:
        if not values or len(set(values)) != len(values):
            raise ValueError("Category needs distinct values")
        object.__setattr__(self, "values", tuple(values))


@dataclass(frozen=True)
class Text:
    """A free-text feature of at most ``max_chars`` characters (longer texts are refused with a clear 422:
    silently scoring a truncated clinical message could hide the sentence that matters)."""

    max_chars: int = 20_000


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    categories: tuple[str, ...] = field(default_factory=tuple)
    max_chars: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.categories:
            data["categories"] = list(self.categories)
        if self.max_chars:
            data["max_chars"] = self.max_chars
        return data


def _feature_from_declaration(name: str, declared: Any) -> Feature:
    if isinstance(declared, Category):
        return Feature(name, "category", declared.values)
    if isinstance(declared, Text):
        return Feature(name, "text", max_chars=declared.max_chars)
    kinds = {float: "float", int: "int", bool: "bool"}
    if declared in kinds:
        return Feature(name, kinds[declared])
    raise ValueError(f"feature {name!r}: declare float, int, bool or Category(...), not {declared!r}")


@dataclass(frozen=True)
class FeatureSchema:
    features: tuple[Feature, ...]

    @classmethod
    def declare(cls, declarations: Mapping[str, Any]) -> FeatureSchema:
        if not declarations:
            raise ValueError("a model needs at least one feature")
        schema = cls(tuple(_feature_from_declaration(n, d) for n, d in declarations.items()))
        if schema.text_feature and len(schema.features) > 1:
            raise ValueError("a text model has exactly one feature, the Text one")
        return schema

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> FeatureSchema:
        return cls(tuple(Feature(d["name"], d["kind"], tuple(d.get("categories", ())), d.get("max_chars", 0))
                         for d in data))

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.features]

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def _name_set(self) -> frozenset[str]:
        return frozenset(self._names)

    @property
    def text_feature(self) -> str | None:
        """The text feature's name, for text models (exactly one text feature and nothing else)."""
        texts = [f.name for f in self.features if f.kind == "text"]
        return texts[0] if texts else None

    def validate(self, values: Any, where: str = "features") -> dict[str, Any]:
        """Return the values if valid; raise ValidationFailed naming the first field at fault."""
        if not isinstance(values, Mapping):
            raise ValidationFailed(f"{where}: expected an object", field=where)
        if values.keys() != self._name_set:  # one set comparison for the usual case: exactly the declared names
            missing = [n for n in self._names if n not in values]
            if missing:
                raise ValidationFailed(f"{where}.{missing[0]}: missing", field=f"{where}.{missing[0]}")
            extra = sorted(printable(str(k)) for k in values if k not in self._name_set)
            if extra:
                raise ValidationFailed(f"{where}.{extra[0]}: unknown feature", field=f"{where}.{extra[0]}")
        for feature in self.features:
            problem = _check(feature, values[feature.name])
            if problem:
                path = f"{where}.{feature.name}"
                raise ValidationFailed(f"{path}: {problem}", field=path)
        return dict(values)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Rows of validated values → float32 matrix, columns in declaration order."""
        import numpy as np

        matrix = np.empty((len(rows), len(self.features)), dtype=np.float32)
        for j, feature in enumerate(self.features):
            if feature.kind == "category":
                index = {v: i for i, v in enumerate(feature.categories)}
                matrix[:, j] = [index[row[feature.name]] for row in rows]
            else:
                matrix[:, j] = [float(row[feature.name]) for row in rows]
        return matrix


def _check(feature: Feature, value: Any) -> str | None:
    if feature.kind == "text":
        if not isinstance(value, str):
            return "expected a string"
        if not value.strip():
            return "must not be empty"
        if len(value) > feature.max_chars:
            return f"too long: {len(value)} characters (the limit is {feature.max_chars})"
        return text_problem(value)
    if feature.kind == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if feature.kind == "category":
        if not isinstance(value, str):
            return "expected a string"
        return None if value in feature.categories else f"expected one of {list(feature.categories)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "expected a number"
    problem = number_problem(value)
    if problem:
        return problem
    if feature.kind == "int" and not float(value).is_integer():
        return "expected an integer"
    if abs(value) > 1e12:
        return "out of range (|value| > 1e12)"
    return None


# ---- what can be stored --------------------------------------------------------------------------------------

# The widest integer every store and connector takes (PostgreSQL bigint, JSON readers that parse int64).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def printable(text: str) -> str:
    """``text`` as it can appear in an error message: lone surrogates and NUL written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored and re-encoded as UTF-8 (a NUL character, a lone surrogate), or None."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid Unicode text (a lone surrogate at character {exc.start})"
    return None


def number_problem(value: int | float) -> str | None:
    """Why a number cannot be stored (an integer beyond int64, NaN or infinity), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else "integer out of range (beyond 64-bit)"
    return None if math.isfinite(value) else "must be a finite number (NaN and infinity are refused)"


def check_storable(value: Any, where: str) -> Any:
    """Return ``value`` if every string (keys too) and number in it can be stored and sent on as JSON; else raise
    ValidationFailed naming the first field at fault, e.g. ``events[0].context.user_id``."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, current = stack.pop()
        problem: str | None = None
        if isinstance(current, str):
            problem = text_problem(current)
        elif isinstance(current, int | float):
            problem = number_problem(current)
        elif isinstance(current, Mapping):
            for key in current:
                key_problem = text_problem(key) if isinstance(key, str) else "not a string"
                if key_problem:
                    key_path = f"{path}.{printable(str(key))}"
                    raise ValidationFailed(f"{key_path}: the name {key_problem}", field=key_path)
            stack.extend((f"{path}.{key}", item) for key, item in reversed(list(current.items())))
        elif isinstance(current, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(current))))
        elif current is not None:
            problem = f"expected JSON (a string, number, boolean, null, list or object), not {type(current).__name__}"
        if problem:
            raise ValidationFailed(f"{path}: {problem}", field=path)
    return value
