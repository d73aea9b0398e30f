"""Text from a server or a database, made safe to show: secrets scrubbed, length bounded.

Every piece of server or database text passes through here before it reaches a terminal, a
log, a plan or a state. A hostile or broken server may echo our request back (the form with
the password, the `Authorization` header) or a driver may quote the URL it was given, in any
encoding, so a `Scrubber` knows the secrets of this run and replaces each of them in every
form it can take on the wire:

- raw, percent-encoded (upper- or lower-case hex, any mix of encoded and plain characters, as
  `quote`, `quote_plus` and form encoding produce) and double-percent-encoded (`%252B`), `+` for
  a space, JSON `\\uXXXX` / `\\/`, and HTML character references (`&amp;`, `&#43;`, `&#x2b;`);
- for a secret of `MIN_FOLDED` characters or more, also in any case (upper-cased, case-folded)
  and base64-encoded (standard or URL-safe, alone or inside a longer base64 text);
- besides the known secrets, any `Authorization` value, `Bearer …`, the password of a
  `scheme://user:password@`, and secret-named query, form or JSON fields (`password=`,
  `sslpassword=`, `client_secret`, `access_token`, `refresh_token`, …).

`shorten` bounds a string a server chose (a 10 MB job name) for human output, and
`clean_unicode` replaces what cannot be encoded (lone surrogates from `"\\ud800"`). All pure;
this module imports nothing of jobspec, so every layer may use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET",
    "NAME_LIMIT",
    "Scrubber",
    "clean_unicode",
    "is_secret_key",
    "shorten",
    "url_secrets",
]

MASK = "***"
MIN_SECRET = 4
MIN_FOLDED = 8
"""From this length on, a secret is also masked in any case and base64-encoded: shorter, those
forms would match ordinary words and base64 text by chance."""
"""Shorter secrets are not scrubbed: masking every `ab` would make output unreadable, and a
secret that short is guessed, not leaked."""
NAME_LIMIT = 200
"""The longest server string (a name, a path, an error description) human output shows whole."""

_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_SECRET_KEYS = (
    r"(?:ssl)?password|passwd|pwd|pgpassword|client_secret|secret|access_token|refresh_token"
    r"|id_token|token|api_key|apikey"
)
_KEY_STEMS = ("passw", "pwd", "secret", "token", "apikey", "api_key")
"""A piece of every `_SECRET_KEYS` name, lower-case: a name in the text holds one of them."""
_FOLDED = "\u0130\u0131\u017f\u212a"
_FOLD = str.maketrans(_FOLDED, "iisk")
"""The non-ASCII letters `re.IGNORECASE` matches to ASCII ones (`İ ı ſ K`), made ASCII before
lower-casing, so the word checks in `Scrubber.__call__` see what the patterns would."""
# `key=value` in a query string, a form body or libpq's `key=value` conninfo.
_KEY_VALUE = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_SECRET_KEYS})(\s*=\s*)('[^']*'|[^&\s\"',;]+)")
# `"key": "value"` in JSON, also with escaped quotes inside an error description.
_JSON_FIELD = re.compile(rf'(?i)(\\?"(?:{_SECRET_KEYS})\\?"\s*:\s*\\?")((?:[^"\\]|\\.)*?)(\\?")')
_AUTHORIZATION = re.compile(r"(?i)(authorization\\?\"?\s*[:=]\s*\\?\"?\s*)([^\r\n\"\\,;]+)")
# An auth scheme and its credential, wherever it is echoed (`Basic` only capitalised: prose).
_SCHEME_VALUE = re.compile(r"\b((?i:bearer)|Basic)(\s+)([A-Za-z0-9._~+/=:%-]{8,})")
# Quantifiers are bounded where a long run of letters could make a scan quadratic.
_URL_PASSWORD = re.compile(r"(://[^/@\s:]{0,256}):[^/@\s]{0,1024}@")


def _hex_class(byte: int) -> str:
    """`%` and the byte in hex, either case: `%2[fF]`."""
    high, low = f"{byte:02X}"[0], f"{byte:02X}"[1]
    return "%" + _either_case(high) + _either_case(low)


def _either_case(digit: str) -> str:
    return f"[{digit}{digit.lower()}]" if digit.isalpha() else digit


_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _html_forms(char: str) -> list[str]:
    """`char` as an HTML character reference: named where HTML names it, decimal, and hex."""
    code = ord(char)
    forms = [f"&#0*{code};", "&#[xX]0*" + "".join(map(_either_case, f"{code:X}")) + ";"]
    if char in _HTML_NAMED:
        forms.append(f"&{_HTML_NAMED[char]};")
    return forms


def _char_forms(char: str) -> str:
    """A regex matching `char` as raw text, percent-encoded (once or twice), form-encoded,
    JSON-escaped or as an HTML character reference."""
    forms = [re.escape(char)]
    encoded = char.encode("utf-8", "surrogatepass")
    forms.append("".join(_hex_class(b) for b in encoded))
    forms.append("".join("%25" + _hex_class(b)[1:] for b in encoded))
    forms.extend(_html_forms(char))
    if char == " ":
        forms.append(r"\+")
    if char in _JSON_SHORT:
        forms.append(re.escape(_JSON_SHORT[char]))
    code = ord(char)
    units = (
        [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    forms.append("".join(r"\\u" + "".join(map(_either_case, f"{unit:04X}")) for unit in units))
    return forms[0] if len(forms) == 1 else "(?:" + "|".join(forms) + ")"


def _base64_forms(secret: str) -> list[str]:
    """The secret base64-encoded, standard and URL-safe: alone, and the run of base64 it makes
    at each of the three offsets it can have inside a longer encoded text (a Basic header)."""
    import base64

    data = secret.encode("utf-8", "surrogatepass")
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        end = (offset + len(data)) // 3 * 4  # the last group may mix with what follows
        middle = encoded[4 if offset else 0 : end]
        if offset == 0:
            forms.add(encoded.rstrip("="))  # alone: the last group too
        if len(middle) >= MIN_FOLDED:
            forms.add(middle)
    forms |= {form.replace("+", "-").replace("/", "_") for form in forms}
    return sorted(forms, key=len, reverse=True)


def _secret_pattern(secret: str) -> str:
    chars = "".join(_char_forms(char) for char in secret)
    if len(secret) < MIN_FOLDED:
        return chars
    folded = {secret.upper(), secret.casefold()} - {secret}
    extra = [re.escape(form) for form in sorted(folded, key=len, reverse=True)]
    in_any_case = "(?i:" + "|".join([chars, *extra]) + ")"
    return "|".join([in_any_case, *map(re.escape, _base64_forms(secret))])


def _starts(secrets: Iterable[str]) -> str:
    """Every character a form of these secrets can start with, for a character class.

    The pattern looks ahead for one of them (ignoring case, as the forms may) before it tries
    its alternatives: most positions of a long text (a 35 MB JSON plan) start none, and were
    each tried against every form (4.3 s for three secrets; 1.0 s with the look-ahead). A
    form starts with the secret's first character in some case, an escape (`%` percent, `&`
    HTML, a backslash JSON), `+` for a space, or a base64 form's first character.
    """
    starts = set("%&\\+")
    for secret in secrets:
        starts.update(secret[:1], secret.upper()[:1], secret.casefold()[:1])
        starts.update(form[:1] for form in _base64_forms(secret))
    return "".join(re.escape(char) for char in sorted(starts))


class Scrubber:
    """Replaces the known secrets of a run, in every encoding, and any credential-shaped text.

    Secrets are added as they become known (a token the server just issued); one instance is
    shared by the client, the log filter and the CLI's output. Thread-safe to add and to use.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Know these secrets from now on (None, blanks and very short ones are ignored)."""
        new = {s for s in secrets if s and len(s.strip()) >= MIN_SECRET} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            forms = "|".join(_secret_pattern(s) for s in ordered)
            self._pattern = re.compile(f"(?i:(?=[{_starts(ordered)}]))(?:{forms})")

    def forget_all(self) -> None:
        """Start over: a new run (one CLI invocation) knows only its own secrets. Without it,
        many runs in one process (tests, an embedding program) would pile up every token ever
        issued, and each new one recompiles a pattern over all of them."""
        with self._lock:
            self._secrets = set()
            self._pattern = None

    def __call__(self, text: str) -> str:
        """`text` with every known secret and credential-shaped value replaced by `***`.

        Each credential-shaped pattern runs only on text holding the word it needs (`@`,
        `authorization`, `bearer`, a secret key's stem), looked for in one lower-cased copy:
        most lines (progress, plans) hold none, and the five scans were three quarters of the
        cost. A replacement puts `***` where it cut, so it never makes a word the check missed.
        """
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        folded = text.lower()
        if not text.isascii() and any(char in text for char in _FOLDED):
            folded = text.translate(_FOLD).lower()
        if "@" in text:
            text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
        if "authorization" in folded:
            text = _AUTHORIZATION.sub(rf"\1{MASK}", text)
        if "bearer" in folded or "Basic" in text:
            text = _SCHEME_VALUE.sub(rf"\1\2{MASK}", text)
        if any(stem in folded for stem in _KEY_STEMS):
            text = _JSON_FIELD.sub(rf"\1{MASK}\3", text)
            text = _KEY_VALUE.sub(rf"\1\2{MASK}", text)
        return text

    def known(self, text: str) -> str:
        """Only the known secrets replaced: for files whose structure must survive (plans)."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"


def shorten(text: str, limit: int = NAME_LIMIT) -> str:
    """`text`, or its start and end with how much was left out, when longer than `limit`."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 16)
    head, tail = text[: keep * 3 // 4], text[-(keep // 4) :]
    return f"{head}…[{len(text) - len(head) - len(tail):,} characters]…{tail}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_unicode(value: Any) -> Any:
    """`value` (parsed JSON) with lone surrogates in strings and keys replaced by U+FFFD.

    JSON may carry `"\\ud800"`, which Python parses into a string that cannot be encoded:
    hashed, written or printed, it raises. Containers are copied only when something changed.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        cleaned = [clean_unicode(item) for item in value]
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if isinstance(value, dict):
        pairs = [(clean_unicode(k), clean_unicode(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    return value


def is_secret_key(name: str) -> bool:
    """Does a parameter or field of this name hold a secret (`password`, `sslpassword`, …)?"""
    return re.fullmatch(f"(?i:{_SECRET_KEYS})", name) is not None


_QUERY_SECRET = re.compile(rf"(?i)(?:^|[?&])(?:{_SECRET_KEYS})=([^&#]*)")


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries, as written and decoded: the user-info password and secret
    query parameters (`password=`, `sslpassword=`, …). For a `Scrubber`.

    Taken apart by hand, not by a URL parser: a password with a bare `%` must be found
    exactly when a parser would refuse it (and quote it in its error).
    """
    from urllib.parse import unquote

    rest = url.strip().partition("://")[2]
    netloc, _, query = rest.partition("?")
    netloc = netloc.partition("/")[0]
    userinfo = netloc.rpartition("@")[0]
    found = [userinfo.partition(":")[2]] if ":" in userinfo else []
    found += _QUERY_SECRET.findall("?" + query)
    return [form for raw in found if raw for form in {raw, unquote(raw)}]
