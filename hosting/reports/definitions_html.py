"""docs/DOWNTIME.md as HTML for the printed report: the small part of Markdown that document uses
(headings, paragraphs, bullet lists, one table, **bold**, *italic*, `code`). Everything is
escaped first, so the document cannot inject markup into a report."""

import re
from html import escape

from django.utils.safestring import SafeString, mark_safe

_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![*\w])\*([^*]+)\*(?![*\w])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    text = escape(text, quote=False)
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    return text


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_html(text: str, *, skip_title: bool = False) -> SafeString:
    """`skip_title`: leave out the document's own top heading (the page already has one)."""
    if skip_title and text.startswith("# "):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    table: list[list[str]] = []

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if table:
            head, *body = table
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in head)
                + f"</tr></thead><tbody>{rows}</tbody></table>"
            )
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            flush()
        elif line.startswith("#"):
            flush()
            level = min(len(line) - len(line.lstrip("#")) + 1, 4)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.lstrip().startswith("|"):
            if para or items:
                flush()
            if not re.fullmatch(r"\s*\|[\s|:-]+\|\s*", line):  # the |---| separator row
                table.append(_cells(line))
        elif line.startswith("- "):
            if para or table:
                flush()
            items.append(line[2:].strip())
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        else:
            if items or table:
                flush()
            para.append(line.strip())
    flush()
    return mark_safe("\n".join(out))  # every text went through escape() above
