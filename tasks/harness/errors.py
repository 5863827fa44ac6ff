"""User-facing errors of the harness and the entry-point wrapper that reports them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class HarnessError(Exception):
    """A problem with a config value, a path or an input, stated with the fix.

    Entry points report it as one ``error: ...`` line instead of a traceback.
    """


class ConfigError(HarnessError, ValueError):
    """A config value that cannot work (no task selected, unknown module to freeze, ...)."""


class InputError(HarnessError, ValueError):
    """An unusable predict input, naming the path/field and what to pass instead."""


class CheckpointError(HarnessError, RuntimeError):
    """A checkpoint path or file that cannot be used, with the reason and the fix."""


def exit_on_error(function: F) -> F:
    """Turn a :class:`HarnessError` into ``SystemExit("error: ...")`` (exit status 1)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except HarnessError as error:
            raise SystemExit(f"error: {error}") from error

    return wrapper  # type: ignore[return-value]
