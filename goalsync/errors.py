"""Exception types shared by the CLI and the modules it calls, and how errors are shown."""

import re
from pathlib import Path

_MASK = "•" * 8
_MASK_MIN_LENGTH = 12
# `scheme://user:password@host`: error texts of libraries may carry a URL with credentials
_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class ConfigError(Exception):
    """A usage or configuration problem the user fixes (exit status 2); its text is one line."""


def shown_path(path: Path) -> str:
    """A path as error messages show it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def mask_token(token: str) -> str:
    """A secret as shown to people: never more than its last 4 characters."""
    if len(token) < _MASK_MIN_LENGTH:
        return _MASK
    return _MASK + token[-4:]


def first_line(text: object) -> str:
    """The first non-blank line of a text (error messages are one line)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def redacted(text: str, secret: str = "") -> str:
    """Text safe to show: the secret masked, any `user:password@` of a URL left out."""
    if secret:
        text = text.replace(secret, mask_token(secret))
    return _URL_CREDENTIALS.sub(r"\1", text)
