"""Options declared once: each with its type, range, default and a one-line meaning.

An options block is a frozen dataclass whose fields are made with :func:`option`::

    @dataclass(frozen=True)
    class MyOptions:
        lr_img: float = option(0.1, "SGD learning rate of the synthetic images", Number(low=0, low_open=True))

From that one declaration come the validation (:func:`validate`, a ValueError that names the option, the
rule and the value), the command-line flags and their ``--help`` text (:func:`add_flags`) and the docs table
(:func:`markdown_table`). A subclass changes only a default with :func:`default` (meaning and rule stay
those of the base declaration).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Callable, Iterable, Sequence


@dataclass(frozen=True)
class Rule:
    """What values an option accepts.

    ``kind``: "int", "number", "bool", "choice" or "text". ``low``/``high``: bounds of ints and numbers
    (``low_open``/``high_open``: excluded); ``choices``: a tuple, or a function returning the valid names
    (a registry's ``names``); ``optional``: None is accepted too, and ``none`` says what it means;
    ``check``: an extra test ``check(name, value)`` that raises ValueError (e.g. a DSA strategy).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | Callable[[], Sequence[str]] = ()
    optional: bool = False
    none: str = ""
    check: Callable[[str, Any], None] | None = None

    def valid_choices(self) -> list:
        return list(self.choices() if callable(self.choices) else self.choices)

    def describe(self) -> str:
        """The rule in words: "a positive int", "a number in [0, 1)", "one of ['ntk', 'rbf']", ..."""
        if self.kind == "bool":
            text = "True or False"
        elif self.kind == "choice":
            text = f"one of {self.valid_choices()}"
        elif self.kind == "text":
            text = "a non-empty string"
        else:
            noun = "int" if self.kind == "int" else "number"
            if self.low == 0 and self.high is None:
                text = f"a positive {noun}" if self.low_open else f"a non-negative {noun}"
            elif self.low == 1 and self.high is None and self.kind == "int" and not self.low_open:
                text = f"a positive {noun}"
            elif self.low is None and self.high is None:
                text = f"a finite {noun}"
            else:
                lo = "-inf" if self.low is None else f"{self.low:g}"
                hi = "inf" if self.high is None else f"{self.high:g}"
                text = (f"a{'n' if noun == 'int' else ''} {noun} in {'(' if self.low_open or self.low is None else '['}"
                        f"{lo}, {hi}{')' if self.high_open or self.high is None else ']'}")
        if self.optional:
            text += f" or None{f' ({self.none})' if self.none else ''}"
        return text

    def ok(self, value) -> bool:
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.valid_choices()
        if self.kind == "text":
            return isinstance(value, str) and bool(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True

    def validate(self, name: str, value) -> None:
        if not self.ok(value):
            raise ValueError(f"{name} must be {self.describe()}; got {value!r}")
        if value is not None and self.check is not None:
            self.check(name, value)

    def parse(self, text: str):
        """A command-line string as this option's value (argparse ``type=``)."""
        if self.kind == "choice" and text in self.valid_choices():
            return text  # a choice named "none" (importance weighting) is that choice, not None
        if self.optional and text.lower() == "none":
            return None
        if self.kind == "int":
            return int(text)
        if self.kind == "number":
            return float(text)
        return text


def Int(low: int | None = 1, high: int | None = None, *, optional: bool = False, none: str = "") -> Rule:
    """An int in [low, high] (default: positive)."""
    return Rule("int", low=low, high=high, optional=optional, none=none)


def Number(low: float | None = 0, high: float | None = None, *, low_open: bool = True, high_open: bool = False,
           optional: bool = False, none: str = "") -> Rule:
    """A finite number (default: positive)."""
    return Rule("number", low=low, high=high, low_open=low_open, high_open=high_open, optional=optional, none=none)


def Choice(choices, *, optional: bool = False, none: str = "") -> Rule:
    """One of ``choices`` (a tuple, or a function returning the names)."""
    return Rule("choice", choices=choices, optional=optional, none=none)


def Flag() -> Rule:
    return Rule("bool")


def Text(*, optional: bool = False, none: str = "", check=None) -> Rule:
    return Rule("text", optional=optional, none=none, check=check)


@dataclass(frozen=True)
class Spec:
    """The declaration of one option: its ``help`` (one line) and its :class:`Rule`."""

    help: str
    rule: Rule


def option(default, help: str, rule: Rule) -> Any:
    """A dataclass field declaring an option (default, one-line meaning, rule)."""
    return field(default=default, metadata={"option": Spec(help, rule)})


def default(base: type, name: str, value) -> Any:
    """Field ``name`` of the options block ``base`` with another default (same meaning and rule)."""
    f = next((f for f in fields(base) if f.name == name), None)
    if f is None:
        raise ValueError(f"{base.__name__} declares no option {name!r}")
    return field(default=value, metadata=f.metadata)


def spec_of(f: Field) -> Spec | None:
    return f.metadata.get("option")


def declared(cls_or_obj) -> list[tuple[str, Spec, Any]]:
    """(name, spec, default) of every declared option of an options class or instance."""
    out = []
    for f in fields(cls_or_obj):
        spec = spec_of(f)
        if spec is not None:
            out.append((f.name, spec, None if f.default is MISSING else f.default))
    return out


def validate(options, prefix: str = "") -> None:
    """Check every declared option of ``options`` against its rule (ValueError: name, rule, value)."""
    for f in fields(options):
        spec = spec_of(f)
        if spec is not None:
            spec.rule.validate(prefix + f.name, getattr(options, f.name))


# ---------------------------------------------------------------------------- CLI and docs
@dataclass(frozen=True)
class Entry:
    """One option name across several options blocks: ``groups`` of (meaning, rule, owners) (one group when
    every owner declares it alike) and ``defaults`` (owner, default)."""

    name: str
    groups: tuple[tuple[str, Rule, tuple[str, ...]], ...]
    defaults: tuple[tuple[str, Any], ...]

    @property
    def rule(self) -> Rule:
        return self.groups[0][1]


def collect(blocks: Iterable[tuple[str, type]]) -> list[Entry]:
    """Merge options blocks (owner name, options class) by option name, in first-seen order."""
    groups: dict[str, dict[tuple[str, str], tuple[Rule, list[str]]]] = {}
    defaults: dict[str, list[tuple[str, Any]]] = {}
    for owner, cls in blocks:
        for name, spec, value in declared(cls):
            key = (spec.help, spec.rule.describe())
            groups.setdefault(name, {}).setdefault(key, (spec.rule, []))[1].append(owner)
            defaults.setdefault(name, []).append((owner, value))
    return [Entry(n, tuple((h, rule, tuple(owners)) for (h, _), (rule, owners) in g.items()), tuple(defaults[n]))
            for n, g in groups.items()]


def _fmt(value) -> str:
    return "None" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def defaults_text(entry: Entry) -> str:
    """"128" when every owner has the same default, else "dm 1, dc/dsa 0.1, mtt 1000"."""
    by_value: dict[str, list[str]] = {}
    for owner, value in entry.defaults:
        by_value.setdefault(_fmt(value), []).append(owner)
    if len(by_value) == 1:
        return next(iter(by_value))
    return ", ".join(f"{'/'.join(owners)} {value}" for value, owners in by_value.items())


def _owners(owners: Sequence[str], all_owners: Sequence[str]) -> str:
    return "" if not all_owners or set(owners) >= set(all_owners) else "/".join(owners) + ": "


def meaning_text(entry: Entry, all_owners: Sequence[str] = (), with_rule: bool = True) -> str:
    """The meaning (and accepted values) per group of owners, e.g. "dc/dm: blocks of the network (a positive int)"."""
    parts = []
    for h, rule, owners in entry.groups:
        prefix = _owners(owners, all_owners)
        parts.append(f"{prefix}{h}" + (f" ({rule.describe()})" if with_rule else ""))
    return "; ".join(parts)


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, entries: Iterable[Entry],
              all_owners: Sequence[str] = ()) -> list[str]:
    """One ``--flag`` per entry (``--x/--no-x`` for booleans), default None (= the owner's default);
    returns the dest names. The help says the meaning, the accepted values and each owner's default."""
    dests = []
    for e in entries:
        flag = "--" + e.name.replace("_", "-")
        text = f"{meaning_text(e, all_owners)}; default {defaults_text(e)}".replace("%", "%%")
        if e.rule.kind == "bool":
            parser.add_argument(flag, dest=e.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            metavar = "{" + ",".join(e.rule.valid_choices()) + "}" if e.rule.kind == "choice" else e.name.upper()
            parser.add_argument(flag, dest=e.name, type=e.rule.parse, default=None, metavar=metavar, help=text)
        dests.append(e.name)
    return dests


def markdown_table(entries: Iterable[Entry], all_owners: Sequence[str] = ()) -> str:
    """| option | meaning | accepts | default | as a Markdown table (a row per meaning)."""
    lines = ["| option | meaning | accepts | default |", "|---|---|---|---|"]
    for e in entries:
        for i, (h, rule, owners) in enumerate(e.groups):
            defaults = Entry(e.name, (e.groups[i],), tuple((o, v) for o, v in e.defaults if o in owners))
            cells = [f"`{e.name}`", _owners(owners, all_owners) + h, rule.describe(), defaults_text(defaults)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
