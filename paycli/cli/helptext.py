"""How `--help` reads: the names in usage lines, the examples, the commands' summaries.

Typer draws a required argument as `{payment_id}` and a value as `<str>` or `<list[str]>`;
an operator reads `PAYMENT_ID`, `FILE`, `--user USER`, as Unix manuals write them. Click
rewraps every paragraph of a help text to the terminal, which splits a long example
across lines where it can no longer be copied; its `\\b` marker keeps a paragraph as
written. And a group lists its commands by their first sentence cut to fit, ending in
"...". `plain_help` puts all three right on a command and every command under it, once,
when the command is loaded (`cli.app`), so each command's docstring stays plain prose.

Invariants: only how help and usage are drawn changes; parsing, names in error messages
aside (`Missing argument 'PAYMENT_ID'`), is untouched.
"""

from __future__ import annotations

import typer.core
from typer._click import Command, Context
from typer._click.utils import make_default_short_help

KEEP_AS_WRITTEN = "\b"  # Click's marker: the paragraph that follows is not rewrapped


class PlainArgument(typer.core.TyperArgument):
    """An argument drawn by its upper-case name: `PAYMENT_ID`, `[FILE]`, `COMMAND...`."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: Context) -> str | None:
        return None  # the name says it; `<str>` says nothing more


def plain_help(command: Command) -> None:
    """Plain names, whole examples and whole summaries, on `command` and below it."""
    plain_own_help(command)
    if isinstance(command, typer.core.TyperGroup):
        for sub in command.commands.values():
            plain_help(sub)


def plain_own_help(command: Command) -> None:
    """Plain names, whole examples and a whole summary on `command` itself (the root's
    commands load lazily: it leaves them alone)."""
    command.help = examples_kept_whole(command.help)
    if command.help and not command.short_help:
        command.short_help = first_sentence(command.help)
    for param in command.params:
        plain_names(param)


def plain_names(param: object) -> None:
    """An argument's or an option's value shown by an upper-case name."""
    if isinstance(param, typer.core.TyperArgument):
        param.__class__ = PlainArgument  # the same argument, drawn as Unix manuals do
        param.metavar = param.metavar or (param.name or "value").upper()
    elif (isinstance(param, typer.core.TyperOption) and not param.is_flag
          and not param.count and param.metavar is None):
        param.metavar = (param.name or "value").upper()


def examples_kept_whole(help_text: str | None) -> str | None:
    """The help with each `Example:` paragraph marked to be printed as written."""
    if not help_text:
        return help_text
    paragraphs = help_text.split("\n\n")
    return "\n\n".join(f"{KEEP_AS_WRITTEN}\n{p.strip(chr(10))}"
                       if p.lstrip().startswith("Example") and KEEP_AS_WRITTEN not in p
                       else p for p in paragraphs)


def first_sentence(help_text: str) -> str:
    """A help text's first sentence, whole: what a list of commands shows beside it."""
    return make_default_short_help(help_text.replace(KEEP_AS_WRITTEN, ""), 10_000)
