"""A bilingual glossary of operations terms, used to bridge English and Chinese.

Character n-grams share nothing between "memory" and "内存", and no multilingual model can
be downloaded at run time, so cross-lingual retrieval rests on this table (shipped in
``data/glossary.tsv``): a text mentioning a term on one side is expanded with the terms of
the other side before it is indexed or embedded. Matching is deliberately simple: English
phrases match on crudely stemmed words, Chinese terms as substrings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from knowledge import text as text_mod

__all__ = ["DEFAULT_PATH", "Glossary", "load_default", "stem"]

DEFAULT_PATH = Path(__file__).with_name("data") / "glossary.tsv"

_WORDS = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A crude English stem, good enough to make "restarts", "restarting" and "restart"
    (or "certificates" and "certificate") meet; it is applied to both sides."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix) and not w.endswith("ss"):
            w = w[: -len(suffix)]
            break
    return w[:-1] if len(w) > 3 and w.endswith("e") else w


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in _WORDS.findall(phrase.lower()))


@dataclass
class Glossary:
    """English phrases <-> Chinese terms; one entry may hold several of each."""

    entries: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    # stems of an English phrase -> entry indexes; built lazily from ``entries``
    _en: dict[tuple[str, ...], list[int]] = field(default_factory=dict, repr=False)
    _zh: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _max_words: int = field(default=1, repr=False)

    def __post_init__(self) -> None:
        for i, (en_terms, zh_terms) in enumerate(self.entries):
            for term in en_terms:
                key = _stems(term)
                if key:
                    self._en.setdefault(key, []).append(i)
                    self._max_words = max(self._max_words, len(key))
            for term in zh_terms:
                if any(text_mod.is_cjk(ch) for ch in term):
                    self._zh.setdefault(term, []).append(i)

    @classmethod
    def from_tsv(cls, path: Path) -> Glossary:
        entries: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            en, _, zh = line.partition("\t")
            en_terms = tuple(t.strip() for t in en.split("|") if t.strip())
            zh_terms = tuple(t.strip() for t in zh.split("|") if t.strip())
            if en_terms and zh_terms:
                entries.append((en_terms, zh_terms))
        return cls(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def matches(self, text: str) -> tuple[set[int], set[int]]:
        """Indexes of the entries whose English side, and whose Chinese side, ``text`` uses."""
        words = [stem(w) for w in _WORDS.findall(text.lower())]
        en_hits: set[int] = set()
        for n in range(1, self._max_words + 1):
            for start in range(len(words) - n + 1):
                en_hits.update(self._en.get(tuple(words[start:start + n]), ()))
        zh_hits: set[int] = set()
        if any(text_mod.is_cjk(ch) for ch in text):
            for term, ids in self._zh.items():
                if term in text:
                    zh_hits.update(ids)
        return en_hits, zh_hits

    def expand(self, text: str, *, to: str = "both") -> list[str]:
        """The other-language terms for what ``text`` mentions, in entry order.

        ``to="zh"`` only adds Chinese terms for English mentions, ``to="en"`` the reverse;
        a term the text already contains is not added again.
        """
        en_hits, zh_hits = self.matches(text)
        added: list[str] = []
        if to in ("both", "zh"):
            for i in sorted(en_hits - zh_hits):
                added.extend(self.entries[i][1])
        if to in ("both", "en"):
            for i in sorted(zh_hits - en_hits):
                added.extend(self.entries[i][0])
        return list(dict.fromkeys(added))

    def fingerprint(self) -> str:
        """Changes whenever the table does, so an index built with another table is rebuilt."""
        digest = hashlib.sha256()
        for en_terms, zh_terms in self.entries:
            digest.update(("|".join(en_terms) + "\t" + "|".join(zh_terms) + "\n").encode())
        return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def load_default() -> Glossary:
    return Glossary.from_tsv(DEFAULT_PATH)
