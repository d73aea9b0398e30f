"""Spec text written back: `jobspec fmt`'s canonical form and the files `generate` writes.

Both use ruamel's round-trip emitter, so comments, key order and flow style survive `fmt`.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from jobspec.model import SPEC_VERSION


def format_spec_text(text: str) -> str:
    """The canonical form of a spec file: comments, key order and flow style kept.

    ruamel's round-trip loader re-emits the file with two-space indentation, sequences
    indented under their key, no trailing spaces, and minimal quoting; formatting the result
    again changes nothing. Only call it on text that loads without problems.
    """
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.preserve_quotes = False
    document = yaml.load(text)
    _quote_exactly(document)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


GeneratedJob = tuple[str, dict[str, Any], list[str]]
"""A generated spec: its address, its body, and the comment lines written above it."""


def render_generated(*, header: list[str], jobs: list[GeneratedJob]) -> str:
    """A spec file holding `jobs`, in the canonical form `jobspec fmt` writes.

    Each job's comment lines go above its address, and a blank line separates the jobs, so a
    reviewer reads what each job is next to what the spec asks of it.
    """

    def commented(value: Any) -> Any:
        if isinstance(value, dict):
            return CommentedMap((key, commented(item)) for key, item in value.items())
        if isinstance(value, list):
            return [commented(item) for item in value]
        return _exact_scalar(value)

    written = CommentedMap()
    for index, (address, body, comment) in enumerate(jobs):
        written[address] = commented(body)
        lines = [_one_line(line) for line in comment]
        if lines or index:
            before = "\n".join(lines)
            written.yaml_set_comment_before_after_key(
                address, before=("\n" + before if index else before), indent=2
            )
    root = CommentedMap(version=SPEC_VERSION, jobs=written)
    if header:
        root.yaml_set_start_comment("\n".join(_one_line(line) for line in header))
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _exact_scalar(value: Any) -> Any:
    """`value`, double-quoted when it holds a line break (\x85, \u2028) or a control
    character: the emitter folds those inside plain or single-quoted scalars, which changes
    the value (`"x\\Ny"` would come back as `x y`); only double quotes escape them exactly."""
    if isinstance(value, str) and _NOT_IN_A_COMMENT.search(value):
        return DoubleQuotedScalarString(value)
    return value


def _quote_exactly(node: Any) -> None:
    """Apply `_exact_scalar` in place to every string value below `node` (comments kept)."""
    if isinstance(node, dict):
        for key in list(node):
            item = node[key]
            if isinstance(item, dict | list):
                _quote_exactly(item)
            elif isinstance(item, str) and _exact_scalar(item) is not item:
                node[key] = _exact_scalar(item)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, dict | list):
                _quote_exactly(item)
            elif isinstance(item, str) and _exact_scalar(item) is not item:
                node[index] = _exact_scalar(item)


def _one_line(text: str) -> str:
    """A comment line: a name with a newline or a control character must not end the comment."""
    return _NOT_IN_A_COMMENT.sub(" ", text).rstrip()


# YAML's printable characters (YAML 1.2, 5.1) without line breaks (\x85, \u2028, \u2029) and
# the byte order mark: anything else in a name would end the comment or be refused.
_NOT_IN_A_COMMENT = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]+"
)
