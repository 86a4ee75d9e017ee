"""Grouping similar messages so forty ways of asking one thing are one row.

Character n-grams (1–2) with TF-IDF and cosine similarity suit Chinese without a word segmenter, and keep
masked numbers (``138****8001``) from counting as words. Grouping is greedy and incremental: a new message
joins the existing group whose centroid it is most similar to, if similar enough, else it starts a group.
Old messages never move, so what an editor did with a group stays attached to the same messages.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

THRESHOLD = 0.3
_NOISE = re.compile(r"[\s\*，。！？、,.!?~～…]+")


def normalise(text: str) -> str:
    return _NOISE.sub(" ", text).strip().lower()


def assign(existing: Dict[int, Sequence[str]], new: Sequence[str], threshold: float = THRESHOLD
           ) -> List[Tuple[Optional[int], int]]:
    """For each new text, (the existing group id it joins, or None, and a local index of new groups).

    Returns one pair per new text: ``(group_id, -1)`` to join an existing group, ``(None, k)`` to join the k-th
    new group (new groups are numbered in order of first appearance).
    """
    if not new:
        return []
    group_ids = list(existing)
    corpus = [normalise(t) for g in group_ids for t in existing[g]] + [normalise(t) for t in new]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    try:
        matrix = vec.fit_transform(corpus)
    except ValueError:  # nothing but punctuation
        return [(None, i) for i in range(len(new))]
    offset = 0
    centroids: List[np.ndarray] = []
    for g in group_ids:
        n = len(existing[g])
        centroids.append(_unit(np.asarray(matrix[offset:offset + n].mean(axis=0)).ravel()))
        offset += n
    n_existing = len(group_ids)
    # Running sums of member vectors: a centroid follows its group as it grows.
    sums: List[np.ndarray] = [c * len(existing[g]) for c, g in zip(centroids, group_ids)]
    out: List[Tuple[Optional[int], int]] = []
    for i in range(len(new)):
        v = _unit(matrix[offset + i].toarray().ravel())
        best, best_sim = -1, threshold
        if v.any():
            for j, c in enumerate(centroids):
                sim = float(v @ c)
                if sim >= best_sim:
                    best, best_sim = j, sim
        if best < 0:
            centroids.append(v)
            sums.append(v.copy())
            best = len(centroids) - 1
        else:
            sums[best] = sums[best] + v
            centroids[best] = _unit(sums[best])
        out.append((group_ids[best], -1) if best < n_existing else (None, best - n_existing))
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n else v
