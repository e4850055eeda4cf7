"""Showing untrusted text (device names, file metadata) safely in a terminal, a file or a page."""

from __future__ import annotations


def terminal_safe(text: object, max_len: int = 200) -> str:
    """``text`` with control characters (ANSI escapes, newlines...) shown as escapes, and cut
    to ``max_len`` characters, so a hostile name cannot rewrite the terminal."""
    s = str(text)
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    return out if len(out) <= max_len else out[: max_len - 1] + "…"


#: Bidirectional embedding/override/isolate marks: they can reorder the text shown after them.
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


def escape_controls(text: object, max_len: int | None = None) -> str:
    """``text`` with control characters (C0 but tab and line breaks, DEL, C1) and bidirectional
    override marks shown as escapes, other characters (accents, emoji, non-breaking spaces)
    kept; cut to ``max_len``. For files and HTML, where a line break is harmless text."""
    s = str(text)
    out = "".join(
        c.encode("unicode_escape").decode("ascii")
        if (ord(c) < 32 and c not in "\t\n\r") or 127 <= ord(c) < 160 or ord(c) in _BIDI
        else c
        for c in s)
    return out if max_len is None or len(out) <= max_len else out[: max_len - 1] + "…"
