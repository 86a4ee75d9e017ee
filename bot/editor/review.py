"""Publishing safely: text residents read is 已核实 only after someone reviewed *that* text.

A review block (``review: {status, reviewed_on, reviewed_by}``) covers the mapping it sits in. When a save
changes anything in that mapping other than training fields (aliases, example questions, situations — they
change what Huimin understands, not what it says) the block goes back to ``unverified``, so the answer footer
stops saying 已核实 until someone marks the entry reviewed. With two-person review
(``HUIMIN_EDITOR_TWO_PERSON_REVIEW=1``) the one who marks it reviewed must not be one who changed it.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Tuple

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.editor import yamlio

# Fields that only feed training (and the review block itself): changing them does not change an answer.
NOT_ANSWER_TEXT = frozenset({"aliases", "example_questions", "situations", "review"})
TWO_PERSON_ENV = "HUIMIN_EDITOR_TWO_PERSON_REVIEW"
# Changes that count as "saved by" for two-person review.
CHANGING_ACTIONS = ("save", "raw", "restore", "create")


def two_person_review() -> bool:
    return os.environ.get(TWO_PERSON_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _answer_content(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _answer_content(v) for k, v in value.items() if k not in NOT_ANSWER_TEXT}
    if isinstance(value, list):
        return [_answer_content(v) for v in value]
    return value


def _reset(before: Any, node: Any, path: Tuple[Any, ...], out: List[str]) -> None:
    if isinstance(node, CommentedMap):
        review = node.get("review")
        if isinstance(review, CommentedMap) and review.get("status") == "verified" \
                and _answer_content(before) != _answer_content(yamlio.to_plain(node)):
            review["status"] = "unverified"
            out.append(".".join(str(p) for p in path) or "(entry)")
        for key, child in node.items():
            if key != "review":
                _reset(before.get(key) if isinstance(before, dict) else None, child, path + (key,), out)
    elif isinstance(node, CommentedSeq):
        for i, child in enumerate(node):
            _reset(before[i] if isinstance(before, list) and i < len(before) else None, child, path + (i,), out)


def reset_changed_reviews(before_file: str, after_file: str) -> Tuple[str, List[str]]:
    """(the new file text, paths of review blocks set back to unverified) for a change of one file."""
    if not before_file:
        return after_file, []
    y = yamlio.make_yaml(after_file)
    doc = yamlio.load(after_file, y)
    reset: List[str] = []
    _reset(yamlio.to_plain(yamlio.load(before_file)), doc, (), reset)
    return (yamlio.dump(doc, y), reset) if reset else (after_file, [])


def _statuses(node: Any, path: Tuple[Any, ...] = ()) -> dict:
    out = {}
    if isinstance(node, dict):
        review = node.get("review")
        if isinstance(review, dict):
            out[path] = review.get("status")
        for key, child in node.items():
            if key != "review":
                out.update(_statuses(child, path + (key,)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out.update(_statuses(child, path + (i,)))
    return out


def verified_by_hand(before_file: str, after_file: str) -> bool:
    """A save that turns a review block to ``verified`` itself: only "mark reviewed" may (who and when are
    recorded there, and two-person review is checked)."""
    if not before_file:
        return False
    before = _statuses(yamlio.to_plain(yamlio.load(before_file)))
    after = _statuses(yamlio.to_plain(yamlio.load(after_file)))
    return any(status == "verified" and before.get(path) != "verified" for path, status in after.items())


def reviewer_problem(user: str, changes: Sequence[Tuple[str, str]]) -> Optional[str]:
    """Why ``user`` may not mark the entry reviewed under two-person review, or None.

    ``changes``: (action, user) of the entry's revisions, oldest first."""
    if not two_person_review():
        return None
    since = []
    for action, who in changes:
        if action == "review":
            since = []
        elif action in CHANGING_ACTIONS:
            since.append(who)
    if user in since:
        return "已开启双人审核：这次修改有您保存的内容，请另一位编辑核实后再标记为已核实。"
    return None
