"""Publishing edits to every process that answers residents.

On one host (``python -m bot run``, ``python -m bot prod run``) every action server reads the same
``knowledge/`` directory: an editor's save is an atomic file replace, and each action server's
``KnowledgeStore`` notices the new mtime within seconds and reloads (keeping the last good version if a file
does not validate). Nothing else is needed.

When replicas have their *own copy* of the directory (containers built from one image, hosts without a shared
volume), set ``HUIMIN_KNOWLEDGE_SYNC=db``: every save is also stored in the database (``editor_revisions``,
the whole file as written), and a background thread in each action server and console polls the newest
revision id — the reload signal — and writes any file whose latest saved content differs from its local copy,
atomically. The local ``KnowledgeStore`` then reloads exactly as on a shared directory.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

import sqlalchemy as sa

from bot.db import to_sync_url
from bot.editor import yamlio
from bot.settings import get_settings

log = logging.getLogger(__name__)

_started: Dict[str, threading.Thread] = {}


def sync_enabled() -> bool:
    return os.environ.get("HUIMIN_KNOWLEDGE_SYNC", "").strip().lower() == "db"


class KnowledgeSync:
    """Brings a local knowledge directory up to the newest content saved through the editor."""

    def __init__(self, knowledge_dir: Path, db_url: Optional[str] = None):
        self.knowledge_dir = Path(knowledge_dir)
        url = to_sync_url(db_url or get_settings().database_url)
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.seen: Optional[int] = None

    def history(self) -> Dict[str, Tuple[str, set]]:
        """file → (the newest saved text, every text the file is known to have had before it)."""
        out: Dict[str, Tuple[str, set]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT file, file_before, file_after FROM editor_revisions ORDER BY id"))
            for row in rows:
                _, known = out.get(row.file, ("", set()))
                if row.file_before is not None:
                    known.add(row.file_before)
                known.add(row.file_after)
                out[row.file] = (row.file_after, known)
        return out

    def sync_once(self) -> int:
        """Write the files that differ; returns how many were written. Cheap when nothing changed."""
        with self.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT MAX(id) FROM editor_revisions")).scalar()
        if version is None or version == self.seen:
            return 0
        written = 0
        root = self.knowledge_dir.resolve()
        for relpath, (text, known) in self.history().items():
            target = (root / relpath).resolve()
            if root not in target.parents:  # never write outside the knowledge directory
                log.warning("knowledge sync: ignoring %s (outside %s)", relpath, root)
                continue
            try:
                current = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            if current == text:
                continue
            # Fast-forward only: a local file the editor never saw (a newer deploy, a hand edit on this
            # replica) is left alone rather than overwritten with older saved content.
            if current is not None and current not in known:
                log.warning("knowledge sync: %s differs from every saved version; left as it is", relpath)
                continue
            yamlio.write_atomic(target, text)
            written += 1
            log.info("knowledge sync: updated %s from the editor's saved revisions", relpath)
        self.seen = version
        return written

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # the database may be briefly away; the files we have keep serving
                log.warning("knowledge sync failed (will retry): %s", exc)
            stop.wait(interval)


def start_sync_from_env(knowledge_dir: Optional[Path] = None) -> Optional[threading.Thread]:
    """Start the sync thread once per process and directory when ``HUIMIN_KNOWLEDGE_SYNC=db``."""
    if not sync_enabled():
        return None
    kdir = Path(knowledge_dir or get_settings().knowledge_dir)
    key = str(kdir.resolve())
    if key in _started and _started[key].is_alive():
        return _started[key]
    interval = float(os.environ.get("HUIMIN_KNOWLEDGE_SYNC_INTERVAL", "5") or 5)
    sync = KnowledgeSync(kdir)
    thread = threading.Thread(target=sync.run_forever, args=(interval, threading.Event()),
                              name="knowledge-sync", daemon=True)
    thread.start()
    _started[key] = thread
    return thread
