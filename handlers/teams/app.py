"""The Teams adapter's activity handlers: commands typed to the bot, card actions, installs.

Each handler reads the activity into typed values, checks who is asking, calls the core and
renders the answer with the pure Adaptive Card renderers. Tokens were checked before any of
this runs (handlers.teams.endpoint).

Forms are shown inline, in the chat, as a card that each Next or Back redraws in place; they
open only in a person's one-to-one chat with the bot, never in a channel where others would
see the answers. Private answers asked for in a channel go to that one-to-one chat too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from microsoft_teams.api import InvokeResponse

from bot.commands import COMMAND, error_reply, fault_reply
from bot.core import Core
from bot.form_flow import OUT_OF_DATE, Finished, FormStep, PageErrors, ShowPage
from bot.ports import ChatProfiles, DeliveryFailed
from bot.services.conversations import Conversation, ConversationKind
from bot.types import Actor, ChatUser, Context, ConversationRef, Paragraph, Platform, Reply
from handlers.teams import card_forms, cards

log = logging.getLogger(__name__)

JSON = dict[str, Any]
# A mention of the bot, as Teams puts it in the text of a message in a channel.
MENTION = re.compile(r"<at>[^<]*</at>", re.IGNORECASE)
COMMAND_WORD = COMMAND.removeprefix("/")
# What an activity id the bot may PUT to looks like: it goes into the Bot Connector's URL as
# it is, so nothing that would change the path ("/", "..", "?") or is not printable.
CARD_ID = re.compile(r"[\w:;@=-][\w:;.@=-]{0,199}", re.ASCII)

WELCOME = Reply(
    "Hello! I'm SLIS Bot. Type help to see what I can do for you.",
    (
        Paragraph("Hello! I'm *SLIS Bot*, the school-led improvement system's helper."),
        Paragraph("Type *help* to see what I can do for you."),
        Context("Healthchecks, support requests, meetings and reminders come to this chat."),
    ),
    private=False,
)
FORMS_IN_PERSONAL = Reply(
    "Forms open in your one-to-one chat with me.",
    (
        Paragraph(
            "Forms open in your one-to-one chat with me, where only you see your answers: "
            "open a chat with *SLIS Bot* and type the command there."
        ),
    ),
    private=False,
)
SENT_TO_PERSONAL = Reply(
    "I've answered you in our one-to-one chat.",
    (Context("I've answered you in our one-to-one chat, where only you can see it."),),
    private=False,
)
FORM_IN_PERSONAL = Reply(
    "The form is in our one-to-one chat.",
    (Context("I've opened the form in our one-to-one chat, where only you see your answers."),),
    private=False,
)
PRIVATE_IN_PERSONAL = Reply(
    "Message me in a one-to-one chat to see this.",
    (Paragraph("This answer is for you alone: open a chat with *SLIS Bot* and ask there."),),
    private=False,
)
NOT_OURS = "That button is no longer in use."
UNKNOWN_PERSON = Reply(
    "Teams did not tell me who you are, so I can't answer this.",
    (Paragraph("Teams did not tell me who you are, so I can't answer this."),),
    is_error=True,
)


class CardPoster(Protocol):
    """What the handlers need from the Teams Messenger: replies, and raw cards for forms."""

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        key: str | None = None,
        thread: str | None = None,
    ) -> str: ...

    async def send_card(self, to: ConversationRef, card: JSON, summary: str) -> str: ...

    async def update_card(
        self, to: ConversationRef, message_id: str, card: JSON, summary: str
    ) -> None: ...


ProfilesFor = Callable[[str, str, str], ChatProfiles]


@dataclass(frozen=True)
class Incoming:
    """Who sent an activity, from where: the parts every handler reads first."""

    user: ChatUser | None
    conversation: Conversation
    member_id: str

    @property
    def ref(self) -> ConversationRef:
        return self.conversation.ref

    @property
    def personal(self) -> bool:
        return self.conversation.kind is ConversationKind.PERSONAL


def _get(node: Any, *names: str) -> Any:
    """A nested attribute or key, None where any step is missing (activities vary)."""
    for name in names:
        if node is None:
            return None
        node = node.get(name) if isinstance(node, dict) else getattr(node, name, None)
    return node


def tenant_of(activity: Any) -> str:
    """The Entra ID tenant an activity comes from."""
    return str(
        _get(activity, "conversation", "tenant_id")
        or _get(activity, "channel_data", "tenant", "id")
        or ""
    )


def incoming(activity: Any) -> Incoming:
    """Read the sender and the conversation of an activity."""
    tenant = tenant_of(activity)
    kind_name = str(_get(activity, "conversation", "conversation_type") or "personal")
    kind = {
        "personal": ConversationKind.PERSONAL,
        "channel": ConversationKind.CHANNEL,
    }.get(kind_name, ConversationKind.GROUP)
    aad = _get(activity, "from_", "aad_object_id")
    member = str(_get(activity, "from_", "id") or "")
    user = ChatUser(Platform.TEAMS, tenant, str(aad)) if aad and tenant else None
    ref = ConversationRef(
        Platform.TEAMS,
        tenant,
        str(_get(activity, "conversation", "id") or ""),
        str(_get(activity, "service_url") or "") or None,
    )
    personal = kind is ConversationKind.PERSONAL
    name = str(
        _get(activity, "channel_data", "team", "name")
        or _get(activity, "conversation", "name")
        or ""
    )
    conversation = Conversation(
        ref,
        kind,
        user_id=user.user_id if personal and user is not None else None,
        member_id=member if personal and member else None,
        name=name[:200],
    )
    return Incoming(user, conversation, member)


def command_text(text: str | None) -> str:
    """What was typed to the bot, as `/slis` would take it: without mentions of the bot and
    without a leading `/slis` or `slis`."""
    plain = MENTION.sub(" ", text or "").replace("&nbsp;", " ").strip()
    words = plain.split(maxsplit=1)
    if words and words[0].lower() in (COMMAND, COMMAND_WORD):
        plain = words[1] if len(words) > 1 else ""
    return plain.strip()


def delivery_key(activity: Any) -> str:
    """The key under which a retried delivery of the same activity is recognised."""
    raw = f"{_get(activity, 'conversation', 'id')}|{_get(activity, 'id')}"
    return "teams:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def describe(activity: Any) -> str:
    """A one-line description of an activity for logs: its kind and name, never content."""
    kind = str(_get(activity, "type") or "activity")
    name = _get(activity, "name")
    return f"{kind} {name}" if name else kind


class TeamsHandlers:
    """The handlers the Teams SDK's router calls, one per kind of activity."""

    def __init__(self, core: Core, poster: CardPoster, profiles_for: ProfilesFor) -> None:
        self.core = core
        self.poster = poster
        self.profiles_for = profiles_for

    def register(self, app: Any) -> None:
        """Hand each handler to the SDK's router (card actions before other invokes: the
        first matching handler answers)."""
        app.on_message(self.message)
        app.on_card_action(self.card_action)
        app.on_invoke(self.other_invoke)
        app.on_install_add(self.installed)
        app.on_install_remove(self.uninstalled)
        app.on_conversation_update(self.conversation_update)

    # --- who is asking ------------------------------------------------------------------

    async def _actor(self, seen: Incoming) -> Actor | None:
        if seen.user is None:
            return None
        profiles = None
        if seen.ref.service_url and seen.member_id:
            profiles = self.profiles_for(
                seen.ref.service_url, seen.ref.conversation_id, seen.member_id
            )
        return await self.core.identify(seen.user, profiles)

    async def _first(self, activity: Any, seen: Incoming, actor: Actor | None = None) -> bool:
        """True the first time this activity arrives; also keeps the conversation's
        reference fresh, so the bot can post there later (its local authority is the
        actor's, when the actor is known already)."""
        if not await self.core.first_delivery(delivery_key(activity)):
            log.info("Teams %s delivered again: ignored", describe(activity))
            return False
        if seen.ref.conversation_id and seen.ref.workspace_id:
            tenant_id = actor.tenant_id if actor is not None else None
            await self.core.conversation_seen(seen.conversation, tenant_id)
        return True

    # --- messages -----------------------------------------------------------------------

    async def message(self, ctx: Any) -> None:
        """A message to the bot: a command, or (from clients without Universal Actions) the
        Action.Submit of one of its cards."""
        activity = ctx.activity
        seen = incoming(activity)
        try:
            actor = await self._actor(seen)
            if not await self._first(activity, seen, actor):
                return
            if actor is None:
                await self.poster.send(seen.ref, UNKNOWN_PERSON)
                return
            data = _get(activity, "value")
            if data is not None:
                await self._submitted(actor, seen, data, _get(activity, "reply_to_id"))
                return
            await self._command(actor, seen, command_text(_get(activity, "text")))
        except Exception:
            await self._fault(activity, seen)

    async def _command(self, actor: Actor, seen: Incoming, text: str) -> None:
        if self.core.router.opens_form(text):
            step = await self.core.open_form(actor, text)
            if isinstance(step, Reply):
                await self._answer(actor, seen, step)
            elif seen.personal:
                await self._show_form(seen.ref, step)
            else:
                await self._form_elsewhere(actor, seen, step)
            return
        await self._answer(actor, seen, await self.core.command(actor, text))

    async def _answer(self, actor: Actor, seen: Incoming, reply: Reply) -> None:
        """Say `reply` where it was asked for, unless it is for the asker alone and was asked
        in a channel or group chat: then in their one-to-one chat (or say how to get it)."""
        if not reply.private or seen.personal:
            await self.poster.send(seen.ref, reply)
            return
        personal = await self.core.personal_conversation(actor)
        if personal is None:
            await self.poster.send(seen.ref, PRIVATE_IN_PERSONAL)
            return
        await self.poster.send(personal, reply)
        await self.poster.send(seen.ref, SENT_TO_PERSONAL)

    async def _form_elsewhere(
        self, actor: Actor, seen: Incoming, step: ShowPage, *, tell: bool = True
    ) -> Reply:
        """A form asked for in a channel or group chat: opened in the asker's one-to-one chat,
        where only they see their answers. Returns what the asker is told, which is also
        posted where they asked (`tell`; a card's button tells the presser alone)."""
        personal = await self.core.personal_conversation(actor)
        note = FORMS_IN_PERSONAL if personal is None else FORM_IN_PERSONAL
        if personal is not None:
            await self._show_form(personal, step)
        if tell:
            await self.poster.send(seen.ref, note)
        return note

    async def _show_form(self, to: ConversationRef, step: ShowPage) -> None:
        card = card_forms.form_card(step.form, step.page, step.values, step.errors)
        await self.poster.send_card(to, card, step.form.title)

    async def _submitted(self, actor: Actor, seen: Incoming, data: object, card_id: object) -> None:
        """An Action.Submit: do what the Action.Execute would have done, then redraw the
        card it came from (or say the outcome beside it)."""
        outcome = await self._act(actor, seen, data)
        if outcome.card is not None and isinstance(card_id, str) and CARD_ID.fullmatch(card_id):
            try:
                await self.poster.update_card(seen.ref, card_id, outcome.card, outcome.summary)
                return
            except DeliveryFailed as exc:
                if not exc.permanent:
                    raise
                # The card is gone (deleted, or never one of ours): show the outcome anew.
                log.info("Teams card to redraw not found (%s): sent anew", exc.reason)
        if outcome.card is not None:
            await self.poster.send_card(seen.ref, outcome.card, outcome.summary)
        elif outcome.note:
            await self.poster.send(seen.ref, Reply(outcome.note, (Paragraph(outcome.note),)))

    # --- card actions -------------------------------------------------------------------

    async def card_action(self, ctx: Any) -> InvokeResponse[Any]:
        """An Action.Execute (invoke `adaptiveCard/action`): the answer redraws the card in
        place for the person who pressed it, or is shown to them as a short message."""
        activity = ctx.activity
        seen = incoming(activity)
        try:
            actor = await self._actor(seen)
            if not await self._first(activity, seen, actor):
                return _respond(cards.invoke_message_response("Already done."))
            if actor is None:
                return _respond(cards.invoke_message_response(UNKNOWN_PERSON.text))
            action = _get(activity, "value", "action")
            data = _get(action, "data")
            verb = str(_get(action, "verb") or "")
            outcome = await self._act(actor, seen, data, back=verb == card_forms.FORM_BACK)
        except Exception:
            ref = self._log_fault(activity)
            return _respond(cards.invoke_message_response(fault_reply(ref).text))
        if outcome.card is not None:
            return _respond(cards.invoke_card_response(outcome.card))
        return _respond(cards.invoke_message_response(outcome.note or "Done."))

    async def _act(
        self, actor: Actor, seen: Incoming, data: object, *, back: bool = False
    ) -> Outcome:
        """What a card's action does: a form page sent or left (`back`: the Action.Execute
        verb said so), or a button pressed."""
        meta = card_forms.form_metadata(data)
        if meta is not None and isinstance(data, dict):
            card = await self._form_step(actor, meta, data, back=back or meta.back)
            return Outcome(card, "")
        pressed = cards.pressed(data)
        if pressed is None:
            return Outcome(None, NOT_OURS)
        result = await self.core.button(actor, pressed.action, pressed.value)
        if result is None:
            return Outcome(None, NOT_OURS)
        step = result.step
        if isinstance(step, ShowPage):
            if not seen.personal:
                note = await self._form_elsewhere(actor, seen, step, tell=False)
                return Outcome(None, note.text)
            await self._show_form(seen.ref, step)
            return Outcome(None, f"{step.form.title}: the form is below.")
        if step.is_error:
            return Outcome(None, step.text)
        if result.in_place:
            return Outcome(cards.card(step), "", step.text)
        await self._answer(actor, seen, step)
        return Outcome(None, "Done.")

    async def _form_step(
        self, actor: Actor, meta: card_forms.FormMetadata, data: JSON, *, back: bool
    ) -> JSON:
        """A form page sent (Next) or left (Back): the card to show in its place."""
        if meta.callback_id not in self.core.forms:
            return card_forms.result_card("SLIS Bot", error_reply(OUT_OF_DATE))
        form = await self.core.form_of(actor, meta.callback_id, meta.private_metadata)
        if isinstance(form, Reply):
            return card_forms.result_card("SLIS Bot", form)
        try:
            sent = card_forms.parse_form(form, data)
        except ValueError:
            log.info("a Teams form page that does not fit %s: out of date", meta.callback_id)
            return card_forms.result_card(form.title, error_reply(OUT_OF_DATE))
        if back:
            if sent.page <= 0:
                return card_forms.form_card(form, 0, sent.values)
            step: FormStep = await self.core.form_submit(
                actor,
                meta.callback_id,
                meta.private_metadata,
                sent.page - 1,
                sent.values,
                back=True,
            )
        elif sent.errors:
            return card_forms.form_card(form, sent.page, sent.values, sent.errors)
        else:
            step = await self.core.form_submit(
                actor, meta.callback_id, meta.private_metadata, sent.page, sent.values
            )
        match step:
            case ShowPage():
                return card_forms.form_card(step.form, step.page, step.values, step.errors)
            case PageErrors():
                return card_forms.form_card(form, sent.page, sent.values, step.errors)
            case Finished():
                return card_forms.result_card(step.title, step.reply)
        raise TypeError(step)

    async def other_invoke(self, ctx: Any) -> InvokeResponse[Any]:
        """Invokes the bot does not offer (dialogs, message extensions): a polite answer in
        the shape each expects, so Teams shows it rather than an error."""
        activity = ctx.activity
        name = str(_get(activity, "name") or "")
        log.info("Teams invoke %s: not offered by this bot", name or "?")
        text = f"SLIS Bot does not offer this here. Type {COMMAND_WORD} help in a chat with it."
        if name.startswith("composeExtension/query"):
            body: JSON = {
                "composeExtension": {
                    "type": "result",
                    "attachmentLayout": "list",
                    "attachments": [],
                }
            }
        elif name.startswith("composeExtension/"):
            body = {"composeExtension": {"type": "message", "text": text}}
        elif name.startswith("task/"):
            body = {"task": {"type": "message", "value": text}}
        else:
            return InvokeResponse(status=200)
        return InvokeResponse(status=200, body=body)

    # --- installs -----------------------------------------------------------------------

    async def installed(self, ctx: Any) -> None:
        """The app was added for a person, a team or a group chat: remember where, and say
        hello in a one-to-one chat."""
        activity = ctx.activity
        seen = incoming(activity)
        if not await self._first(activity, seen):
            return
        log.info("Teams app installed in a %s conversation", seen.conversation.kind.value)
        if seen.personal:
            await self._welcome(seen)

    async def uninstalled(self, ctx: Any) -> None:
        """The app was removed: nothing more is delivered there; the rows stay."""
        activity = ctx.activity
        seen = incoming(activity)
        if not await self.core.first_delivery(delivery_key(activity)):
            return
        log.info("Teams app removed from a %s conversation", seen.conversation.kind.value)
        await self.core.conversation_removed(seen.ref)

    async def conversation_update(self, ctx: Any) -> None:
        """Members added or removed: when the member is the bot itself, the app was added
        to or removed from a team or group chat (older clients say it this way)."""
        activity = ctx.activity
        seen = incoming(activity)
        bot_id = _get(activity, "recipient", "id")
        added = [_get(m, "id") for m in _get(activity, "members_added") or []]
        removed = [_get(m, "id") for m in _get(activity, "members_removed") or []]
        if bot_id and bot_id in removed:
            if await self.core.first_delivery(delivery_key(activity)):
                await self.core.conversation_removed(seen.ref)
            return
        if bot_id and bot_id in added and await self._first(activity, seen) and seen.personal:
            await self._welcome(seen)

    async def _welcome(self, seen: Incoming) -> None:
        try:
            await self.poster.send(seen.ref, WELCOME)
        except Exception as exc:  # a hello is not worth failing the install over
            log.warning("could not say hello after an install: %s", type(exc).__name__)

    # --- faults -------------------------------------------------------------------------

    def _log_fault(self, activity: Any) -> str:
        ref = secrets.token_hex(4)
        log.exception("Teams %s failed (ref %s)", describe(activity), ref)
        return ref

    async def _fault(self, activity: Any, seen: Incoming) -> None:
        """Log the fault under a short reference and tell the person only that reference."""
        ref = self._log_fault(activity)
        try:
            await self.poster.send(seen.ref, fault_reply(ref))
        except Exception as exc:
            log.warning("could not tell the user about ref %s: %s", ref, type(exc).__name__)


@dataclass(frozen=True)
class Outcome:
    """What a card action leaves: a card to show in place of the one pressed, or a short
    note for the presser; `summary` is the card's text for notifications."""

    card: JSON | None
    note: str
    summary: str = ""


def _respond(body: JSON) -> InvokeResponse[Any]:
    return InvokeResponse(status=200, body=body)
