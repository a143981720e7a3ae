"""Deterministic names, uids, addresses, noise and timestamps.

Everything the sandbox invents is derived from stable inputs (names, counters, time), so
that the same scenario yields the same pod names, uids and metrics on every run.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

__all__ = [
    "digest",
    "human_age",
    "noise",
    "parse_time",
    "rfc3339",
    "rfc3339_micro",
    "rfc3339_nano",
    "safe_suffix",
    "smooth_noise",
    "uid",
    "unit",
]

# Kubernetes' SafeEncodeString alphabet: no vowels, no look-alike characters.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MASK = (1 << 64) - 1


def digest(*parts: object) -> int:
    """A stable 64-bit integer for the given parts."""
    data = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for the given parts."""
    return digest(*parts) / 2**64


def safe_suffix(length: int, *parts: object) -> str:
    """Kubernetes-style random-looking suffix (pod names, template hashes)."""
    value = digest(*parts)  # 64 bits cover 13 characters of a 27-letter alphabet
    out = []
    for _ in range(length):
        value, index = divmod(value, len(_ALPHABET))
        out.append(_ALPHABET[index])
    return "".join(out)


def uid(*parts: object) -> str:
    """A UUID-shaped identifier."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _mix(seed: int, index: int) -> int:
    # splitmix64: fast, good enough for noise, and independent of Python's hash seed.
    z = (seed + (index + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def noise(seed: int, index: int) -> float:
    """Lattice noise value in [-1, 1] for integer `index`."""
    return _mix(seed, index) / 2**63 - 1.0


def smooth_noise(seed: int, x: float) -> float:
    """Cosine-interpolated lattice noise in [-1, 1]; its slope is at most pi."""
    i = math.floor(x)
    f = x - i
    w = 0.5 - 0.5 * math.cos(math.pi * f)
    return noise(seed, i) * (1 - w) + noise(seed, i + 1) * w


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(t: float) -> str:
    micro = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{micro}000Z"


def parse_time(text: str) -> float:
    """An RFC 3339 timestamp as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def human_age(seconds: float) -> str:
    """kubectl's short duration format (HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if days < 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"
