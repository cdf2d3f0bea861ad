"""Sequences and samples over a stream of documents: Elasticsearch's semantics, bounded state.

A sequence is a state machine per join key, as Elasticsearch documents it ("How sequence queries
handle matches"): each positive term is a state, only one pending sequence sits in a state, and a
newer one overwrites the older. An event offered to several terms advances the later states first,
so it never fills two terms of one sequence. ``maxspan`` is inclusive, measured on the timestamp
field, with the tiebreaker field (``event.sequence``) and then arrival as tiebreak.

State is bounded whatever the input:

* ``StreamLimits.max_partials`` caps the partial sequences per query; the least recently advanced
  one is evicted first, and ``StreamStats.evicted`` counts it.
* a partial sequence lives at most ``maxspan``, or ``StreamLimits.horizon_ms`` (default
  ``DEFAULT_HORIZON_MS``, one hour of event time) when the query has none; ``expired`` counts the
  partials the horizon drops (``maxspan`` ones can never complete, so dropping them loses nothing).
* input up to ``StreamLimits.reorder_ms`` (default ``DEFAULT_REORDER_MS``, the assembler's window)
  out of order is put back in order; an event older than one already processed is ``late``: counted
  and dropped, never matched out of order. The reorder window holds at most ``max_partials``
  documents: past it (a flood within the window) the oldest is decided early.
* the reorder window and the partial sequences hold documents as JSON (orjson), not as dicts: a
  replay holding 10,000 partials of one rule and 5,000 documents in its window grew by 147 MB as
  dicts, by 36 MB packed; the documents given back equal those fed in.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .ast import EventQuery, Field, Pipe, SampleQuery, SequenceQuery, Term
from .compiler import CompiledQuery, field_getter
from .values import iter_leaves

DEFAULT_MAX_PARTIALS = 10_000  # partial sequences (or sample keys) per query
DEFAULT_HORIZON_MS = 3_600_000  # how long a partial of a sequence without maxspan, or a sample key, waits
DEFAULT_REORDER_MS = 5_000  # assemble.DEFAULT_WINDOW_MS: how far out of order input may arrive
MAX_MARKS_PER_KEY = 64  # missing-event sightings kept per join key and term
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
STATE_VERSION = 1

Key = tuple
Ordinal = tuple[int, int, int]  # (timestamp µs, tiebreaker, arrival)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Bounds on a matcher's state; ``horizon_ms=None`` (batch ``search`` only) never expires a partial."""

    max_partials: int = DEFAULT_MAX_PARTIALS
    horizon_ms: int | None = DEFAULT_HORIZON_MS
    reorder_ms: int = DEFAULT_REORDER_MS


UNBOUNDED = StreamLimits(max_partials=1 << 62, horizon_ms=None, reorder_ms=0)


@dataclass(slots=True)
class StreamStats:
    """What a matcher dropped, each count a reason."""

    evicted: int = 0  # partial sequences (or sample keys, missing-event sightings) pushed out by the cap
    expired: int = 0  # partials older than the horizon of a query without maxspan
    late: int = 0  # documents older than one already processed (beyond the reorder window)
    untimed: int = 0  # documents a term matched that carry no readable timestamp


def _packed(doc: dict) -> bytes:
    """A held document as JSON, in bytes of its own size: orjson's result keeps its whole output
    buffer (a 1.7 KB document held 6–16 KB), so it is copied once into an exact one."""
    return bytes(memoryview(orjson.dumps(doc)))


def timestamp_us(value: Any) -> int | None:
    """Return a timestamp as microseconds since the epoch: ISO-8601 text, or a number of milliseconds."""
    if type(value) is int or type(value) is float:
        return int(value * 1000)
    if type(value) is list and len(value) == 1:
        return timestamp_us(value[0])
    if type(value) is not str:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _key_part(value: Any) -> Any:
    """A join-key value compared as Elasticsearch does: by type and value (``1`` ≠ ``"1"`` ≠ ``1.0``, case kept)."""
    return value if type(value) is str else (type(value).__name__, value)


def _key_getter(fields: tuple[Field, ...]) -> Callable[[dict], list[Key]]:
    """Return a function giving a document's join keys: none when a key is missing, several for arrays."""
    getters = [field_getter(f.path) for f in fields]
    if not getters:
        return lambda doc: [()]

    def keys(doc: dict) -> list[Key]:
        choices = []
        for get in getters:
            leaves = [_key_part(v) for v in iter_leaves(get(doc)) if type(v) is not dict]
            if not leaves:
                return []  # a missing key joins nothing, like a null
            choices.append(leaves)
        if all(len(c) == 1 for c in choices):
            return [tuple(c[0] for c in choices)]
        return list(dict.fromkeys(itertools.product(*choices)))  # arrays: every combination, once

    return keys


def _json_key(key: Key) -> list:
    return [part if type(part) is str else list(part) for part in key]


def _from_json_key(data: list) -> Key:
    return tuple(part if type(part) is str else tuple(part) for part in data)


class CompiledTerm:
    """One term of a sequence or sample: ``query`` is its single-event predicate, ``category`` what it needs."""

    __slots__ = ("query", "category", "missing", "keys", "term")

    def __init__(self, term: Term, shared: tuple[Field, ...], category_field: str) -> None:
        self.term = term
        self.query = CompiledQuery(str(term.query), term.query, category_field)
        self.category: str | None = None if term.query.category == "any" else term.query.category
        self.missing = term.missing
        self.keys = _key_getter(shared + term.keys)

    def __repr__(self) -> str:
        return f"CompiledTerm({str(self.term)!r})"


class _Dispatch:
    """Which distinct terms a document can match, by its category: one dict lookup for the rest."""

    __slots__ = ("terms", "_by_category", "_any", "_category")

    def __init__(self, terms: list[CompiledTerm], category_field: str) -> None:
        self.terms = terms
        self._any = tuple(i for i, t in enumerate(terms) if t.category is None)
        by_category: dict[str, tuple[int, ...]] = {}
        for index, term in enumerate(terms):
            if term.category is not None:
                by_category[term.category] = (*by_category.get(term.category, self._any), index)
        self._by_category = by_category
        self._category = field_getter(tuple(category_field.split(".")))

    def hits(self, doc: dict) -> list[int]:
        """Return the indexes of the terms ``doc`` matches."""
        category = self._category(doc)
        if type(category) is list:
            if len(category) == 1:
                category = category[0]
            else:  # several categories: the union of their terms
                found = [i for value in category if type(value) is str for i in self._by_category.get(value, ())]
                candidates = sorted({*self._any, *found})
                return [i for i in candidates if self.terms[i].query.matches(doc)]
        candidates = self._by_category.get(category, self._any) if type(category) is str else self._any
        if not candidates:
            return []
        terms = self.terms
        return [i for i in candidates if terms[i].query.matches(doc)]


def _apply_pipes(matches: Iterable[list[dict]], pipes: tuple[Pipe, ...]) -> Iterator[list[dict]]:
    found = list(matches) if pipes else matches
    for pipe in pipes:
        found = found[: pipe.count] if pipe.name == "head" else found[max(0, len(found) - pipe.count) :]  # type: ignore[index]
    return iter(found)


# --- sequences ------------------------------------------------------------------------------------


class CompiledSequence:
    """A compiled ``sequence`` query: ``search(docs)`` in batch, ``matcher()`` for a stream."""

    def __init__(
        self,
        text: str,
        ast: SequenceQuery,
        pipes: tuple[Pipe, ...] = (),
        category_field: str = "event.category",
        timestamp_field: str = "@timestamp",
        tiebreaker_field: str = "event.sequence",
    ) -> None:
        self.text, self.ast, self.pipes = text, ast, pipes
        distinct: dict[Term, CompiledTerm] = {}
        for term in (*ast.terms, *([ast.until] if ast.until else [])):
            if term not in distinct:
                distinct[term] = CompiledTerm(term, ast.keys, category_field)
        self.terms: tuple[CompiledTerm, ...] = tuple(distinct.values())
        self.until: CompiledTerm | None = distinct[ast.until] if ast.until else None
        # stages: the terms with runs expanded, each the index of its distinct term
        self.stages: tuple[int, ...] = tuple(
            self.terms.index(distinct[term]) for term in ast.terms for _ in range(term.runs)
        )
        self.maxspan_us: int | None = ast.maxspan.ms * 1000 if ast.maxspan else None
        self.dispatch = _Dispatch(list(self.terms), category_field)
        self.timestamp = field_getter(tuple(timestamp_field.split(".")))
        self.tiebreaker = field_getter(tuple(tiebreaker_field.split(".")))

    def matches(self, doc: dict) -> bool:
        """Not for sequences: one document cannot match a query over several."""
        raise TypeError("a sequence matches several events: use search(docs) or matcher().feed(doc)")

    def matcher(self, limits: StreamLimits = StreamLimits()) -> SequenceMatcher:
        """Return a streaming matcher with its own state."""
        return SequenceMatcher(self, limits)

    def search(self, docs: Iterable[dict]) -> Iterator[list[dict]]:
        """Yield the matched sequences of ``docs`` in Elasticsearch's order (by last event), pipes applied."""
        matcher = SequenceMatcher(self, UNBOUNDED)
        timed = []
        for arrival, doc in enumerate(docs):
            ts = timestamp_us(self.timestamp(doc))
            tiebreaker = self.tiebreaker(doc)
            timed.append((ts if ts is not None else -1, tiebreaker if type(tiebreaker) is int else -1, arrival, doc))
        timed.sort(key=lambda item: item[:3])
        found: list[tuple[Ordinal, list[dict]]] = []
        for *_, doc in timed:
            found.extend(matcher._feed(doc))
        found.extend(matcher._flush())
        found.sort(key=lambda item: item[0])
        return _apply_pipes((docs for _, docs in found), self.pipes)

    def __repr__(self) -> str:
        return f"CompiledSequence({self.text!r})"


@dataclass(slots=True)
class _Partial:
    first: Ordinal
    last: Ordinal
    docs: tuple[bytes, ...]  # packed (orjson)
    doomed: bool = False  # a missing event came between two of its events: it completes, then is dropped

    def unpacked(self) -> list[dict]:
        return [orjson.loads(doc) for doc in self.docs]

    def to_json(self) -> list:
        return [list(self.first), list(self.last), self.unpacked(), self.doomed]

    @classmethod
    def from_json(cls, data: list) -> _Partial:
        first, last, docs, doomed = data
        return cls(tuple(first), tuple(last), tuple(_packed(doc) for doc in docs), bool(doomed))  # type: ignore[arg-type]


@dataclass(slots=True)
class _Stream:
    """Reorder buffer and clock shared by the matchers."""

    buffer: list = field(default_factory=list)  # heap of (ordinal, packed doc, its join keys by term hit)
    processed: Ordinal | None = None  # the last ordinal handed to the state machine
    newest_us: int | None = None
    arrivals: int = 0


class SequenceMatcher:
    """Streaming state of one sequence query: ``feed`` documents in (roughly) event-time order."""

    def __init__(self, query: CompiledSequence, limits: StreamLimits = StreamLimits()) -> None:
        self.query = query
        self.limits = limits
        self.stats = StreamStats()
        stages = query.stages
        terms = query.terms
        self._positive = [s for s, t in enumerate(stages) if not terms[t].missing]
        self._missing = [s for s, t in enumerate(stages) if terms[t].missing]
        first, last = self._positive[0], self._positive[-1]
        self._leading = [m for m in self._missing if m < first]
        self._trailing = [m for m in self._missing if m > last]
        # missing stages between positive stage i-1 and i, by i
        self._between = [
            [m for m in self._missing if self._positive[i - 1] < m < p] if i else [] for i, p in enumerate(self._positive)
        ]
        # terms to stages: which positive positions and missing stages a hit on a term fills
        self._positions_of = [
            [i for i, s in enumerate(self._positive) if stages[s] == t] for t in range(len(terms))
        ]
        self._missing_of = [[m for m in self._missing if stages[m] == t] for t in range(len(terms))]
        self._until = terms.index(query.until) if query.until is not None else None
        self._span_us = query.maxspan_us
        horizon = limits.horizon_ms
        self._life_us = self._span_us if self._span_us is not None else (horizon * 1000 if horizon is not None else None)
        self._partials: OrderedDict[tuple[Key, int], _Partial] = OrderedDict()
        self._marks: OrderedDict[tuple[Key, int], deque[Ordinal]] = OrderedDict()
        self._pending: list[tuple[int, Ordinal, Key, _Partial]] = []  # awaiting a trailing missing event's window
        self._stream = _Stream()
        self._next_sweep: int | None = None
        self._hits = query.dispatch.hits

    # --- public ---------------------------------------------------------------------------------

    def feed(self, doc: dict, hits: list[int] | None = None) -> list[list[dict]]:
        """Offer one document; return the sequences it (and the reorder window) completed.

        ``hits``, when given, are the indexes in ``query.terms`` of the terms ``doc`` matches (a rule
        table that already tested them); by default the matcher tests the terms of ``doc``'s category.
        """
        found = self._feed(doc, hits)
        return [docs for _, docs in found] if found else []

    def flush(self) -> list[list[dict]]:
        """End of input: process what the reorder window holds and decide sequences awaiting a missing event."""
        return [docs for _, docs in self._flush()]

    def pass_time(self, now_us: int) -> list[list[dict]]:
        """Let event time reach ``now_us`` with no document (a follower's quiet spell): return the
        sequences the reorder window and trailing missing-event windows held until then."""
        return [docs for _, docs in self._pass_time(now_us)] if self.waiting else []

    @property
    def waiting(self) -> bool:
        """Whether anything waits on time alone: documents in the reorder window, or sequences on a missing event."""
        return bool(self._stream.buffer or self._pending)

    def __len__(self) -> int:
        """Return the partial sequences held."""
        return len(self._partials) + len(self._pending)

    def to_state(self) -> dict:
        """Return the matcher's state as JSON-able data, for a checkpoint."""
        return {
            "version": STATE_VERSION,
            "query": self.query.text,
            "partials": [[_json_key(k), stage, p.to_json()] for (k, stage), p in self._partials.items()],
            "marks": [[_json_key(k), stage, [list(o) for o in marks]] for (k, stage), marks in self._marks.items()],
            "pending": [[d, list(o), _json_key(k), p.to_json()] for d, o, k, p in self._pending],
            "buffer": [[list(o), orjson.loads(doc), list(keys_of)] for o, doc, keys_of in self._stream.buffer],
            "processed": list(self._stream.processed) if self._stream.processed else None,
            "newest_us": self._stream.newest_us,
            "arrivals": self._stream.arrivals,
            "stats": asdict(self.stats),
        }

    def from_state(self, state: dict) -> None:
        """Replace the state with one ``to_state`` returned; raise ValueError for another query's or a damaged one."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or state.get("query") != self.query.text:
            raise ValueError("sequence state is for another query or version; start without it")
        try:
            partials = OrderedDict(
                ((_from_json_key(k), stage), _Partial.from_json(p)) for k, stage, p in state["partials"]
            )
            marks = OrderedDict(
                ((_from_json_key(k), stage), deque((tuple(o) for o in ms), MAX_MARKS_PER_KEY))
                for k, stage, ms in state["marks"]
            )
            pending = [(d, tuple(o), _from_json_key(k), _Partial.from_json(p)) for d, o, k, p in state["pending"]]
            buffer = [(tuple(o), _packed(doc), self._keys_of(doc, hits)) for o, doc, hits in state["buffer"]]
            heapq.heapify(buffer)
            processed = tuple(state["processed"]) if state["processed"] else None
            stream = _Stream(buffer, processed, state["newest_us"], int(state["arrivals"]))  # type: ignore[arg-type]
            stats = StreamStats(**state["stats"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"damaged sequence state ({error}); start without it") from None
        self._partials, self._marks, self._pending, self._stream, self.stats = partials, marks, pending, stream, stats  # type: ignore[assignment]

    # --- the stream -----------------------------------------------------------------------------

    def _feed(self, doc: dict, hits: list[int] | None = None) -> list[tuple[Ordinal, list[dict]]]:
        if hits is None:
            hits = self._hits(doc)
        stream = self._stream
        if not hits:
            if not self.waiting:
                return []
            ts = timestamp_us(self.query.timestamp(doc))  # time passes for what waits on it
            return [] if ts is None else self._pass_time(ts)
        ts = timestamp_us(self.query.timestamp(doc))
        if ts is None:
            self.stats.untimed += 1
            return []
        tiebreaker = self.query.tiebreaker(doc)
        ordinal = (ts, tiebreaker if type(tiebreaker) is int else -1, stream.arrivals)
        stream.arrivals += 1
        if stream.processed is not None and ordinal < stream.processed:
            self.stats.late += 1
            return []
        # Held packed, with its join keys: a document waits in the window as about 2 KB of JSON.
        heapq.heappush(stream.buffer, (ordinal, _packed(doc), self._keys_of(doc, hits)))
        if stream.newest_us is None or ts > stream.newest_us:
            stream.newest_us = ts
        return self._release(stream.newest_us - self.limits.reorder_ms * 1000, self.limits.max_partials)

    def _pass_time(self, now_us: int) -> list[tuple[Ordinal, list[dict]]]:
        stream = self._stream
        if stream.newest_us is not None and now_us <= stream.newest_us:
            return []
        stream.newest_us = now_us
        return self._release(now_us - self.limits.reorder_ms * 1000)

    def _flush(self) -> list[tuple[Ordinal, list[dict]]]:
        found = self._release(None)
        for _, ordinal, _, partial in sorted(self._pending, key=lambda item: item[1]):
            found.append((ordinal, partial.unpacked()))
        self._pending.clear()
        return found

    def _release(self, upto_us: int | None, keep: int | None = None) -> list[tuple[Ordinal, list[dict]]]:
        """Process the buffered documents up to ``upto_us`` (all when None), in order, and then the
        oldest while more than ``keep`` wait."""
        buffer = self._stream.buffer
        found: list[tuple[Ordinal, list[dict]]] = []
        while buffer and (upto_us is None or buffer[0][0][0] <= upto_us or (keep is not None and len(buffer) > keep)):
            ordinal, doc, keys_of = heapq.heappop(buffer)
            self._stream.processed = ordinal
            self._decide_pending(ordinal[0], found)
            self._sweep(ordinal[0])
            self._process(ordinal, doc, keys_of, found)
        if upto_us is not None:  # everything up to then is processed: later input would be late
            self._decide_pending(upto_us, found)
        return found

    # --- the state machine ----------------------------------------------------------------------

    def _keys_of(self, doc: dict, hits: list[int]) -> dict[int, list[Key]]:
        terms = self.query.terms
        return {t: terms[t].keys(doc) for t in hits}

    def _process(self, ordinal: Ordinal, doc: bytes, keys_of: dict[int, list[Key]], found: list) -> None:
        hits = list(keys_of)
        positions = sorted((p for t in hits for p in self._positions_of[t]), reverse=True)
        for position in positions:  # later states first: one event never fills two terms of a sequence
            keys = keys_of[self.query.stages[self._positive[position]]]
            for key in keys:
                self._advance(position, key, ordinal, doc, found)
        for t in hits:
            for stage in self._missing_of[t]:
                for key in keys_of[t]:
                    self._mark(key, stage, ordinal)
        if self._until is not None and self._until in keys_of:
            for key in keys_of[self._until]:
                for position in range(len(self._positive) - 1):
                    self._partials.pop((key, position), None)

    def _advance(self, position: int, key: Key, ordinal: Ordinal, doc: bytes, found: list) -> None:
        ts = ordinal[0]
        if position == 0:
            partial = _Partial(ordinal, ordinal, (doc,))
        else:
            before = self._partials.pop((key, position - 1), None)
            if before is None:
                return
            if self._span_us is not None and ts - before.first[0] > self._span_us:
                return  # outside maxspan (inclusive): Elasticsearch drops it the same way
            doomed = before.doomed or any(self._seen_after(key, m, before.last) for m in self._between[position])
            partial = _Partial(before.first, ordinal, (*before.docs, doc), doomed)
        if position == len(self._positive) - 1:
            self._complete(key, partial, found)
            return
        slot = (key, position)
        self._partials.pop(slot, None)  # the newer pending sequence overwrites the older one
        self._partials[slot] = partial
        if len(self._partials) > self.limits.max_partials:
            self._partials.popitem(last=False)
            self.stats.evicted += 1

    def _complete(self, key: Key, partial: _Partial, found: list) -> None:
        if partial.doomed:
            return
        span = self._span_us or 0
        for stage in self._leading:  # a sighting in [last - maxspan, first) rules it out
            if any(partial.last[0] - span <= mark[0] and mark < partial.first for mark in self._marks.get((key, stage), ())):
                return
        if self._trailing:  # wait for (last, first + maxspan] to pass without a sighting
            deadline = partial.first[0] + span
            self._pending.append((deadline, partial.last, key, partial))
            if len(self._pending) > self.limits.max_partials:
                self._pending.pop(0)
                self.stats.evicted += 1
            return
        found.append((partial.last, partial.unpacked()))

    def _decide_pending(self, now_us: int, found: list) -> None:
        """Emit the sequences whose trailing missing-event window has closed without a sighting."""
        if not self._pending:
            return
        still = []
        for item in self._pending:
            if item[0] < now_us:
                found.append((item[1], item[3].unpacked()))
            else:
                still.append(item)
        self._pending = still

    def _mark(self, key: Key, stage: int, ordinal: Ordinal) -> None:
        if self._pending and stage in self._trailing:
            self._pending = [
                item for item in self._pending if not (item[2] == key and item[1] < ordinal and ordinal[0] <= item[0])
            ]
        slot = (key, stage)
        marks = self._marks.pop(slot, None)
        if marks is None:
            marks = deque(maxlen=MAX_MARKS_PER_KEY)
        elif len(marks) == MAX_MARKS_PER_KEY:
            self.stats.evicted += 1
        marks.append(ordinal)
        self._marks[slot] = marks
        if len(self._marks) > self.limits.max_partials:
            self._marks.popitem(last=False)
            self.stats.evicted += 1

    def _seen_after(self, key: Key, stage: int, after: Ordinal) -> bool:
        marks = self._marks.get((key, stage))
        return bool(marks) and marks[-1] > after  # type: ignore[index]

    def _sweep(self, now_us: int) -> None:
        """Drop partials past their life (maxspan or horizon) and stale sightings, every quarter life."""
        life = self._life_us
        if life is None or (self._next_sweep is not None and now_us < self._next_sweep):
            return
        self._next_sweep = now_us + max(life // 4, 1_000_000)
        stale = [slot for slot, p in self._partials.items() if now_us - p.first[0] > life]
        for slot in stale:
            del self._partials[slot]
        if self._span_us is None:
            self.stats.expired += len(stale)
        for slot in [s for s, marks in self._marks.items() if now_us - marks[-1][0] > life]:
            del self._marks[slot]


# --- samples --------------------------------------------------------------------------------------


class CompiledSample:
    """A compiled ``sample`` query: events sharing join keys, one per term, in any order."""

    def __init__(
        self,
        text: str,
        ast: SampleQuery,
        pipes: tuple[Pipe, ...] = (),
        category_field: str = "event.category",
        timestamp_field: str = "@timestamp",
    ) -> None:
        self.text, self.ast, self.pipes = text, ast, pipes
        self.terms: tuple[CompiledTerm, ...] = tuple(CompiledTerm(t, ast.keys, category_field) for t in ast.terms)
        self.dispatch = _Dispatch(list(self.terms), category_field)
        self.timestamp = field_getter(tuple(timestamp_field.split(".")))

    def matches(self, doc: dict) -> bool:
        """Not for samples: one document cannot match a query over several."""
        raise TypeError("a sample matches several events: use search(docs) or matcher().feed(doc)")

    def matcher(self, limits: StreamLimits = StreamLimits()) -> SampleMatcher:
        """Return a streaming matcher with its own state."""
        return SampleMatcher(self, limits)

    def search(self, docs: Iterable[dict]) -> Iterator[list[dict]]:
        """Yield the samples of ``docs`` in the order they complete, pipes applied."""
        matcher = SampleMatcher(self, UNBOUNDED)
        found = [match for doc in docs for match in matcher.feed(doc)]
        return _apply_pipes(found, self.pipes)

    def __repr__(self) -> str:
        return f"CompiledSample({self.text!r})"


def _assign(candidates: list[list[int]], taken: frozenset[int] = frozenset()) -> list[int] | None:
    """Return one candidate index per term, all different (a tiny backtracking match), or None."""
    if not candidates:
        return []
    for choice in candidates[0]:
        if choice not in taken:
            rest = _assign(candidates[1:], taken | {choice})
            if rest is not None:
                return [choice, *rest]
    return None


class SampleMatcher:
    """Streaming state of one sample query: per join key, the first events of each term until all are there.

    As Elasticsearch's SampleIterator, a term keeps at most as many candidates as there are terms and
    a sample takes one distinct document per term, the earliest that fit (backtracking in term
    order). Two differences a stream forces: a sample is emitted as soon as one fits, where
    Elasticsearch, seeing the whole range, may pick among later candidates too; and Elasticsearch
    returns one sample per key (``max_samples_per_key`` = 1) over the searched range, where a stream
    has no end, so here a key gives one sample per horizon: after it, the key rests that long.
    """

    def __init__(self, query: CompiledSample, limits: StreamLimits = StreamLimits()) -> None:
        self.query = query
        self.limits = limits
        self.stats = StreamStats()
        self._keys: OrderedDict[Key, dict] = OrderedDict()  # key → since (µs), docs, per-term doc indexes, done

    def feed(self, doc: dict, hits: list[int] | None = None) -> list[list[dict]]:
        """Offer one document; return the samples it completed. ``hits`` as for ``SequenceMatcher.feed``."""
        terms = self.query.terms
        if hits is None:
            hits = self.query.dispatch.hits(doc)
        if not hits:
            return []
        now = timestamp_us(self.query.timestamp(doc))
        keys_of = {t: terms[t].keys(doc) for t in hits}
        found = []
        for key in dict.fromkeys(key for keys in keys_of.values() for key in keys):
            entry = self._expire(key, now) or {"since": now, "docs": [], "slots": [[] for _ in terms], "done": False}
            if not entry["done"]:
                slots = entry["slots"]
                fills = [t for t in hits if key in keys_of[t] and len(slots[t]) < len(terms)]
                for t in fills:
                    slots[t].append(len(entry["docs"]))
                if fills:
                    entry["docs"].append(_packed(doc))  # packed, as a sequence's partials
                choice = _assign(slots) if all(slots) else None
                if choice is not None:  # no document fills two terms
                    found.append([orjson.loads(entry["docs"][i]) for i in choice])
                    entry = {"since": now, "docs": [], "slots": [], "done": True}  # the key rests
            self._keys.pop(key, None)
            self._keys[key] = entry
            if len(self._keys) > self.limits.max_partials:
                self._keys.popitem(last=False)
                self.stats.evicted += 1
        return found

    def flush(self) -> list[list[dict]]:
        """End of input: samples complete as documents arrive, so there is nothing to decide."""
        return []

    def pass_time(self, now_us: int) -> list[list[dict]]:
        """Nothing in a sample waits on time alone."""
        return []

    waiting = False

    def __len__(self) -> int:
        """Return the join keys held."""
        return len(self._keys)

    def _expire(self, key: Key, now: int | None) -> list | None:
        entry = self._keys.get(key)
        horizon = self.limits.horizon_ms
        if entry is None or horizon is None or now is None or entry["since"] is None:
            return entry
        if now - entry["since"] > horizon * 1000:
            del self._keys[key]
            self.stats.expired += not entry["done"]
            return None
        return entry

    def to_state(self) -> dict:
        """Return the matcher's state as JSON-able data, for a checkpoint."""
        return {
            "version": STATE_VERSION,
            "query": self.query.text,
            "keys": [[_json_key(k), {**entry, "docs": [orjson.loads(doc) for doc in entry["docs"]]}]
                     for k, entry in self._keys.items()],
            "stats": asdict(self.stats),
        }

    def from_state(self, state: dict) -> None:
        """Replace the state with one ``to_state`` returned; raise ValueError for another query's or a damaged one."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or state.get("query") != self.query.text:
            raise ValueError("sample state is for another query or version; start without it")
        try:
            keys = OrderedDict(
                (_from_json_key(k), {**entry, "docs": [_packed(doc) for doc in entry["docs"]]})
                for k, entry in state["keys"]
            )
            stats = StreamStats(**state["stats"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"damaged sample state ({error}); start without it") from None
        self._keys, self.stats = keys, stats


# --- single events with pipes ---------------------------------------------------------------------


class PipedEventQuery:
    """A single-event query followed by ``| head N`` / ``| tail N``: a batch search, not a per-event match."""

    def __init__(self, text: str, query: CompiledQuery, pipes: tuple[Pipe, ...]) -> None:
        self.text, self.query, self.pipes = text, query, pipes
        self.ast: EventQuery = query.ast

    def search(self, docs: Iterable[dict]) -> Iterator[list[dict]]:
        """Yield one-element lists of the matching documents, pipes applied."""
        return _apply_pipes(([doc] for doc in docs if self.query.matches(doc)), self.pipes)

    def __repr__(self) -> str:
        return f"PipedEventQuery({self.text!r})"
