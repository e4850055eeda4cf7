"""Showing untrusted text (device names, file metadata) safely in a terminal, a file or a page."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

#: Bidirectional embedding/override/isolate marks: they can reorder the text shown after them.
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


def terminal_safe(text: object, max_len: int = 200) -> str:
    """``text`` with control characters (ANSI escapes, newlines...) shown as escapes, and cut
    to ``max_len`` characters, so a hostile name cannot rewrite the terminal."""
    return _escape(text, str.isprintable, max_len)


def wrote_line(paths: Iterable[object]) -> str:
    """The "wrote a, b, c" line a command prints after writing files (paths escaped: an output
    name may come from an untrusted input name)."""
    return "wrote " + ", ".join(terminal_safe(p) for p in paths)


def duration_text(seconds: float) -> str:
    """A duration (s) rounded down to the millisecond, so one just under a limit never prints as
    the limit itself."""
    return f"{math.floor(seconds * 1000.0) / 1000.0:g}"


def escape_controls(text: object, max_len: int | None = None) -> str:
    """``text`` with control characters (C0 but tab and line breaks, DEL, C1) and bidirectional
    override marks shown as escapes, other characters (accents, emoji, non-breaking spaces)
    kept; cut to ``max_len``. For files and HTML, where a line break is harmless text."""
    return _escape(text, _harmless_in_files, max_len)


def _harmless_in_files(c: str) -> bool:
    n = ord(c)
    return not ((n < 32 and c not in "\t\n\r") or 127 <= n < 160 or n in _BIDI)


def _escape(text: object, keep: Callable[[str], bool], max_len: int | None) -> str:
    """``text`` with each character ``keep`` refuses shown as its Python escape, cut to
    ``max_len`` characters (an ellipsis marks the cut)."""
    out = "".join(c if keep(c) else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return out if max_len is None or len(out) <= max_len else out[: max_len - 1] + "…"
