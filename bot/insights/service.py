"""Insights operations (no HTTP): incremental refresh from the tracker store, groups, charts, acting on a group,
and replaying acted-on groups' messages through the served model.

Everything runs in the console process, on demand and on a timer; the Rasa server only ever sees the replay's
``/model/parse`` calls, which an editor starts (or a finished retraining does).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from typing import Callable, Dict, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.clock import as_utc as _aware
from bot.clock import iso_utc as _utc
from bot.clock import utcnow as _now
from bot.db import session_scope
from bot.insights import grouping
from bot.insights.models import Feedback, Group, Message, ReaderState, Task
from bot.insights.tracker import (ANSWERED, FALLBACK_INTENTS, OUTCOMES, TrackerReader, channel_of, event_time,
                                  is_typed, iso_week, turns)

log = logging.getLogger(__name__)

LAST_EVENT = "last_event_id"
CENTROID_SAMPLE = 30          # members per group that define its centroid (the newest)
SAMPLES = 5
ACTIONS = ("examples", "alias", "situation", "out_of_scope", "task")
REPLAYED_ACTIONS = ("examples", "alias", "situation", "out_of_scope")



class InsightsError(Exception):
    status, error = 400, "bad_request"

    def __init__(self, message: str, status: int = 400, error: str = "bad_request"):
        super().__init__(message)
        self.message, self.status, self.error = message, status, error


class Insights:
    def __init__(self, db_url: Optional[str], tracker_db_url: str):
        self.db_url = db_url
        self.reader = TrackerReader(tracker_db_url)
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self.reader.close()

    # --- reading the tracker store ------------------------------------------------------------------------

    async def refresh(self, max_batches: int = 20) -> int:
        """Read the tracker store from where the last refresh stopped; returns the number of new messages."""
        async with self._lock:
            total = 0
            loop = asyncio.get_running_loop()
            for _ in range(max_batches):
                async with session_scope(self.db_url) as s:
                    state = await s.get(ReaderState, LAST_EVENT)
                last = int(state.value) if state else 0
                events = await loop.run_in_executor(None, self.reader.events_after, last)
                if not events:
                    break
                rows = []
                for turn in turns(events):
                    if not is_typed(turn.text):
                        continue
                    at = event_time(turn.user)
                    intent, confidence = turn.intent
                    slots = turn.slots()
                    rows.append(dict(event_id=turn.user.id, at=at, week=iso_week(at),
                                     channel=channel_of(turn.user.sender_id), text=turn.text[:2000],
                                     intent=(intent or None) and str(intent)[:100],
                                     confidence=float(confidence) if confidence is not None else None,
                                     outcome=turn.outcome(), unhelpful=False,
                                     program=slots.get("program") if isinstance(slots.get("program"), str) else None,
                                     aspect=slots.get("aspect") if isinstance(slots.get("aspect"), str) else None,
                                     model_id=turn.model_id))
                try:
                    async with session_scope(self.db_url) as s:
                        state = await s.get(ReaderState, LAST_EVENT)
                        if state is not None and int(state.value) != last:
                            break  # another console read this batch meanwhile
                        known = set((await s.execute(sa.select(Message.event_id).where(
                            Message.event_id.in_([r["event_id"] for r in rows] or [-1])))).scalars())
                        for r in rows:
                            if r["event_id"] not in known:
                                s.add(Message(**r))
                        if state is None:
                            s.add(ReaderState(key=LAST_EVENT, value=str(events[-1].id)))
                        else:
                            state.value = str(events[-1].id)
                except IntegrityError:
                    break
                total += len(rows)
            await self._mark_unhelpful()
            await self._group_new()
            return total

    async def _mark_unhelpful(self) -> None:
        async with session_scope(self.db_url) as s:
            bad = sa.select(Feedback.question_event_id).where(Feedback.helpful.is_(False),
                                                              Feedback.question_event_id.isnot(None))
            await s.execute(sa.update(Message).where(Message.event_id.in_(bad), Message.unhelpful.is_(False))
                            .values(unhelpful=True).execution_options(synchronize_session=False))

    async def _group_new(self) -> None:
        """Put every not-yet-grouped problem message into a group (existing ones keep their members)."""
        problem = sa.or_(Message.outcome != ANSWERED, Message.unhelpful.is_(True))
        async with session_scope(self.db_url) as s:
            new = (await s.execute(sa.select(Message).where(problem, Message.group_id.is_(None))
                                   .order_by(Message.id))).scalars().all()
            if not new:
                return
            members: Dict[int, List[str]] = defaultdict(list)
            rows = (await s.execute(sa.select(Message.group_id, Message.text)
                                    .where(Message.group_id.isnot(None)).order_by(Message.id.desc()))).all()
            for gid, text in rows:
                if len(members[gid]) < CENTROID_SAMPLE:
                    members[gid].append(text)
            loop = asyncio.get_running_loop()
            placement = await loop.run_in_executor(None, grouping.assign, dict(members), [m.text for m in new])
            created: Dict[int, Group] = {}
            groups = {g.id: g for g in (await s.execute(sa.select(Group).where(
                Group.id.in_([gid for gid, _ in placement if gid is not None] or [-1])))).scalars()}
            for m, (gid, k) in zip(new, placement):
                if gid is None:
                    if k not in created:
                        created[k] = Group(label=m.text[:500], first_seen=m.at, last_seen=m.at)
                        s.add(created[k])
                        await s.flush()
                    group = created[k]
                else:
                    group = groups[gid]
                m.group_id = group.id
                group.first_seen = min(_aware(group.first_seen), _aware(m.at))
                group.last_seen = max(_aware(group.last_seen), _aware(m.at))

    # --- what the page shows ------------------------------------------------------------------------------

    async def overview(self, weeks: int = 12) -> dict:
        async with session_scope(self.db_url) as s:
            rows = (await s.execute(sa.select(Message.week, Message.outcome, Message.unhelpful, sa.func.count())
                                    .group_by(Message.week, Message.outcome, Message.unhelpful))).all()
            fb = (await s.execute(sa.select(Feedback.program, Feedback.helpful, sa.func.count())
                                  .group_by(Feedback.program, Feedback.helpful))).all()
            total = (await s.execute(sa.select(sa.func.count()).select_from(Message))).scalar() or 0
            oldest = (await s.execute(sa.select(sa.func.min(Message.at)))).scalar()
        per_week: Dict[str, Dict[str, int]] = defaultdict(lambda: {o: 0 for o in OUTCOMES + ("unhelpful",)})
        for week, outcome, unhelpful, n in rows:
            per_week[week][outcome] += n
            if unhelpful:
                per_week[week]["unhelpful"] += n
        weeks_out = [{"week": w, **per_week[w]} for w in sorted(per_week)[-weeks:]]
        helpful: Dict[str, Dict[str, int]] = defaultdict(lambda: {"helpful": 0, "unhelpful": 0})
        for program, ok, n in fb:
            helpful[program or ""]["helpful" if ok else "unhelpful"] += n
        return {"weeks": weeks_out, "total_messages": total, "oldest": _utc(oldest),
                "helpfulness": [{"program": p, **v} for p, v in sorted(helpful.items())],
                "top_groups": (await self.groups(sort="count", limit=10))}

    async def groups(self, sort: str = "count", week: Optional[str] = None, limit: int = 200,
                     acted: Optional[bool] = None) -> List[dict]:
        async with session_scope(self.db_url) as s:
            q = sa.select(Message.group_id, Message.text, Message.at, Message.channel, Message.outcome,
                          Message.unhelpful, Message.week).where(Message.group_id.isnot(None))
            if week:
                q = q.where(Message.week == week)
            msgs = (await s.execute(q.order_by(Message.id.desc()))).all()
            gids = {m.group_id for m in msgs}
            groups = {g.id: g for g in (await s.execute(sa.select(Group).where(
                Group.id.in_(gids or {-1})))).scalars()}
        by_group: Dict[int, list] = defaultdict(list)
        for m in msgs:
            by_group[m.group_id].append(m)
        out = []
        for gid, ms in by_group.items():
            g = groups.get(gid)
            if g is None:
                continue
            if acted is not None and bool(g.action) != acted:
                continue
            samples: List[str] = []
            for m in ms:
                if m.text not in samples and len(samples) < SAMPLES:
                    samples.append(m.text)
            out.append({
                "id": gid, "label": g.label, "count": len(ms),
                "first_seen": _utc(min(_aware(m.at) for m in ms)), "last_seen": _utc(max(_aware(m.at) for m in ms)),
                "channels": dict(Counter(m.channel for m in ms)),
                "outcomes": dict(Counter("unhelpful" if m.unhelpful else m.outcome for m in ms)),
                "samples": samples, **self._group_state(g)})
        if sort == "recent":
            out.sort(key=lambda g: (g["last_seen"], g["count"]), reverse=True)
        else:
            out.sort(key=lambda g: (g["count"], g["last_seen"]), reverse=True)
        return out[:limit]

    @staticmethod
    def _group_state(g: Group) -> dict:
        return {"action": g.action, "action_detail": json.loads(g.action_detail) if g.action_detail else None,
                "acted_by": g.acted_by, "acted_at": _utc(g.acted_at),
                "replay": None if g.replay_at is None else {
                    "model": g.replay_model, "at": _utc(g.replay_at), "total": g.replay_total,
                    "answered": g.replay_answered}}

    async def group(self, group_id: int) -> dict:
        async with session_scope(self.db_url) as s:
            g = await s.get(Group, group_id)
            if g is None:
                raise InsightsError(f"没有第 {group_id} 组", 404, "not_found")
            msgs = (await s.execute(sa.select(Message).where(Message.group_id == group_id)
                                    .order_by(Message.id))).scalars().all()
        texts: List[str] = []
        for m in msgs:
            if m.text not in texts:
                texts.append(m.text)
        return {"id": g.id, "label": g.label, "count": len(msgs), "texts": texts,
                "messages": [{"text": m.text, "at": _utc(m.at), "channel": m.channel, "outcome": m.outcome,
                              "unhelpful": m.unhelpful, "intent": m.intent, "week": m.week} for m in msgs[-200:]],
                **self._group_state(g)}

    async def weeks(self) -> List[str]:
        async with session_scope(self.db_url) as s:
            return sorted((await s.execute(sa.select(Message.week).distinct())).scalars(), reverse=True)

    # --- acting on a group --------------------------------------------------------------------------------

    async def record_action(self, group_id: int, action: str, detail: dict, user: str) -> dict:
        if action not in ACTIONS:
            raise InsightsError(f"不认识的处理方式：{action}")
        async with session_scope(self.db_url) as s:
            g = await s.get(Group, group_id)
            if g is None:
                raise InsightsError(f"没有第 {group_id} 组", 404, "not_found")
            g.action, g.action_detail = action, json.dumps(detail, ensure_ascii=False)
            g.acted_by, g.acted_at = user, _now()
            g.replay_model = g.replay_at = g.replay_total = g.replay_answered = None
        return await self.group(group_id)

    async def add_task(self, group_id: Optional[int], title: str, note: Optional[str], user: str) -> dict:
        async with session_scope(self.db_url) as s:
            t = Task(group_id=group_id, title=title[:255], note=note, status="open", created_by=user,
                     created_at=_now())
            s.add(t)
            await s.flush()
            return _task_json(t)

    async def tasks(self, status: Optional[str] = "open") -> List[dict]:
        async with session_scope(self.db_url) as s:
            q = sa.select(Task).order_by(Task.id.desc())
            if status:
                q = q.where(Task.status == status)
            return [_task_json(t) for t in (await s.execute(q)).scalars()]

    async def finish_task(self, task_id: int) -> dict:
        async with session_scope(self.db_url) as s:
            t = await s.get(Task, task_id)
            if t is None:
                raise InsightsError(f"没有第 {task_id} 项待办", 404, "not_found")
            t.status, t.done_at = "done", _now()
            return _task_json(t)

    # --- replay -------------------------------------------------------------------------------------------

    async def replay(self, parse, model: Optional[str], group_ids: Optional[Sequence[int]] = None,
                     second_reading: Optional[Callable[[str, dict], bool]] = None) -> List[dict]:
        """Send the stored messages of acted-on groups through ``parse(text) -> dict`` (Rasa ``/model/parse``)
        and record how many are understood now: by the served ``model`` (any intent but the fallback), or — for
        one it sends to the fallback — by ``second_reading(text, parsed)``, as the fallback ladder reads it
        again before admitting a miss (a situation added from this page counts at once, without retraining)."""
        async with session_scope(self.db_url) as s:
            q = sa.select(Group).where(Group.action.in_(REPLAYED_ACTIONS))
            if group_ids:
                q = q.where(Group.id.in_(list(group_ids)))
            groups = (await s.execute(q)).scalars().all()
            texts = {g.id: (await s.execute(sa.select(Message.text).where(Message.group_id == g.id)
                                            .order_by(Message.id))).scalars().all() for g in groups}
        results = []
        seen: Dict[str, dict] = {}  # forty residents asking the same words need one parse
        reread: Dict[str, bool] = {}
        for g in groups:
            answered = 0
            details = []
            for text in texts[g.id]:
                if text not in seen:
                    seen[text] = await parse(text)
                parsed = seen[text]
                intent = ((parsed or {}).get("intent") or {}).get("name")
                how = "model" if intent and intent not in FALLBACK_INTENTS else None
                if how is None and second_reading is not None:
                    if text not in reread:
                        reread[text] = await asyncio.get_running_loop().run_in_executor(
                            None, second_reading, text, parsed or {})
                    how = "second_reading" if reread[text] else None
                answered += how is not None
                details.append({"text": text, "intent": intent, "answered": how is not None, "by": how})
            async with session_scope(self.db_url) as s:
                row = await s.get(Group, g.id)
                row.replay_model, row.replay_at = model, _now()
                row.replay_total, row.replay_answered = len(texts[g.id]), answered
            results.append({"group": g.id, "total": len(texts[g.id]), "answered": answered, "messages": details})
        return results

    async def acted_groups(self) -> List[int]:
        async with session_scope(self.db_url) as s:
            return list((await s.execute(sa.select(Group.id).where(Group.action.in_(REPLAYED_ACTIONS)))).scalars())

    async def stale_replays(self, model: Optional[str]) -> List[int]:
        """Acted-on groups not yet replayed against ``model`` (a retraining loaded a new one since)."""
        if not model:
            return []
        async with session_scope(self.db_url) as s:
            return list((await s.execute(sa.select(Group.id).where(
                Group.action.in_(REPLAYED_ACTIONS),
                sa.or_(Group.replay_model.is_(None), Group.replay_model != model)))).scalars())


def _task_json(t: Task) -> dict:
    return {"id": t.id, "group_id": t.group_id, "title": t.title, "note": t.note, "status": t.status,
            "created_by": t.created_by, "created_at": _utc(t.created_at), "done_at": _utc(t.done_at)}




def for_app(app) -> Insights:
    """The console's one Insights instance (created when the first insights/feedback module registers)."""
    if "insights" not in app:
        settings = app["settings"]
        app["insights"] = Insights(app["db_url"], settings.tracker_db_url)

        async def _close(app_) -> None:
            app_["insights"].close()
        app.on_cleanup.append(_close)
    return app["insights"]
