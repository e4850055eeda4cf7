"""Markdown tables for the benchmark printouts (shared by the benchmark scripts)."""

from __future__ import annotations


def md_table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table with padded columns (first column left-aligned, the others right)."""
    width = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
             for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, width, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i else (":" + "-" * (w + 1))
                          for i, w in enumerate(width)) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in rows)])
