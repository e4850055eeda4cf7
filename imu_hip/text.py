"""Showing untrusted text (device names, file metadata) safely in a terminal."""

from __future__ import annotations


def terminal_safe(text: object, max_len: int = 200) -> str:
    """``text`` with control characters (ANSI escapes, newlines...) shown as escapes, and cut
    to ``max_len`` characters, so a hostile name cannot rewrite the terminal."""
    s = str(text)
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    return out if len(out) <= max_len else out[: max_len - 1] + "…"
