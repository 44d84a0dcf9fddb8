"""What a service answers when a page of one of its forms is sent, on any platform.

The adapter shows a form's page, parses what comes back with the form's rules, and hands the
typed values to the service that owns the form (found by the form's `callback_id`); the
service answers with the next step: another page, problems to show on the page sent, or the
end (a message shown in place of the form).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.errors import UserError
from bot.forms import Form, FormValue, validate
from bot.types import Actor, Reply


@dataclass(frozen=True)
class ShowPage:
    """Show page `page` of `form` with these answers (and problems, by field id)."""

    form: Form
    page: int
    values: Mapping[str, FormValue] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PageErrors:
    """Keep the page that was sent on screen and show these problems (by field id)."""

    errors: Mapping[str, str]


@dataclass(frozen=True)
class Finished:
    """The form is done (or can go no further): show this in its place."""

    reply: Reply
    title: str = "SLIS Bot"


FormStep = ShowPage | PageErrors | Finished


class FormFlow(Protocol):
    """A service that owns a form: it builds it, and takes its pages as they are sent."""

    @property
    def callback_id(self) -> str: ...

    def form(self, actor: Actor, metadata: str) -> Form:
        """The form a page sent with `metadata` belongs to, to parse it by; UserError if the
        actor may no longer fill it in."""
        ...

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        """Take the values of page `page`, checked by the form's own rules."""
        ...

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        """Go back to page `page`, keeping `values` of the page being left (unchecked)."""
        ...


# What a page that does not fit its form gets (a client sent a changed or stale one).
OUT_OF_DATE = "That form is out of date: please open it again."


def submit_checked(
    flow: FormFlow, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
) -> FormStep:
    """`flow.submit`, once the page's values pass the form's own rules. The adapters check
    them too; this keeps a service from ever seeing a page that does not fit its form (a
    page it does not have, a missing or mistyped answer), whatever a client sent."""
    form = flow.form(actor, metadata)
    if not 0 <= page < form.page_count:
        raise UserError(OUT_OF_DATE)
    errors = validate(form.page(page), values)
    if errors:
        return PageErrors(errors)
    return flow.submit(actor, metadata, page, values)
