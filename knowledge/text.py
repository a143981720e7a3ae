"""Language detection and tokenisation shared by the full-text index and the vectoriser.

RediSearch's default tokenizer splits on whitespace and punctuation only, so a run of
Chinese characters would become one huge token that no question ever matches. We
therefore index a pre-tokenised form of every chunk: English words as they are (the server
stems them) and Chinese as overlapping character bigrams, the usual dictionary-free way to
search CJK text. Questions go through the same function, so both sides agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "EN_STOPWORDS",
    "ZH_STOP_BIGRAMS",
    "detect_lang",
    "escape_term",
    "is_cjk",
    "search_form",
    "tokens",
]

# CJK Unified Ideographs and extension A; enough for operations text.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_RUN = re.compile(rf"[{_CJK}]+|[A-Za-z0-9_]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")

# Words that carry no topic. Questions are short, so one "how" or "the" matching every
# chunk would blur BM25's ranking; kept small and lower-case.
EN_STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did",
    "do", "does", "doing", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "should", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "you", "your", "us", "get", "got", "need", "needs", "please", "tell", "show",
    "about", "after", "before", "again", "any", "all", "also", "just", "keep", "keeps", "kept",
    "still", "always", "happen", "happens", "happening", "going", "what's", "whats", "there's",
])

# Question words and filler bigrams of Chinese questions ("怎么办", "如何处理", "为什么").
# They appear in every question and in no runbook heading, so they only add noise.
ZH_STOP_BIGRAMS = frozenset([
    "怎么", "么办", "如何", "什么", "为什", "为何", "么处", "应该", "该怎", "一下",
    "这个", "那个", "是否", "可以", "我们", "你们", "有没", "没有", "哪些", "哪个",
    "时候", "的时", "候该", "了怎", "是什", "么原", "出现", "现了", "发生", "生了",
    "看到", "一直", "题怎",
])


def is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u4dbf" or "\u4e00" <= char <= "\u9fff"


def detect_lang(text: str) -> str:
    """``zh`` when Chinese characters outweigh English words, else ``en``.

    Chinese operations text is full of English commands and metric names, so counting
    characters would call it English; one Chinese character weighs about one word.
    """
    cjk = sum(len(run) for run in _CJK_RUN.findall(text))
    words = len(re.findall(r"[A-Za-z]{2,}", text))
    return "zh" if cjk and cjk >= words * 0.8 else "en"


def tokens(text: str, *, drop_stopwords: bool = True, unigrams: bool = False) -> list[str]:
    """Lower-case English words and Chinese character bigrams, in text order.

    ``snake_case`` metric names are kept whole and also split, so ``memory`` matches
    ``container_memory_working_set_bytes``. A one-character Chinese run (or every
    character, with ``unigrams``) is kept as a unigram so it is not lost.
    """
    out: list[str] = []
    for run in _RUN.findall(text):
        if is_cjk(run[0]):
            if len(run) == 1:
                out.append(run)
                continue
            if unigrams:
                out.extend(run)
            for i in range(len(run) - 1):
                bigram = run[i:i + 2]
                if not (drop_stopwords and bigram in ZH_STOP_BIGRAMS):
                    out.append(bigram)
            continue
        word = run.lower().strip("_")
        if not word or (drop_stopwords and word in EN_STOPWORDS):
            continue
        out.append(word)
        if "_" in word:
            out.extend(part for part in word.split("_")
                       if part and not (drop_stopwords and part in EN_STOPWORDS))
    return out


def search_form(parts: Iterable[str], **options: bool) -> str:
    """The space-joined tokens of ``parts``: what the full-text field stores."""
    return " ".join(tok for part in parts for tok in tokens(part, **options))


def escape_term(term: str) -> str:
    """Escape a token for the RediSearch query syntax.

    Tokens only hold letters, digits, ``_`` and CJK, but a leading digit or a reserved
    word would still confuse the parser, so anything outside ``[a-z_]`` and CJK is escaped.
    """
    return "".join(ch if (ch.isalpha() and ch.isascii()) or ch == "_" or is_cjk(ch)
                   else "\\" + ch for ch in term)
