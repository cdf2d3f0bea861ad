"""The streaming sequence matcher against Elasticsearch's batch algorithm (interpreter.sequence_matches)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditproc.eql import StreamLimits, compile_query
from auditproc.eql.ast import Comparison, EventQuery, Field, Literal, SequenceQuery, Span, Term
from auditproc.eql.interpreter import sequence_matches
from auditproc.eql.sequence import timestamp_us

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = (Field(("k",)),)

conditions = st.sampled_from([Literal(True), *(Comparison("==", Field(("a",)), Literal(n)) for n in range(3))])
queries = st.builds(EventQuery, st.sampled_from(["process", "file", "any"]), conditions)


@st.composite
def sequences(draw) -> SequenceQuery:
    keyed = draw(st.booleans())
    shared = KEY if keyed and draw(st.booleans()) else ()
    own = KEY if keyed and not shared else ()
    maxspan = draw(st.none() | st.sampled_from([Span(1, "s"), Span(3, "s"), Span(2500, "ms")]))
    count = draw(st.integers(1, 4))
    terms = []
    for _ in range(count):
        missing = maxspan is not None and draw(st.integers(0, 3)) == 0
        runs = 1 if missing else draw(st.sampled_from([1, 1, 1, 2, 3]))
        terms.append(Term(draw(queries), own, runs, missing))
    if all(t.missing for t in terms):
        terms[0] = Term(terms[0].query, own)
    if sum(t.runs for t in terms) < 2:
        terms.append(Term(draw(queries), own))
    until = Term(draw(queries), own) if draw(st.integers(0, 3)) == 0 else None
    return SequenceQuery(shared, maxspan, tuple(terms), until)


key_values = st.sampled_from(["x", "X", "y", None, ["x", "y"], 1, "1"])
events = st.fixed_dictionaries(
    {
        "event": st.fixed_dictionaries({"category": st.sampled_from(["process", "file", ["file", "process"]])}),
        "a": st.integers(0, 2),
        "k": key_values,
        "step_ms": st.sampled_from([0, 0, 400, 1000, 2500]),
    }
)


def _stamp(drawn: list[dict]) -> list[dict]:
    """Number the documents and give them rising (sometimes equal) timestamps in ms."""
    docs, now = [], 1_700_000_000_000
    for n, event in enumerate(drawn):
        now += event.pop("step_ms")
        docs.append({**event, "@timestamp": now, "event": {**event["event"], "sequence": n}})
    return docs


def _ids(matches) -> list[tuple[int, ...]]:
    return sorted(tuple(doc["event"]["sequence"] for doc in match) for match in matches)


def _reference(ast: SequenceQuery, docs: list[dict]) -> list[tuple[int, ...]]:
    ordered = [((timestamp_us(d["@timestamp"]), d["event"]["sequence"], n), d) for n, d in enumerate(docs)]
    return _ids(sequence_matches(ast, sorted(ordered, key=lambda pair: pair[0])))


def _jostled(docs: list[dict], seed: int, window_ms: int) -> list[dict]:
    """The documents a little out of order: each may arrive after later ones stamped within ``window_ms``."""
    rng = random.Random(seed)
    return sorted(docs, key=lambda d: d["@timestamp"] + rng.uniform(0, window_ms))


@SETTINGS
@given(sequences(), st.lists(events, max_size=30), st.integers(0, 1000))
def test_streaming_matcher_agrees_with_elasticsearchs_algorithm(ast: SequenceQuery, drawn: list[dict], seed: int) -> None:
    docs = _stamp(drawn)
    expected = _reference(ast, docs)
    query = compile_query(str(ast))
    assert query.ast == ast, "the query renders and parses back"
    assert _ids(query.search(docs)) == expected
    matcher = query.matcher(StreamLimits(reorder_ms=1000, horizon_ms=None))
    streamed = [m for doc in _jostled(docs, seed, 1000) for m in matcher.feed(doc)] + matcher.flush()
    assert matcher.stats.late == 0
    assert _ids(streamed) == expected


@SETTINGS
@given(sequences(), st.lists(events, max_size=30), st.integers(1, 29))
def test_a_checkpoint_anywhere_changes_nothing(ast: SequenceQuery, drawn: list[dict], cut: int) -> None:
    import json

    docs = _stamp(drawn)
    query = compile_query(str(ast))
    limits = StreamLimits(reorder_ms=500)
    first = query.matcher(limits)
    found = [m for doc in docs[:cut] for m in first.feed(doc)]
    second = query.matcher(limits)
    second.from_state(json.loads(json.dumps(first.to_state())))
    found += [m for doc in docs[cut:] for m in second.feed(doc)] + second.flush()
    whole = query.matcher(limits)
    assert _ids(found) == _ids([m for doc in docs for m in whole.feed(doc)] + whole.flush())
