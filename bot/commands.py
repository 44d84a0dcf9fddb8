"""The `/slis` subcommands: one registration table and a router that reads it."""

from __future__ import annotations

import difflib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bot import authorisation
from bot.authorisation import TABLE, Entry, Kind
from bot.errors import UserError
from bot.form_flow import ShowPage
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import audit as present_audit
from bot.replies import directory as present
from bot.replies import healthcheck as present_healthcheck
from bot.replies import reminders as present_reminders
from bot.replies import support_views as present_support
from bot.services import audit, when
from bot.services.audit import AuditLog
from bot.services.directory import DirectoryService, SchoolMatches
from bot.services.healthcheck.answering import AnswerService
from bot.services.healthcheck.launch_form import LaunchFlow
from bot.services.healthcheck.rounds import RoundService
from bot.services.meetings.service import Meetings
from bot.services.reminders import ReminderService
from bot.services.support.forms import AskFlow, card_reply
from bot.services.support.requests import SupportService
from bot.services.support.views import LIST_SCOPES, SupportViews
from bot.types import Actor, Block, BulletList, Context, Heading, Paragraph, Reply

log = logging.getLogger(__name__)

COMMAND = "/slis"


@dataclass(frozen=True)
class Command:
    """One subcommand: what it is for, how to call it, and what runs. Who may use it is in
    the authorisation table (`bot.authorisation`), under the command's name."""

    name: str
    summary: str
    usage: str
    examples: tuple[str, ...]
    run: Callable[[Actor, str], Reply]
    reads_database: bool = True  # False: answered from the actor alone, on the event loop
    # For subcommands that open a form (e.g. `healthcheck launch`): which arguments do, and
    # the form's first page. The adapter shows it instead of a reply.
    opens_form: Callable[[str], bool] = field(default=lambda _args: False)
    form: Callable[[Actor, str], ShowPage] | None = None


def error_reply(message: str, hint: str | None = None, usage: str | None = None) -> Reply:
    blocks: list[Block] = [Paragraph(message)]
    if hint:
        blocks.append(Paragraph(hint))
    if usage:
        blocks.append(Context(f"Usage: `{usage}`"))
    return Reply(message, tuple(blocks), private=True, is_error=True)


def fault_reply(ref: str) -> Reply:
    message = (
        f"Sorry, something went wrong on our side (reference {ref}). It has been logged;"
        " quote the reference if you contact your LA administrator."
    )
    return Reply(message, (Paragraph(message),), private=True, is_error=True)


def not_linked_reply(actor: Actor) -> Reply:
    if actor.tenant_id is None:
        message = (
            "This workspace is not linked to a local authority yet. An administrator adds its"
            f" id ({actor.chat.workspace_id}) under `workspaces:` in the directory file"
            " (`slis directory import`)."
        )
    else:
        message = (
            f"I couldn't match you to anyone in the {actor.tenant_name} directory. Ask your LA"
            " administrator to add you with the e-mail address on your chat profile, or a"
            " `chat:` entry with your user id"
            f" ({actor.chat.user_id})."
        )
    return Reply(message, (Paragraph(message),), private=True, is_error=True)


class CommandRouter:
    """Finds the subcommand named by the first word, checks who may use it, and runs it."""

    def __init__(
        self,
        commands: Iterable[Command],
        table: Mapping[tuple[Kind, str], Entry] = TABLE,
    ) -> None:
        help_command = Command(
            "help",
            "what you can ask me (only what your roles allow)",
            "help",
            ("help",),
            lambda actor, _args: self.help(actor),
            reads_database=False,
        )
        self._commands = {c.name: c for c in (help_command, *commands)}
        self._table = table
        missing = [n for n in self._commands if (Kind.COMMAND, n) not in table]
        if missing:
            raise ValueError(f"commands with no authorisation entry: {missing}")

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(self._commands.values())

    def reads_database(self, text: str) -> bool:
        """Whether answering `text` may touch the database (unknown commands do not)."""
        command = self._commands.get(text.strip().partition(" ")[0].lower() or "help")
        return command is not None and command.reads_database

    def opens_form(self, text: str) -> bool:
        """Whether `text` asks for a form (shown in place of a reply)."""
        name, _, rest = text.strip().partition(" ")
        command = self._commands.get(name.lower())
        return command is not None and command.form is not None and command.opens_form(rest)

    def dispatch(self, actor: Actor, text: str) -> Reply:
        outcome = self._run(actor, text, form=False)
        assert isinstance(outcome, Reply)
        return outcome

    def open_form(self, actor: Actor, text: str) -> ShowPage | Reply:
        """The form `text` asks for, or a reply saying why not."""
        return self._run(actor, text, form=True)

    def _run(self, actor: Actor, text: str, *, form: bool) -> Reply | ShowPage:
        # NUL never means anything typed, and PostgreSQL refuses it in a query's text.
        name, _, rest = text.replace("\x00", "").strip().partition(" ")
        name = name.lower() or "help"
        command = self._commands.get(name)
        if command is None:
            return self._unknown(actor, name)
        entry = self.gate(name, rest)
        if entry.needs_link and not actor.linked:
            return not_linked_reply(actor)
        try:
            if not authorisation.may_try(actor, entry):
                raise authorisation.refusal(entry)
            if form and command.form is not None:
                return command.form(actor, rest.strip())
            return command.run(actor, rest.strip())
        except UserError as exc:
            return error_reply(exc.message, exc.hint, f"{COMMAND} {command.usage}")
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("command %s failed (ref %s)", command.name, ref)
            return fault_reply(ref)

    def gate(self, name: str, rest: str = "") -> Entry:
        """The table entry that gates `/slis <name> <rest>`: the longest command words it
        starts with ("support list all" before "support list" before "support")."""
        words = [name, *rest.lower().split()[:2]]
        for n in range(len(words), 1, -1):
            found = self._table.get((Kind.COMMAND, " ".join(words[:n])))
            if found is not None:
                return found
        return self._table[(Kind.COMMAND, name)]

    def allows(self, actor: Actor, command: Command) -> bool:
        """Whether the actor's roles let them try the command at all."""
        return authorisation.may_try(actor, self._table[(Kind.COMMAND, command.name)])

    def usable(self, actor: Actor) -> tuple[Command, ...]:
        """The commands the actor's roles let them try."""
        return tuple(c for c in self._commands.values() if self.allows(actor, c))

    def help(self, actor: Actor) -> Reply:
        usable = self.usable(actor)
        blocks: list[Block] = [Heading("What you can ask me")]
        for c in usable:
            example = "  e.g. " + ", ".join(f"`{COMMAND} {e}`" for e in c.examples)
            blocks.append(Paragraph(f"*`{COMMAND} {c.usage}`* — {c.summary}\n{example}"))
        if not actor.linked:
            blocks.append(Context(not_linked_reply(actor).text))
        return Reply("Commands: " + ", ".join(c.name for c in usable), tuple(blocks))

    def _unknown(self, actor: Actor, name: str) -> Reply:
        usable = [c.name for c in self.usable(actor)] or ["help"]
        close = difflib.get_close_matches(name, list(self._commands), n=1, cutoff=0.6)
        hint = f"Did you mean `{COMMAND} {close[0]}`?" if close else None
        listing = BulletList(tuple(f"{COMMAND} {n}" for n in usable), title="You can use")
        reply = error_reply(f"I don't know `{COMMAND} {name}`.", hint)
        return Reply(reply.text, (*reply.blocks, listing), private=True, is_error=True)


def directory_commands(directory: DirectoryService) -> list[Command]:
    """The subcommands of the foundation: whoami and the directory lookups."""

    def school(actor: Actor, args: str) -> Reply:
        found = directory.school(actor, args)
        if isinstance(found, SchoolMatches):
            return present.school_matches(found)
        return present.school(found)

    return [
        Command(
            "whoami",
            "your roles and what they cover",
            "whoami",
            ("whoami",),
            lambda actor, _args: present.whoami(actor),
            reads_database=False,
        ),
        Command(
            "school",
            "a school: phase, status, head, partnerships, quadrant and alliances",
            "school <URN or name>",
            ("school 115141", "school Great Oakley"),
            school,
        ),
        Command(
            "partnership",
            "a partnership: its lead, quadrant and member schools",
            "partnership <name>",
            ("partnership Colne Valley",),
            lambda actor, args: present.partnership(directory.partnership(actor, args)),
        ),
        Command(
            "quadrant",
            "a quadrant: its chair, partnerships and the alliances serving it",
            "quadrant <name>",
            ("quadrant West", "quadrant North East"),
            lambda actor, args: present.quadrant(directory.quadrant(actor, args)),
        ),
    ]


def reminder_commands(reminders: ReminderService, clock: Clock) -> list[Command]:
    """`/slis remind` (set or cancel) and `/slis reminders` (list mine)."""

    def remind(actor: Actor, args: str) -> Reply:
        first, _, rest = args.partition(" ")
        if first.lower() == "cancel":
            outcome = reminders.cancel(actor, _reminder_id(rest))
            return present_reminders.cancelled(outcome, clock.now())
        return present_reminders.created(reminders.create(actor, args), clock.now())

    return [
        Command(
            "remind",
            "set a reminder for yourself (officers and chairs: a person, role or channel),"
            " or cancel one",
            f"{when.USAGE}  |  remind cancel <id>",
            (*when.EXAMPLES[:3], "remind cancel 12"),
            remind,
        ),
        Command(
            "reminders",
            "the reminders you have set, with buttons to cancel them",
            "reminders",
            ("reminders",),
            lambda actor, _args: present_reminders.listing(reminders.mine(actor), clock.now()),
        ),
    ]


def _reminder_id(text: str) -> int:
    value = parse_id(text.strip().removeprefix("#"))
    if value is None:
        raise UserError(
            "Which reminder? Give its number, e.g. `/slis remind cancel 12`.",
            hint="`/slis reminders` lists yours with their numbers.",
        )
    return value


HEALTHCHECK_USAGE = (
    "healthcheck  |  healthcheck launch  |  healthcheck status [round]"
    "  |  healthcheck report [round] [scope]"
)


def healthcheck_commands(
    answers: AnswerService,
    rounds: RoundService,
    launch: LaunchFlow,
    reports: Callable[[Actor, str], Reply],
) -> list[Command]:
    """`/slis healthcheck`: what I have to answer; `launch`, `status` and `report`."""

    def run(actor: Actor, args: str) -> Reply:
        sub, _, rest = args.partition(" ")
        match sub.lower():
            case "":
                return present_healthcheck.pending(answers.pending(actor))
            case "status":
                return present_healthcheck.status(rounds.status(actor, rest))
            case "report":
                return reports(actor, rest.strip())
            case "launch":
                raise UserError(
                    "The launch form opens from the chat box: type `/slis healthcheck launch`."
                )
        close = difflib.get_close_matches(sub.lower(), ("launch", "status", "report"), n=1)
        raise UserError(
            f"I don't know `{COMMAND} healthcheck {sub}`.",
            hint=f"Did you mean `{COMMAND} healthcheck {close[0]}`?" if close else None,
        )

    return [
        Command(
            "healthcheck",
            "the healthchecks you have to answer; officers launch rounds and follow them",
            HEALTHCHECK_USAGE,
            ("healthcheck", "healthcheck status", "healthcheck report North East"),
            run,
            opens_form=lambda args: args.strip().lower() == "launch",
            form=lambda actor, _args: launch.open(actor),
        )
    ]


SUPPORT_WORDS = ("list", "show", "stats", "ledger")
SUPPORT_USAGE = (
    "support [what you need]  |  support list [mine|open|quadrant|all]  |  support show <ref>"
    "  |  support stats [quadrant]  |  support ledger [quadrant]"
)


def _support_form_wanted(args: str) -> bool:
    """`/slis support` and `/slis support <what is needed>` open the form; the subcommands
    (list, show, stats, ledger) answer in a message."""
    return args.strip().partition(" ")[0].lower() not in SUPPORT_WORDS


def support_commands(ask: AskFlow, support: SupportService, views: SupportViews) -> list[Command]:
    """`/slis support`: ask for support (a form), and follow requests, stats and the ledger."""

    def run(actor: Actor, args: str) -> Reply:
        sub, _, rest = args.strip().partition(" ")
        rest = rest.strip()
        match sub.lower():
            case "list":
                return present_support.listing(views.listing(actor, rest))
            case "show":
                if not rest:
                    raise UserError(
                        "Which request? Give its reference, e.g. `/slis support show SR-2026-0042`"
                        ".",
                        hint="`/slis support list` shows the requests you can see.",
                    )
                return card_reply(support.find(actor, rest.split()[0]))
            case "stats":
                return present_support.stats(views.stats(actor, rest))
            case "ledger":
                return present_support.ledger(views.ledger(actor, rest))
        raise UserError("The support form opens from the chat box: type `/slis support`.")

    return [
        Command(
            "support",
            "ask the Teaching School Alliances for support, and follow your requests"
            f" ({'/'.join(LIST_SCOPES)})",
            SUPPORT_USAGE,
            (
                "support",
                "support a review of our pupil premium strategy",
                "support list",
                "support show SR-2026-0042",
            ),
            run,
            opens_form=_support_form_wanted,
            form=lambda actor, args: ask.open(actor, args),
        )
    ]


MEETING_FORMS = ("new", "order", "minutes", "change", "cancel")
MEETING_WORDS = ("list", "show", "tally", "agenda", "notetaker", *MEETING_FORMS)
MEETING_USAGE = (
    "meeting [list]  |  meeting new [quadrant]  |  meeting show <ref>  |  meeting tally <ref>"
    "  |  meeting agenda <ref> <item>  |  meeting order <ref>  |  meeting minutes <ref>"
    "  |  meeting notetaker <ref> <e-mail|me|none>  |  meeting change <ref>"
    "  |  meeting cancel <ref>"
)


def _meeting_ref(rest: str, sub: str) -> str:
    ref = rest.split()[0] if rest.split() else ""
    if not ref:
        raise UserError(
            f"Which meeting? Give its reference, e.g. `{COMMAND} meeting {sub} M-2027-0007`.",
            hint=f"`{COMMAND} meeting list` shows the meetings of your quadrant(s).",
        )
    return ref


def _meeting_form_wanted(args: str) -> bool:
    """The subcommands that open a form (new, order, minutes, change, cancel)."""
    return args.strip().partition(" ")[0].lower() in MEETING_FORMS


def meeting_commands(meetings: Meetings) -> list[Command]:
    """`/slis meeting` (propose, follow and run quadrant meetings) and `/slis actions`."""

    def run(actor: Actor, args: str) -> Reply:
        sub, _, rest = args.strip().partition(" ")
        rest = rest.strip()
        match sub.lower():
            case "" | "list":
                return meetings.listing.meetings(actor, rest)
            case "show":
                return meetings.listing.show(actor, _meeting_ref(rest, "show"))
            case "tally":
                return meetings.voting.tally(actor, _meeting_ref(rest, "tally"))
            case "agenda":
                ref = _meeting_ref(rest, "agenda")
                item = rest[len(ref) :].strip()
                if not item:
                    raise UserError(
                        f"What should go on the agenda? e.g. `{COMMAND} meeting agenda {ref}"
                        " Sharing our writing moderation`.",
                        hint="Or press *Add an agenda item* on the meeting's invitation.",
                    )
                return meetings.agenda.add(actor, ref, item)
            case "notetaker":
                ref = _meeting_ref(rest, "notetaker")
                return meetings.minutes.name_note_taker(actor, ref, rest[len(ref) :])
            case word if word in MEETING_FORMS:
                raise UserError(
                    f"That form opens from the chat box: type `{COMMAND} meeting {word}`."
                )
        close = difflib.get_close_matches(sub.lower(), MEETING_WORDS, n=1)
        raise UserError(
            f"I don't know `{COMMAND} meeting {sub}`.",
            hint=f"Did you mean `{COMMAND} meeting {close[0]}`?" if close else None,
        )

    def form(actor: Actor, args: str) -> ShowPage:
        sub, _, rest = args.strip().partition(" ")
        rest = rest.strip()
        match sub.lower():
            case "new":
                return meetings.proposing.open(actor, rest)
            case "order":
                return meetings.agenda.order_form(actor, _meeting_ref(rest, "order"))
            case "minutes":
                return meetings.minutes.minutes_form(actor, _meeting_ref(rest, "minutes"))
            case "change":
                return meetings.booking.change_form(actor, _meeting_ref(rest, "change"))
            case "cancel":
                return meetings.booking.cancel_form(actor, _meeting_ref(rest, "cancel"))
        raise UserError(f"I don't know `{COMMAND} meeting {sub}`.")

    return [
        Command(
            "meeting",
            "quadrant meetings: chairs and LA officers propose one (a poll of times), invitees"
            " vote, add agenda items and answer; after it, minutes and actions",
            MEETING_USAGE,
            (
                "meeting list",
                "meeting new",
                "meeting agenda M-2027-0007 Sharing our writing moderation",
                "meeting minutes M-2027-0007",
            ),
            run,
            opens_form=_meeting_form_wanted,
            form=form,
        ),
        Command(
            "actions",
            "the actions from meetings that are yours (chairs: also your quadrant's open ones)",
            "actions",
            ("actions",),
            lambda actor, args: meetings.listing.actions(actor, args),
        ),
    ]


AUDIT_SHOWN = 20  # entries listed in chat unless a `limit` is given
AUDIT_MOST = 100  # the most one chat message lists; `slis audit` lists more


def audit_commands(log: AuditLog) -> list[Command]:
    """`/slis audit [filters]`: the audit log of the asker's local authority, filtered."""

    def run(actor: Actor, args: str) -> Reply:
        authorisation.require(actor, authorisation.command("audit"))
        assert actor.tenant_id is not None
        query = audit.parse_query(args, default_limit=AUDIT_SHOWN)
        if query.limit > AUDIT_MOST:
            raise UserError(
                f"In chat I list up to {AUDIT_MOST} entries at a time.",
                hint="Narrow it down, or use `slis audit` on the command line for more.",
            )
        return present_audit.listing(log.read(actor.tenant_id, query, actor=actor))

    return [
        Command(
            "audit",
            "the audit log: who did what, when and from where (LA officers and administrators)",
            audit.USAGE,
            ("audit", "audit support since 2026-11-01", "audit meeting.create"),
            run,
        )
    ]
