"""What a person sees and does in a chat, on no platform in particular: the scenarios in this
package are written once against `Chat` and run on every platform adapter (Slack, Teams).

A driver turns each step into that platform's real requests (signed Slack requests, signed
Bot Framework activities) against the real app, and reads what the bot sent back from that
platform's fake API server, into the neutral `Message` below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.types import Platform


@dataclass(frozen=True)
class Button:
    """A button as shown: its label, and what the bot put behind it."""

    label: str
    action: str
    value: str


@dataclass(frozen=True)
class FormPage:
    """A page of one of the bot's forms, as shown: which form, which page (from 0), the ids
    of its fields, and the problems shown against them (by field id)."""

    callback_id: str
    page: int
    field_ids: tuple[str, ...]
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """Something the bot showed a person: a message in a conversation (its platform id in
    `id`, `conversation` where it is), or a form page (then `form` is set)."""

    id: str
    conversation: str
    text: str  # every piece of visible text, one per line
    buttons: tuple[Button, ...] = ()
    form: FormPage | None = None

    def button(self, label: str) -> Button:
        """The button labelled `label` (exactly); AssertionError naming those there are."""
        for b in self.buttons:
            if b.label == label:
                return b
        raise AssertionError(f"no {label!r} button; there are {[b.label for b in self.buttons]}")


# Answers to a form page, by field id, in plain terms every driver turns into its platform's
# shape: a str for text, a choice (the option's value), a date (ISO) or a time (HH:MM); a list
# of option values for a multi-choice; {item value: tier} for a ranking.
Answers = Mapping[str, object]


class Chat(Protocol):
    """One chat platform, driven as people use it."""

    platform: Platform

    async def join(self, person_id: int) -> None:
        """Give the directory's person an account on this platform, linked to them, and a
        conversation with the bot (as installing the app / opening its DM would)."""
        ...

    async def say(self, person_id: int, text: str) -> list[Message]:
        """The person gives the bot a command (`text` without `/slis`, e.g. "support"): what
        they see in answer — the reply, or the form it opened."""
        ...

    async def press(self, person_id: int, message: Message, label: str) -> list[Message]:
        """The person presses a button on a message they were shown: what they see after
        (the message redrawn in place, a form, a reply)."""
        ...

    async def fill(self, person_id: int, form: Message, answers: Answers) -> list[Message]:
        """The person answers a form page and sends it: the next page, the same page with
        problems, or what the form ended with."""
        ...

    async def deliver(self) -> None:
        """Send everything the outbox holds that is due, through the real relay and this
        platform's Messenger, until nothing is left."""
        ...

    def inbox(self, person_id: int) -> list[Message]:
        """The messages in the person's one-to-one conversation with the bot, oldest first,
        each as it stands now (after any edits)."""
        ...


def last(messages: Sequence[Message]) -> Message:
    """The last of `messages`; AssertionError if there are none."""
    assert messages, "the bot showed nothing"
    return messages[-1]
