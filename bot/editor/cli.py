"""``python -m bot editor history KIND:ID`` (what changed, who, when) and ``python -m bot editor sync`` (bring a
local copy of knowledge/ up to the edits saved in the database, e.g. when a replica's container starts)."""
from __future__ import annotations

import sys


async def _history(args) -> int:
    from bot.editor.service import EditorService

    kind, _, entry_id = args.entry.partition(":")
    if not kind or not entry_id:
        print("entry should look like program:dibao", file=sys.stderr)
        return 2
    revisions = await EditorService().history(kind, entry_id)
    if not revisions:
        print(f"no recorded changes of {args.entry}")
    for r in reversed(revisions):
        print(f"#{r['id']} {r['at']} {r['user']} {r['action']}{' (needs retraining)' if r['needs_retraining'] else ''}")
        if args.diff:
            print(r["diff"])
    return 0


def _sync(args) -> int:
    from bot.editor.publish import KnowledgeSync
    from bot.settings import get_settings

    sync = KnowledgeSync(get_settings().knowledge_dir)
    try:
        written = sync.sync_once()
    finally:
        sync.engine.dispose()
    print(f"{written} file(s) updated from the editor's saved revisions")
    return 0


def register(sub) -> None:
    p = sub.add_parser("editor", help="the knowledge editor's history and replica sync")
    cmds = p.add_subparsers(dest="editor_command", metavar="SUBCOMMAND")
    cmds.required = True
    h = cmds.add_parser("history", help="recorded changes of one entry, oldest first")
    h.add_argument("entry", help="KIND:ID, e.g. program:dibao")
    h.add_argument("--diff", action="store_true", help="print each change's diff")
    h.set_defaults(handler=_history)
    s = cmds.add_parser("sync", help="write knowledge files whose latest saved revision differs from the local copy")
    s.set_defaults(handler=_sync)
