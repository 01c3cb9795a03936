"""Console output that reads well where operators read it.

On a terminal: rich as usual (colours, tables fitted to the window, rules). Anywhere else (a
pipe, a file, cron, systemd's journal): a plain log format, no colour codes, nothing squeezed to
80 columns or cut with an ellipsis (lines are as wide as their content), and section rules as
one timestamped line (`== 2026-12-01 12:04:05 UTC ingest ==`) instead of a row of box-drawing
characters. `COLUMNS` still wins when set.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from rich.console import Console
from rich.text import Text

# Wide enough for any error message on one line; tables stay as wide as their content.
PLAIN_WIDTH = 10_000


class LogConsole(Console):
    """A rich Console whose rules are one plain line when the output is not a terminal."""

    def rule(self, title: str | Text = "", *args: Any, **kwargs: Any) -> None:
        if self.is_terminal:
            super().rule(title, *args, **kwargs)
            return
        plain = Text.from_markup(title).plain if isinstance(title, str) else title.plain
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.print(f"== {stamp} {plain} ==", markup=False, highlight=False)


def make_console(**options: Any) -> Console:
    console = LogConsole(**options)
    if not console.is_terminal and "width" not in options and not os.environ.get("COLUMNS"):
        console.width = PLAIN_WIDTH
    return console


def is_plain(console: Console) -> bool:
    """True when output goes to a log: print whole values, never clip them."""
    return not console.is_terminal


def clip(console: Console, text: str, limit: int) -> str:
    """Text clipped to `limit` characters on a terminal, whole in a log."""
    if is_plain(console) or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
