"""How ``kaboodle demo`` draws: plain :class:`NodeView` snapshots as rich renderables.

:func:`screen` lays out the panes (:func:`pane`) in a square grid (:func:`columns_for`) above
the :func:`footer`; :func:`plain_line` is one node as a line of text, for a pipe. It knows no
node and no event loop: cli/demo_mesh.py takes the snapshots, cli/demo_run.py shows them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .demo_mesh import NodeView
from .render import STATE_STYLES

__all__ = ["columns_for", "footer", "pane", "plain_line", "screen"]

# Lines of a pane besides its member rows: 2 borders, address, identity, fingerprint, a blank
# line, the table's header and its rule.
_PANE_LINES = 8
_NODE_STYLES = {"running": "green", "paused": "yellow", "killed": "red", "left": "dim"}


def columns_for(count: int) -> int:
    """Panes per row: a square grid, as close as it gets (2 x 2 for 4 nodes)."""
    return max(1, math.ceil(math.sqrt(count)))


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


def pane(view: NodeView, *, selected: bool = False, height: int | None = None) -> Panel:
    """One node's pane: its address, identity, fingerprint and members with their states."""
    style = _NODE_STYLES[view.state]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("address", view.address or "-")
    head.add_row("identity", view.identity)
    members = _members(view.counted)
    shown = Text(view.shown_fingerprint, style="bold cyan")
    if view.fingerprint is not None:
        shown.append(f"  {members}", style="")
    head.add_row("fingerprint", shown)
    body: list[RenderableType] = [head]
    if view.members:
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), expand=True
        )
        # Fixed ratios: every pane's columns line up, whatever its rows hold.
        table.add_column("address", no_wrap=True, ratio=4)
        table.add_column("identity", no_wrap=True, ratio=4)
        table.add_column("state", no_wrap=True, ratio=2)
        for m in view.members:
            table.add_row(
                m.addr,
                m.identity + (" (self)" if m.is_self else ""),
                Text(m.state, style=STATE_STYLES.get(m.state, "")),
            )
        body += [Text(""), table]
    else:
        body.append(Text(f"\n{view.identity} is {view.state}: r restarts it", style="dim"))
    title = Text(f"{view.number} {view.identity} ", style="bold")
    title.append(str(view.state), style=style)
    return Panel(
        Group(*body),
        title=title,
        title_align="left",
        border_style="bold bright_white" if selected else style,
        box=box.HEAVY if selected else box.ROUNDED,
        height=height,
    )


def footer(count: int, selected: int, message: str = "", *, keys: bool = True) -> Table:
    """Two lines: the keys and the selected node; the latest action's outcome."""
    if keys:
        line = Text(f"1-{count} select  k kill  p pause/resume  r restart  l leave  q quit")
        line.append(f"    selected: {selected} node-{selected}", style="bold")
    else:
        line = Text("stdin is not a terminal: no keys; Ctrl-C ends the demo")
    lines = Table.grid(expand=True)
    lines.add_column(no_wrap=True, overflow="ellipsis")
    lines.add_row(line)
    lines.add_row(Text(message, style="italic"))
    return lines


def screen(
    views: Sequence[NodeView], selected: int, message: str = "", *, keys: bool = True
) -> Layout:
    """The whole screen: the panes in a square grid, and the footer at the bottom."""
    columns = columns_for(len(views))
    # One height for all panes, so the grid stays a grid as member lists differ.
    height = _PANE_LINES + max((len(v.members) for v in views), default=0)
    grid = Table.grid(expand=True)
    for _ in range(columns):
        grid.add_column(ratio=1)
    panes: list[RenderableType] = [
        pane(v, selected=v.number == selected, height=height) for v in views
    ]
    panes += [""] * (-len(panes) % columns)
    for row in range(0, len(panes), columns):
        grid.add_row(*panes[row : row + columns])
    layout = Layout()
    layout.split_column(
        Layout(grid, name="mesh"),
        Layout(footer(len(views), selected, message, keys=keys), name="footer", size=2),
    )
    return layout


def plain_line(view: NodeView) -> str:
    """One node as one line of text, for a pipe or a log."""
    members = f"  {_members(view.counted)}" if view.fingerprint is not None else ""
    return (
        f"{time.strftime('%H:%M:%S')}  {view.identity}  {view.address or '-'}  {view.state}"
        f"  fingerprint {view.shown_fingerprint}{members}"
    )
