"""What reaches a person's terminal: no raw control characters, no secrets.

Identifiers, titles, file names and error messages come from hostile inputs. Printed raw, an
escape sequence in a title could rewrite the screen, a carriage return or a newline could forge a
line, a bidirectional override could reorder what is read. :func:`clean` shows them as escapes
(``\\x1b``, ``\\u202e``); :func:`one_line` also escapes line breaks and tabs, for a value that
must stay on its line. :func:`mask` hides credentials in URLs and Hub tokens. The CLI prints
everything through these (``corpus_registry.cli.say``).
"""

from __future__ import annotations

import re

__all__ = ["clean", "json_safe", "mask", "one_line"]

# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional formatting characters.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_UNSAFE}]")
_CONTROL_OR_BREAK = re.compile(f"[{_UNSAFE}\n\t]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")
_SECRET_QUERY = re.compile(r"(?i)(?P<key>[?&](?:token|access_token|api_key|apikey|key|secret|password|sig|signature)=)"
                           r"(?P<value>[^&#\s]+)")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    """``text`` with control characters shown as escapes; newlines and tabs kept."""
    return _CONTROL.sub(_escape, str(text))


def one_line(text: object) -> str:
    """``text`` on one line: control characters, newlines and tabs shown as escapes."""
    return _CONTROL_OR_BREAK.sub(_escape, str(text))


def json_safe(document: str) -> str:
    """A JSON document with the characters JSON leaves raw but terminals obey (C1 controls, DEL,
    bidirectional overrides, line separators) written as ``\\uXXXX`` escapes: still the same JSON."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def _hide_userinfo(m: re.Match[str]) -> str:
    """``user:password@`` → ``user:***@``; a bare user name stays, unless it looks like a token."""
    user, colon, _ = m["userinfo"].partition(":")
    if colon:
        return f"{m['scheme']}{user}:***@"
    return f"{m['scheme']}***@" if len(user) >= 20 else m.group()


def mask(text: object) -> str:
    """``text`` with URL credentials, secret query parameters and Hub tokens replaced by ``***``."""
    out = _USERINFO.sub(_hide_userinfo, str(text))
    out = _SECRET_QUERY.sub(lambda m: f"{m['key']}***", out)
    return _HF_TOKEN.sub("hf_***", out)
