"""Server strings in the PR comment stay plain text, through GitHub's own renderer (cmark-gfm).

GitHub links @mentions and #refs after cmark, outside `<code>` and `<pre>` only; so besides
"no link, image, emphasis or HTML element" the tests ask that no `@` or `#` reaches a text
node outside code.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings, strategies as st

from jobspec.mdsafe import code, fence, html_code, one_line
from jobspec.plan import Plan
from jobspec.render import render_markdown
from tests.planner.helpers import OVERRIDES, SOURCE, desired, entry, live_job, plan_of

# A dev dependency; the lowest-versions run (scripts/test) installs only pytest and hypothesis.
cmarkgfm = pytest.importorskip("cmarkgfm")

HOSTILE = (
    "Payroll [see docs](https://evil.example/x) ![i](https://evil.example/i.png) @acme/admins "
    "*x_ __b__ ~~s~~ <img src=x onerror=alert(1)> <https://evil.example> www.evil.example "
    "https://evil.example #12 `tick` ``` | a | b |\n\n# heading\n<details>"
)

# Markdown's special characters, often, and any other character now and then.
SPECIAL = list("`*_[]()<>!@#|\\~:/.-+=&;\"' \n\r\twhtpsx1")
untrusted = st.text(
    alphabet=st.sampled_from(SPECIAL) | st.characters(codec="utf-8"),
    max_size=60,
)


def gfm(markdown: str) -> str:
    """HTML as GitHub renders it (raw HTML kept, so that any leak shows as a tag)."""
    unsafe = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE
    html: str = cmarkgfm.github_flavored_markdown_to_html(markdown, options=unsafe)
    return html


class Walk(HTMLParser):
    """The start tags in order, the text inside `<code>`, and the text outside code and pre."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.inside: list[str] = []
        self.code = ""
        self.plain = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag not in ("img", "br", "hr", "input"):
            self.inside.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.inside:
            while self.inside.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "code" in self.inside or "pre" in self.inside:
            self.code += data
        else:
            self.plain += data


@settings(max_examples=300)
@given(text=untrusted)
def test_a_code_span_reads_back_verbatim_and_makes_nothing_else(text: str) -> None:
    walk = Walk(gfm(f"- x {code(text)} y\n"))
    assert [tag for tag, _ in walk.tags] == ["ul", "li", "code"]
    assert walk.code == (one_line(text) or " ")
    assert walk.plain.strip() == "x  y"


@settings(max_examples=200)
@given(lines=st.lists(untrusted, max_size=5))
def test_a_fence_reads_back_verbatim_and_makes_nothing_else(lines: list[str]) -> None:
    walk = Walk(gfm("text\n\n" + fence(lines, info="diff") + "\nafter\n"))
    assert [tag for tag, _ in walk.tags] == ["p", "pre", "code", "p"]
    assert walk.tags[1] == ("pre", [("lang", "diff")])
    assert walk.code == "".join(f"{one_line(line)}\n" for line in lines)


@settings(max_examples=200)
@given(text=untrusted)
def test_html_code_in_a_summary_reads_back_verbatim(text: str) -> None:
    walk = Walk(gfm(f"<details><summary>{html_code(text)}: x</summary>\n\n*y*\n\n</details>\n"))
    assert [tag for tag, _ in walk.tags] == ["details", "summary", "code", "p", "em"]
    assert walk.code == one_line(text)


def named_plan(source_name: str, clone_name: str) -> Plan:
    """Two deletes, the jobs' names chosen by whoever controls the server."""
    other = "d" * 32
    want = desired("retire-it", overrides=OVERRIDES, original="delete")
    prior = {
        "gone-spec": entry(original="delete")["finance"].model_copy(update={"clone_id": other})
    }
    jobs = [live_job(SOURCE, name=source_name), live_job(other, name=clone_name)]
    return plan_of(want, prior, jobs, prune=True)


def test_a_hostile_job_name_renders_as_plain_text_and_the_warning_stays_bold() -> None:
    html = gfm(render_markdown(named_plan(HOSTILE, HOSTILE)))
    walk = Walk(html)
    tags = {tag for tag, _ in walk.tags}
    assert not tags & {"a", "img", "em", "del", "script", "h1", "input"}
    assert walk.tags[:2] == [("p", []), ("strong", [])]
    assert html.startswith("<p><strong>WARNING: this plan DELETES 2 jobs")
    assert "@" not in walk.plain and "#" not in walk.plain
    assert "Payroll [see docs](https://evil.example/x)" in walk.code


@settings(max_examples=40, deadline=None)
@given(source_name=untrusted, clone_name=untrusted)
def test_job_names_change_only_the_text_of_the_comment(source_name: str, clone_name: str) -> None:
    """The same elements, in the same order, as with plain names; nothing outside code."""
    assume_names = named_plan(source_name, clone_name)
    plain = Walk(gfm(render_markdown(named_plan("plain one", "plain two"))))
    walk = Walk(gfm(render_markdown(assume_names)))
    assert walk.tags == plain.tags
    assert walk.plain == plain.plain
    assert "@" not in walk.plain and "#" not in walk.plain


@pytest.mark.parametrize("text", ["", " ", "`", "``", " a ", "a`", "`a", "a\nb", "\r\n"])
def test_awkward_code_spans(text: str) -> None:
    walk = Walk(gfm(f"x {code(text)} y\n"))
    assert walk.code == (one_line(text) or " ")
