"""The scrubber: no known secret survives in any encoding; credential-shaped text is masked.

Property-tested over random secrets (any Unicode but `*`, at least MIN_SECRET long), random
surrounding text and every encoding a server could echo them in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given, settings, strategies as st

from jobspec.scrub import MASK, MIN_SECRET, Scrubber, clean_unicode, shorten


def _lower_hex(text: str) -> str:
    """Percent-encoding with lower-case hex, as some servers write it."""
    out = []
    for part in quote(text, safe="").split("%"):
        out.append(part[:2].lower() + part[2:] if out else part)
    return "%".join(out)


def _half_encoded(text: str) -> str:
    """Every other character percent-encoded, the rest raw: still the same secret on the wire."""
    return "".join(quote(c, safe="") if i % 2 else c for i, c in enumerate(text))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "quote": lambda s: quote(s, safe=""),
    "quote-default-safe": quote,
    "quote_plus": lambda s: quote_plus(s, safe=""),
    "lower-hex": _lower_hex,
    "every-char": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "half-encoded": _half_encoded,
    "json-ascii": lambda s: json.dumps(s)[1:-1],
    "json-escaped-slash": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "form-field": lambda s: urlencode({"grant_type": "password", "password": s}),
}

secret_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="*"),
    min_size=MIN_SECRET,
    max_size=40,
).filter(lambda s: len(s.strip()) >= MIN_SECRET)
around = st.text(alphabet=st.characters(blacklist_characters="*"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    secret=secret_text,
    other=secret_text,
    encoding=st.sampled_from(sorted(ENCODINGS)),
    before=around,
    after=around,
)
def test_no_secret_survives_in_any_encoding(
    secret: str, other: str, encoding: str, before: str, after: str
) -> None:
    scrub = Scrubber([secret, other])
    encoded = ENCODINGS[encoding](secret)
    out = scrub(f"{before}{encoded}{after}")
    for form in ENCODINGS.values():
        for candidate in (form(secret), form(other)):
            assert candidate not in out or candidate in before + after, (encoding, out)


@settings(max_examples=200, deadline=None)
@given(secret=secret_text, encoding=st.sampled_from(sorted(ENCODINGS)))
def test_known_mode_also_masks_every_encoding(secret: str, encoding: str) -> None:
    out = Scrubber([secret]).known(f'{{"name": "{ENCODINGS[encoding](secret)}"}}')
    assert MASK in out
    assert ENCODINGS[encoding](secret) not in out


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ('{"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}}', "YWRtaW46YWRtaW4="),
        ("echo: bearer 0123456789abcdef", "0123456789abcdef"),
        ("postgresql://jobspec:p%ss@db/x", "p%ss"),
        ("host=db sslpassword=Key-Pass-9 dbname=x", "Key-Pass-9"),
        ("?refresh_token=r-123456&x=1", "r-123456"),
        ('{"client_secret": "cs-9876", "access_token": "at-5555"}', "cs-9876"),
        ('{"client_secret": "cs-9876", "access_token": "at-5555"}', "at-5555"),
        ('{\\"password\\": \\"quoted-pw\\"}', "quoted-pw"),
    ],
)
def test_credential_shaped_text_is_masked_without_knowing_the_secret(
    text: str, hidden: str
) -> None:
    out = Scrubber()(text)
    assert hidden not in out
    assert MASK in out


def test_ordinary_messages_are_left_alone() -> None:
    text = "GET v1/jobs: the token was refused; check JOBSPEC_TOKEN (basic settings)"
    assert Scrubber(["S3cret+pass/word+1"])(text) == text


def test_short_secrets_are_not_scrubbed_and_blanks_ignored() -> None:
    scrub = Scrubber(["ab", "", None, "   "])
    assert scrub("abc ab") == "abc ab"


def test_a_secret_added_later_is_scrubbed_from_then_on() -> None:
    scrub = Scrubber(["first-secret"])
    assert scrub("fresh-token-1") == "fresh-token-1"
    scrub.add("fresh-token-1")
    assert scrub("fresh-token-1 first-secret") == f"{MASK} {MASK}"


def test_shorten_keeps_both_ends_and_says_how_much_is_gone() -> None:
    name = "A" * 5_000_000 + "Z"
    out = shorten(name, 200)
    assert len(out) <= 200
    assert out.startswith("AAA") and out.endswith("Z")
    assert "characters]" in out
    assert shorten("short") == "short"


def test_clean_unicode_replaces_lone_surrogates_in_keys_and_values() -> None:
    raw = json.loads('{"name": "a\\ud800b", "\\udfffkey": ["x\\udc00"], "n": 1}')
    cleaned = clean_unicode(raw)
    assert cleaned == {"name": "a\ufffdb", "\ufffdkey": ["x\ufffd"], "n": 1}
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")  # encodable now
    clean = {"name": "fine", "list": [1, "two"]}
    assert clean_unicode(clean) is clean


def test_forget_all_starts_a_new_run_knowing_nothing() -> None:
    scrub = Scrubber(["first-run-token-1234"])
    assert "first-run-token-1234" not in scrub("x first-run-token-1234 y")
    scrub.forget_all()
    assert scrub("x first-run-token-1234 y") == "x first-run-token-1234 y"
    scrub.add("second-run-secret")
    assert "second-run-secret" not in scrub("second-run-secret")


# --- the word checks before the credential-shaped patterns change nothing ---------------------


def _every_pattern(scrubber: Scrubber, text: str) -> str:
    """The scrubber as it was: every credential-shaped pattern run on every text."""
    from jobspec import scrub

    text = scrubber.known(text)
    text = scrub._URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    text = scrub._AUTHORIZATION.sub(rf"\1{MASK}", text)
    text = scrub._SCHEME_VALUE.sub(rf"\1\2{MASK}", text)
    text = scrub._JSON_FIELD.sub(rf"\1{MASK}\3", text)
    return scrub._KEY_VALUE.sub(rf"\1\2{MASK}", text)


_PIECES = [
    "password",
    "PaſſWord",  # long s: IGNORECASE matches it to `s`
    "apİ_key",  # dotted capital I
    "ToKen",  # Kelvin sign
    "client_secret",
    "sslpassword",
    "authorization",
    "AuthorizatİoN",
    "Bearer ",
    "bearer",
    "Basic ",
    "https://user:pw@host/",
    "://",
    "@",
    "=",
    ": ",
    '"',
    '\\"',
    "'",
    "&",
    " ",
    "→",
    "abcdefgh12345678",
    "x",
]


@settings(max_examples=400)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=14))
def test_the_word_checks_mask_exactly_what_every_pattern_masks(pieces: list[str]) -> None:
    text = "".join(pieces)
    scrubber = Scrubber(["S3cret+pass/word"])
    assert scrubber(text) == _every_pattern(scrubber, text)


@pytest.mark.parametrize(
    "line",
    [
        "bench-1: cloned 1 → 2: server said password=hunter22 and PAſSWORD: 'x'",
        'error: GET v1/jobs: server answered {"detail": "Authorization: Bearer abcdefgh123"}',
        'the server said {\\"access_token\\": \\"eyJhbGciOi.J9\\"} → stopped',
        "proxy at https://ops:hunter22@proxy.example/ refused",
        "warning: job 'Finance' has a field apİ_key=0123456789",
    ],
)
def test_server_text_in_a_line_is_still_masked(line: str) -> None:
    out = Scrubber([])(line)
    for secret in ("hunter22", "abcdefgh123", "eyJhbGciOi.J9", "0123456789"):
        assert secret not in out
    assert MASK in out


def _every_form(secret: str) -> list[str]:
    """The secret as the scrubber must find it: each encoding above, in other cases, HTML
    character references, percent-encoded twice, and base64 at each offset."""
    import base64
    import html

    data = secret.encode("utf-8", "surrogatepass")
    forms = [encode(secret) for encode in ENCODINGS.values()]
    forms += [secret.upper(), secret.casefold(), secret.swapcase(), html.escape(secret)]
    forms.append("".join(f"&#{ord(c)};" for c in secret))
    forms.append("".join(f"&#x{ord(c):X};" for c in secret))
    forms.append(quote(quote(secret, safe=""), safe=""))
    for offset in range(3):
        encoded = base64.b64encode(b"x" * offset + data).decode("ascii")
        forms += [encoded, encoded.replace("+", "-").replace("/", "_")]
    return forms


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(secret_text, min_size=1, max_size=3),
    pieces=st.lists(st.one_of(st.integers(0, 40), around), max_size=8),
)
def test_the_look_ahead_masks_exactly_what_the_forms_alone_mask(
    secrets: list[str], pieces: list[int | str]
) -> None:
    """The pattern's leading look-ahead (the characters a form can start with) only skips
    positions: the same text masked by the forms without it comes out identical."""
    import re

    from jobspec.scrub import _secret_pattern

    forms = [form for secret in secrets for form in _every_form(secret)]
    text = "".join(
        forms[piece % len(forms)] if isinstance(piece, int) else piece for piece in pieces
    )
    scrub = Scrubber(secrets)
    ordered = sorted(scrub._secrets, key=len, reverse=True)  # the order the scrubber uses
    reference = re.compile("|".join(_secret_pattern(s) for s in ordered))
    assert scrub.known(text) == reference.sub(MASK, text)
