"""Errors a person can act on, as opposed to faults in the bot."""

from __future__ import annotations


class UserError(Exception):
    """Something the person asked for cannot be done; the message says what to do instead."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotFound(UserError):
    """The thing named does not exist in this local authority's directory."""


class Forbidden(UserError):
    """The person's roles do not allow the action; the message says who may do it."""


class NotLinked(UserError):
    """The chat user is not matched to anybody in the directory."""


class ProfileUnavailable(Exception):
    """The chat platform could not say who a user is just now (rate limit, outage); ask later."""


class InvalidImport(Exception):
    """A directory file has bad rows; nothing was applied. Each problem names its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s); nothing was changed")
        self.source = source
        self.problems = problems
