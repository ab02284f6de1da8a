"""Exception types shared by the CLI and the modules it calls."""

from pathlib import Path


class ConfigError(Exception):
    """A usage or configuration problem the user fixes (exit status 2); its text is one line."""


def shown_path(path: Path) -> str:
    """A path as error messages show it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
