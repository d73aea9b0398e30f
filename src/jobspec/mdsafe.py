"""Untrusted text into GitHub markdown as plain text: the one place that does it.

Whoever can name a job on the server can write into the pull-request comment, so every server
string (names, ids, paths, error text) reaches markdown only through `code` (inline), `fence`
(a block) or `html_code` (inside HTML such as `<summary>`). A code span is the simple safe
choice: cmark-gfm parses nothing inside it (no link, image, emphasis, autolink or HTML), and
GitHub links no @mention or #ref inside `<code>` or `<pre>`. Pure string work.
"""

from __future__ import annotations

import re

__all__ = ["code", "fence", "html_code", "one_line"]

_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_BACKTICKS = re.compile(r"`+")


def one_line(text: str) -> str:
    """`text` with its line breaks as spaces: a break could end a paragraph, an HTML block or a
    list item and let the rest be read as markdown. NUL, which cmark replaces, goes too."""
    return _LINE_BREAKS.sub(" ", text).replace("\x00", "\ufffd")


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code(text: str) -> str:
    """`text` as one inline code span, read back verbatim (line breaks as spaces).

    The fence is one backtick longer than the longest run inside, so no run can close it; a
    space pads both ends when the text starts or ends with a backtick or a space (CommonMark
    strips exactly one from each end then). Not for table cells, where `|` splits the cell.
    """
    flat = one_line(text)
    if not flat.strip(" "):
        return f"`{flat or ' '}`"  # all spaces are kept; an empty span shows as one space
    ticks = "`" * (_longest_run(flat) + 1)
    pad = " " if flat[0] in "` " or flat[-1] in "` " else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def fence(lines: list[str], *, info: str = "") -> str:
    """`lines` as one fenced code block (ending with a newline), each line shown verbatim.

    The fence is longer than any backtick run inside, so no line can close it, and each line
    is one line, so none can start another block.
    """
    body = [one_line(line) for line in lines]
    ticks = "`" * max(3, _longest_run("\n".join(body)) + 1)
    return f"{ticks}{info}\n" + "".join(f"{line}\n" for line in body) + f"{ticks}\n"


def html_code(text: str) -> str:
    """`text` as `<code>…</code>` inside raw HTML (where markdown does not apply), escaped and
    on one line, so that no blank line ends the HTML block."""
    escaped = (
        one_line(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )
    return f"<code>{escaped}</code>"
