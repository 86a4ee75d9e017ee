"""The editor's only door into ``bot.knowledge``: validation (what ``kb check`` runs), loading, answer
rendering and the training export. Keeping the calls here means the editor always runs the knowledge base's
own code, and never a second opinion of it."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ruamel.yaml import YAML

from bot.editor.candidate import candidate_dir


@dataclass
class EditorProblem:
    """A knowledge-base problem as the editor shows it: file relative to the knowledge directory."""
    file: Optional[str]     # relative to the knowledge directory
    line: Optional[int]
    message: str
    field: str = ""          # the checker's own dotted path inside the document, when it gives one


@dataclass
class Evaluation:
    """The knowledge base as it would be with one file replaced: its problems, the loaded base (None when it
    does not validate), and its training export (relative path → bytes; None when it cannot be built)."""
    problems: List[EditorProblem] = field(default_factory=list)
    kb: Any = None
    export: Optional[Dict[str, bytes]] = None


def aspect_labels(knowledge_dir: Path) -> List[Tuple[str, str]]:
    """(aspect key, label) in the knowledge base's order, from ``knowledge/aspects.yml`` (overview excluded:
    it is the programme's summary)."""
    path = Path(knowledge_dir) / "aspects.yml"
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except Exception:
        return []
    aspects = data.get("aspects") if isinstance(data, dict) else None
    if not isinstance(aspects, dict):
        return []
    return [(str(k), str(v.get("label", k)) if isinstance(v, dict) else str(k))
            for k, v in aspects.items() if k != "overview"]


def _rel(root: Path, file: Optional[str]) -> Optional[str]:
    if not file:
        return file
    fp = Path(file)
    fp = (fp if fp.is_absolute() else Path.cwd() / fp).resolve()
    try:
        return fp.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(file)


def _problems(root: Path, raw) -> List[EditorProblem]:
    return [EditorProblem(_rel(root, getattr(p, "file", None)), getattr(p, "line", None), getattr(p, "message", str(p)),
              getattr(p, "field", "") or "") for p in raw]


def is_knowledge_file(relpath: str) -> bool:
    """Files the knowledge loader reads (it accepts unsaved texts for these); everything else is another
    capability's, checked by its own registered checker on a directory."""
    from bot.knowledge import loader

    parts = relpath.split("/")
    if len(parts) == 2 and parts[0] in (loader.PROGRAMS_DIR, loader.LOCALITIES_DIR) and parts[1].endswith(".yml"):
        return True
    return relpath in (loader.ASPECTS_FILE, loader.TEMPLATES_FILE, loader.SERVICE_LIST_FILE)


def _export(kb) -> Dict[str, bytes]:
    from bot.knowledge.export import export_training_data

    with tempfile.TemporaryDirectory(prefix="huimin-kb-export-") as tmp:
        out = Path(tmp)
        export_training_data(kb, out)
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _evaluate_dir(root: Path, overrides: Optional[Dict[Path, str]], extras: bool,
                  with_export: bool) -> Evaluation:
    """``kb check``'s steps (read, validate, the registered extra checks), then build, as the loader does."""
    from bot.knowledge.check import extra_problems
    from bot.knowledge.loader import build_knowledge, read_documents, validate_documents

    raw: list = []
    docs = read_documents(root, raw, overrides)  # unchanged files come from the loader's parse cache
    validate_documents(docs, raw)
    kb = None
    if not raw:
        try:
            kb = build_knowledge(docs)
        except Exception:  # validation passed but building failed: report, never crash the editor
            kb = None
    if extras:
        raw.extend(extra_problems(root))
    ev = Evaluation(problems=_problems(root, raw), kb=kb)
    if with_export and kb is not None:
        ev.export = _export(kb)
    return ev


def evaluate(knowledge_dir: Path, relpath: Optional[str] = None, text: Optional[str] = None,
             with_export: bool = True, extras_baseline: Optional[List[EditorProblem]] = None) -> Evaluation:
    """Evaluate the knowledge base with ``relpath`` replaced by ``text`` (unsaved). Files the knowledge loader
    reads are overridden in memory; other files (the booking catalogue, whose checker reads a directory) are
    evaluated on a temporary copy of the directory. ``extras_baseline`` (the extra checkers' problems of the
    live directory) saves re-running them when the change cannot affect them."""
    root = Path(knowledge_dir).resolve()
    if relpath is None:
        return _evaluate_dir(root, None, True, with_export)
    if is_knowledge_file(relpath):
        ev = _evaluate_dir(root, {root / relpath: text}, extras_baseline is None, with_export)
        if extras_baseline is not None:
            ev.problems.extend(_with_file_checked(root, relpath, text, extras_baseline))
        return ev
    with candidate_dir(root, {relpath: text}) as cand:
        ev = _evaluate_dir(cand, None, True, with_export)
        for p in ev.problems:  # report the live file names, not the copy's
            if p.file and p.file.startswith(str(cand)):
                p.file = Path(p.file).relative_to(cand).as_posix()
    return ev


def _with_file_checked(root: Path, relpath: str, text: Optional[str],
                       baseline: List[EditorProblem]) -> List[EditorProblem]:
    """The extra checkers' problems of the saved directory, with those about ``relpath`` replaced by what the
    checkers that read that file (a programme's situations) say about its unsaved ``text``."""
    from bot.knowledge.check import file_problems

    saved = {(p.file, p.message) for p in _problems(root, file_problems(root, relpath, None))}
    return [p for p in baseline if (p.file, p.message) not in saved] + _problems(
        root, file_problems(root, relpath, text))


def extra_problems(knowledge_dir: Path) -> List[EditorProblem]:
    from bot.knowledge.check import extra_problems as run

    root = Path(knowledge_dir).resolve()
    return _problems(root, run(root))


def check(knowledge_dir: Path) -> List[EditorProblem]:
    """Exactly ``python -m bot kb check``'s problems, with files relative to the directory."""
    from bot.knowledge.check import check_knowledge

    root = Path(knowledge_dir).resolve()
    return _problems(root, check_knowledge(root))


def render_previews(kb, kind: str, entry_id: str, locality: Optional[str] = None) -> List[dict]:
    """Every aspect's answer for one entry, rendered by ``bot.knowledge.answers`` exactly as residents get it."""
    from bot.knowledge import answers

    if kb is None:
        return []

    def one(answer, aspect: Optional[str], label: str) -> dict:
        return {"aspect": aspect, "label": label, "text": answer.text,
                "buttons": [{"title": b.get("title"), "payload": b.get("payload")} for b in answer.buttons],
                "verified": answer.verified}

    def label(aid: str) -> str:
        return kb.aspects[aid].label if aid in kb.aspects else aid

    locality = locality if locality in kb.localities else None
    if kind == "program" and entry_id in kb.programs:
        return [one(a, aid, label(aid)) for aid, a in answers.render_all_aspects(kb, entry_id, locality).items()]
    if kind == "service_item" and entry_id in kb.service_list.items:
        return [one(answers.render_service_list(kb, entry_id, locality), "service_item",
                    kb.service_list.items[entry_id].name),
                one(answers.render_service_list(kb, None, locality), "service_list", kb.service_list.name)]
    if kind == "locality" and entry_id in kb.localities:
        loc = kb.localities[entry_id]
        out = []
        for pid, local in loc.programs.items():
            if pid not in kb.programs:
                continue
            for aid in local.aspects:
                out.append(one(answers.render_answer(kb, pid, aid, entry_id), aid,
                               f"{kb.programs[pid].short_name} · {label(aid)}（{loc.short_name}）"))
        if loc.service_list is not None:
            out.append(one(answers.render_service_list(kb, None, entry_id), "service_list", kb.service_list.name))
        return out
    return []


# What ``kb export`` reads from an entry (names, aliases, example questions, ids); answer texts are not in it.
TRAINING_KEYS = ("id", "name", "short_name", "aliases", "example_questions")


def training_projection(data: Optional[dict]) -> Optional[dict]:
    if not isinstance(data, dict):
        return None
    return {k: data.get(k) for k in TRAINING_KEYS if data.get(k) not in (None, "", [], {})}


def needs_retraining(before: Optional[dict], after: Optional[dict]) -> bool:
    """Quick answer for one entry (the live preview): True when ids, names, aliases or example questions change
    or the entry is new — what ``kb export`` turns into training data; False for answer text. Saving decides
    exactly, by comparing the export itself (``export_changed``)."""
    return before is None or training_projection(before) != training_projection(after)


def export_changed(before_dir: Path, after_dir: Path) -> bool:
    """The exact test: does ``kb export``'s output differ between two knowledge directories?"""
    before = evaluate(before_dir).export
    after = evaluate(after_dir).export
    return before is None or after is None or before != after
