"""Prompt files next to the code: `prompts/NAME.md`, loaded once at start.

Each file starts with a `version: N` line, logged at start so that an answer can be
traced to the prompts that produced it. Placeholders are `{{name}}`;
rendering with a missing or unknown placeholder is an error, not a silent blank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["NAMES", "Prompt", "PromptError", "Prompts", "load_prompts"]

NAMES = ("system", "route", "query_agent", "rca_narrative", "digest_narrative", "ask_answer")
_VERSION = re.compile(r"^version:\s*(\S+)\s*$")
_SLOT = re.compile(r"\{\{(\w+)\}\}")


class PromptError(ValueError):
    """A prompt file is missing, has no version line, or was rendered wrongly."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(_SLOT.findall(self.text))

    def render(self, **values: str) -> str:
        missing = self.slots - values.keys()
        unknown = values.keys() - self.slots
        if missing or unknown:
            raise PromptError(f"prompt {self.name}: missing {sorted(missing)}, "
                              f"unknown {sorted(unknown)}")
        return _SLOT.sub(lambda m: values[m.group(1)], self.text)


@dataclass(frozen=True)
class Prompts:
    by_name: dict[str, Prompt]

    def __getitem__(self, name: str) -> Prompt:
        return self.by_name[name]

    def versions(self) -> str:
        return ", ".join(f"{p.name} v{p.version}" for p in self.by_name.values())


def _parse(name: str, raw: str) -> Prompt:
    first, _, body = raw.partition("\n")
    match = _VERSION.match(first)
    if not match:
        raise PromptError(f"prompt {name}.md must start with a `version: N` line")
    return Prompt(name, match.group(1), body.strip() + "\n")


def load_prompts(names: tuple[str, ...] = NAMES) -> Prompts:
    """Read every prompt file of the package; fails at start rather than mid-incident."""
    folder = resources.files("graph.llm").joinpath("prompts")
    loaded: dict[str, Prompt] = {}
    for name in names:
        try:
            raw = folder.joinpath(f"{name}.md").read_text(encoding="utf-8")
        except (FileNotFoundError, OSError) as exc:
            raise PromptError(f"prompt file prompts/{name}.md is missing") from exc
        loaded[name] = _parse(name, raw)
    return Prompts(loaded)
