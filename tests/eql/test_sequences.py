"""Sequences and samples: Elasticsearch's documented semantics, the streaming bounds, the API."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from auditproc.eql import (
    CompiledQuery,
    CompiledSequence,
    StreamLimits,
    compile_query,
)

BASE_MS = 1_700_000_000_000


def _doc(n: int, category: str = "process", at_ms: int | None = None, **fields) -> dict:
    """A document numbered ``n`` (its event.sequence), one second apart unless ``at_ms`` says otherwise."""
    moment = BASE_MS + (n * 1000 if at_ms is None else at_ms)
    return {"@timestamp": moment, "event": {"category": category, "sequence": n}, **fields}


def _ids(matches) -> list[list[int]]:
    return [[doc["event"]["sequence"] for doc in match] for match in matches]


def test_one_pending_sequence_per_state_the_newer_overwrites() -> None:
    # Elasticsearch's documented behaviour (EQL syntax reference, "How sequence queries handle
    # matches"): one pending sequence per state and join key, the most recent overwrites the older;
    # SequenceMatcher.match with OrdinalGroup.trimBefore implements it (the latest pending sequence
    # before the event advances, older ones are dropped). This is the reference's own example.
    names = ["attrib", "attrib", "bash", "bash", "bash", "attrib", "attrib", "bash", "cat", "cat", "cat"]
    users = ["root", "root", "elkbee", "root", "root", "elkbee", "root", "elkbee", "root", "elkbee", "root"]
    docs = [_doc(n + 1, process={"name": p}, user={"name": u}) for n, (p, u) in enumerate(zip(names, users, strict=True))]
    query = compile_query(
        "sequence by user.name\n"
        '  [process where process.name == "attrib"]\n'
        '  [process where process.name == "bash"]\n'
        '  [process where process.name == "cat"]'
    )
    assert _ids(query.search(docs)) == [[2, 4, 9], [6, 8, 10]]


@pytest.mark.parametrize(("gap_ms", "found"), [(10_000, [[0, 1]]), (10_001, [])])
def test_maxspan_is_inclusive(gap_ms: int, found: list) -> None:
    query = compile_query("sequence with maxspan=10s [process where a == 1] [process where a == 2]")
    assert _ids(query.search([_doc(0, at_ms=0, a=1), _doc(1, at_ms=gap_ms, a=2)])) == found


def test_equal_timestamps_order_by_event_sequence() -> None:
    query = compile_query("sequence [process where a == 1] [process where a == 2]")
    docs = [_doc(2, at_ms=0, a=1), _doc(1, at_ms=0, a=2)]  # same time: event.sequence decides
    assert _ids(query.search(docs)) == []
    assert _ids(query.search(docs[::-1] + [_doc(3, at_ms=0, a=2)])) == [[2, 3]]


@pytest.mark.parametrize(
    ("first", "second", "joins"),
    [
        ("x", "x", True),
        ("x", "X", False),  # join keys are case-sensitive
        (1, "1", False),  # and typed, as Elasticsearch compares them
        (None, None, False),  # a missing key joins nothing, not even another missing one
        (["x", "y"], "y", True),  # an array joins by any of its values
    ],
)
def test_join_keys(first, second, joins: bool) -> None:
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    docs = [_doc(0, a=1, k=first), _doc(1, a=2, k=second)]
    assert _ids(query.search(docs)) == ([[0, 1]] if joins else [])


def test_until_expires_a_sequence_only_between_its_events() -> None:
    # The reference's example: sequence by ID A B until C matches "A, B" and "A, B, C", not "A, C, B".
    query = compile_query(
        'sequence by id [process where x == "A"] [process where x == "B"] until [process where x == "C"]'
    )
    orders = {"ab": "AB", "abc": "ABC", "acb": "ACB"}
    docs = [_doc(n * 10 + i, x=letter, id=name) for n, (name, text) in enumerate(orders.items()) for i, letter in enumerate(text)]
    assert _ids(query.search(sorted(docs, key=lambda d: d["event"]["sequence"]))) == [[0, 1], [10, 11]]


def test_runs_repeat_a_term() -> None:
    runs = compile_query("sequence by k [process where a == 1] with runs=3 [file where true]")
    spelled = compile_query("sequence by k [process where a == 1] [process where a == 1] [process where a == 1] [file where true]")
    docs = [_doc(n, a=1, k="h") for n in range(4)] + [_doc(9, "file", k="h")]
    assert _ids(runs.search(docs)) == _ids(spelled.search(docs)) == [[1, 2, 3, 9]]


@pytest.mark.parametrize(
    ("query", "times", "found"),
    [
        # middle: no "b" between a and c
        ("[process where x == 'a'] ![process where x == 'b'] [process where x == 'c']", {"a": 0, "c": 2}, True),
        ("[process where x == 'a'] ![process where x == 'b'] [process where x == 'c']", {"a": 0, "b": 1, "c": 2}, False),
        ("[process where x == 'a'] ![process where x == 'b'] [process where x == 'c']", {"b": 0, "a": 1, "c": 2}, True),
        # leading: no "b" within maxspan before the last event, before the first
        ("![process where x == 'b'] [process where x == 'a'] [process where x == 'c']", {"b": 0, "a": 5, "c": 6}, True),
        ("![process where x == 'b'] [process where x == 'a'] [process where x == 'c']", {"b": 3, "a": 5, "c": 6}, False),
        # trailing: no "b" after the last event, within maxspan of the first
        ("[process where x == 'a'] [process where x == 'c'] ![process where x == 'b']", {"a": 0, "c": 1, "b": 4}, False),
        ("[process where x == 'a'] [process where x == 'c'] ![process where x == 'b']", {"a": 0, "c": 1, "b": 6}, True),
        ("[process where x == 'a'] [process where x == 'c'] ![process where x == 'b']", {"a": 0, "c": 1}, True),
    ],
)
def test_missing_events(query: str, times: dict[str, int], found: bool) -> None:
    compiled = compile_query("sequence with maxspan=5s " + query.replace("'", '"'))
    docs = sorted((_doc(n, x=x) for x, n in times.items()), key=lambda d: d["event"]["sequence"])
    positive = [d["event"]["sequence"] for d in docs if d["x"] != "b"]
    assert _ids(compiled.search(docs)) == ([positive] if found else [])


def test_a_trailing_missing_event_waits_for_its_window_in_a_stream() -> None:
    query = compile_query('sequence with maxspan=5s [process where x == "a"] [process where x == "c"] ![process where x == "b"]')
    matcher = query.matcher(StreamLimits(reorder_ms=0))
    assert matcher.feed(_doc(0, x="a")) == [] and matcher.feed(_doc(1, x="c")) == []
    assert matcher.feed(_doc(5, x="z")) == []  # window (1 s, 5 s] still open: nothing decided
    assert _ids(matcher.feed(_doc(6, x="z"))) == [[0, 1]]


def test_samples_join_in_any_order_one_document_per_term() -> None:
    query = compile_query("sample by k [process where a == 1] [file where true] [any where b == 2]")
    docs = [
        _doc(0, "file", k="h", b=2),  # could fill two terms: fills one
        _doc(1, k="h", a=1),
        _doc(2, "file", k="other"),
        _doc(3, "process", k="h", b=2, a=0),
        _doc(4, "file", k="h"),  # the key has its sample: it rests
    ]
    assert _ids(query.search(docs)) == [[1, 0, 3]]


def test_head_and_tail_pipes() -> None:
    docs = [_doc(n, a=n % 2) for n in range(10)]
    assert _ids(compile_query("process where a == 1 | head 2").search(docs)) == [[1], [3]]
    assert _ids(compile_query("process where a == 1 | tail 2").search(docs)) == [[7], [9]]
    assert _ids(compile_query("sequence [process where a == 0] [process where a == 1] | head 3 | tail 1").search(docs)) == [[4, 5]]
    assert _ids(compile_query("process where a == 1").search(docs)) == [[n] for n in (1, 3, 5, 7, 9)]


def test_terms_expose_their_predicates_and_categories() -> None:
    query = compile_query('sequence by host.id [process where a == 1] with runs=2 [any where b == 2] until [file where c]')
    assert isinstance(query, CompiledSequence)
    assert [term.category for term in query.terms] == ["process", None, "file"]
    assert all(isinstance(term.query, CompiledQuery) for term in query.terms)
    assert query.terms[0].query.matches({"event": {"category": "process"}, "a": 1})
    assert query.until is query.terms[2] and query.stages == (0, 0, 1)
    with pytest.raises(TypeError, match="several events"):
        query.matches({})


def test_a_rule_table_can_say_which_terms_a_document_matches() -> None:
    query = compile_query("sequence by k [process where a == 1] [file where true]")
    told, tested = query.matcher(), query.matcher()
    docs = [_doc(0, a=1, k="h"), _doc(1, "file", k="h")]
    hits = [[i for i, term in enumerate(query.terms) if term.query.matches(doc)] for doc in docs]
    assert [told.feed(d, h) for d, h in zip(docs, hits, strict=True)] == [tested.feed(d) for d in docs]
    assert _ids(told.flush()) == [[0, 1]]


# --- bounded state ------------------------------------------------------------------------------------


def test_a_stream_of_sequences_that_never_end_stays_within_the_cap() -> None:
    query = compile_query("sequence by k [process where a == 1] [process where a == 1] [process where a == 2]")
    matcher = query.matcher(StreamLimits(max_partials=500, reorder_ms=0))
    for n in range(20_000):  # every document opens a sequence under a new key, none completes
        matcher.feed(_doc(n, at_ms=n, a=1, k=str(n // 2)))
        assert len(matcher) <= 500
    assert matcher.stats.evicted == 20_000 - 500
    assert len(json.dumps(matcher.to_state())) < 500 * 1_000


def test_a_flood_inside_the_reorder_window_is_decided_early_not_held() -> None:
    """Thousands of matching documents within one reorder window: at most max_partials wait; the oldest
    are decided early, so a document older than them that arrives afterwards is late."""
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    matcher = query.matcher(StreamLimits(max_partials=50, reorder_ms=60_000))
    for n in range(2_000):
        matcher.feed(_doc(n, at_ms=1_000 + n, a=1, k=str(n)))
        assert len(matcher._stream.buffer) <= 50
    assert matcher.feed(_doc(9_999, at_ms=0, a=2, k="0")) == [] and matcher.stats.late == 1


def test_partials_hold_their_documents_packed_and_give_back_equal_ones() -> None:
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    first = _doc(0, at_ms=0, a=1, k="h") | {"nested": {"list": [1, 2.5, None, True, "é"]}}
    matcher = query.matcher(StreamLimits(reorder_ms=0))
    matcher.feed(first)
    (partial,) = matcher._partials.values()
    assert all(type(doc) is bytes for doc in partial.docs)
    second = _doc(1, at_ms=1, a=2, k="h")
    assert matcher.feed(second) == [[first, second]]


def test_held_documents_cost_their_json_size() -> None:
    """5,000 partials of 1.6 KB documents stay under 4 KB each (as dicts, or as orjson's own output
    buffers, they took several times that)."""
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    matcher = query.matcher(StreamLimits(reorder_ms=0))
    tracemalloc.start()
    try:
        for n in range(5_000):
            matcher.feed(_doc(n, at_ms=n, a=1, k=str(n), args=[f"arg{i}-{n}" for i in range(120)]))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(matcher) == 5_000 and held < 5_000 * 4_096


def test_missing_event_sightings_are_bounded_too() -> None:
    query = compile_query("sequence by k with maxspan=1h [process where a == 1] ![process where a == 2] [process where a == 3]")
    matcher = query.matcher(StreamLimits(max_partials=100, reorder_ms=0))
    for n in range(5_000):
        matcher.feed(_doc(n, at_ms=n, a=2, k=str(n % 1000) if n % 2 else "same"))
    assert len(matcher._marks) <= 100 and all(len(marks) <= 64 for marks in matcher._marks.values())
    assert matcher.stats.evicted > 0


def test_horizon_expires_partials_of_a_sequence_without_maxspan() -> None:
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    matcher = query.matcher(StreamLimits(horizon_ms=60_000, reorder_ms=0))
    matcher.feed(_doc(0, at_ms=0, a=1, k="h"))
    matcher.feed(_doc(1, at_ms=120_000, a=3, k="h"))  # a minute and more later, the partial is gone
    assert matcher.feed(_doc(2, at_ms=121_000, a=2, k="h")) == []
    assert matcher.stats.expired == 1 and len(matcher) == 0


def test_out_of_order_within_the_window_is_put_right_and_older_is_late() -> None:
    query = compile_query("sequence by k [process where a == 1] [process where a == 2]")
    matcher = query.matcher(StreamLimits(reorder_ms=5_000))
    assert matcher.feed(_doc(1, at_ms=2_000, a=2, k="h")) == []
    assert matcher.feed(_doc(0, at_ms=1_000, a=1, k="h")) == []  # a second early: back in order
    assert _ids(matcher.feed(_doc(2, at_ms=9_000, a=0, k="h"))) == [[0, 1]]
    assert matcher.feed(_doc(3, at_ms=1_500, a=1, k="h")) == [] and matcher.stats.late == 1
    assert matcher.feed({"event": {"category": "process"}, "a": 1}) == [] and matcher.stats.untimed == 1


def test_state_of_another_query_is_refused() -> None:
    one = compile_query("sequence [process where a == 1] [process where a == 2]").matcher()
    other = compile_query("sequence [process where a == 1] [process where a == 3]").matcher()
    with pytest.raises(ValueError, match="another query"):
        other.from_state(one.to_state())
    damaged = {**one.to_state(), "partials": [["x"]]}
    with pytest.raises(ValueError, match="damaged"):
        one.from_state(damaged)
