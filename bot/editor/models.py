"""The editor's tables: every change to a knowledge entry (history, restore) and the training runs."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db import Base


class Revision(Base):
    """One recorded change of one entry: who, when, the entry before and after, and the file's diff."""
    __tablename__ = "editor_revisions"

    id = sa.Column(sa.Integer, primary_key=True)
    entry_key = sa.Column(sa.String(160), nullable=False, index=True)   # "<kind>:<id>"
    kind = sa.Column(sa.String(32), nullable=False)
    entry_id = sa.Column(sa.String(128), nullable=False)
    file = sa.Column(sa.String(255), nullable=False)                   # relative to the knowledge directory
    action = sa.Column(sa.String(16), nullable=False)                  # save, raw, review, restore, create
    user_name = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
    before_text = sa.Column(sa.Text, nullable=True)                    # the entry's YAML; NULL for a new entry
    after_text = sa.Column(sa.Text, nullable=False)
    before_version = sa.Column(sa.String(32), nullable=True)
    after_version = sa.Column(sa.String(32), nullable=False)
    file_before = sa.Column(sa.Text, nullable=True)                    # the whole file before (replica sync)
    file_after = sa.Column(sa.Text, nullable=False)                    # the whole file as written (replica sync)
    diff = sa.Column(sa.Text, nullable=False)                          # unified diff of the file
    needs_retraining = sa.Column(sa.Boolean, nullable=False, default=False)
    restored_from = sa.Column(sa.Integer, nullable=True)
    note = sa.Column(sa.String(255), nullable=True)


class TrainingJob(Base):
    """A background training run started from the editor, with its log and outcome."""
    __tablename__ = "editor_training_jobs"

    id = sa.Column(sa.Integer, primary_key=True)
    status = sa.Column(sa.String(16), nullable=False)                  # running, succeeded, failed
    # 1 while running, NULL after: the unique index lets only one run exist at a time, across consoles.
    active = sa.Column(sa.Integer, nullable=True, unique=True)
    started_by = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    finished_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    stage = sa.Column(sa.String(64), nullable=False, default="")
    progress = sa.Column(sa.Integer, nullable=False, default=0)        # 0–100, rough
    log = sa.Column(sa.Text, nullable=False, default="")
    model_path = sa.Column(sa.String(500), nullable=True)
    previous_model = sa.Column(sa.String(500), nullable=True)
    error = sa.Column(sa.Text, nullable=True)
