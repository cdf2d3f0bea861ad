"""The rule table: compiled rules indexed by event category and cheap keys, so an event meets only its candidates."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from auditproc.emitted import Emitted, Vocabulary
from auditproc.eql.ast import And, Comparison, Field, InSet, Literal, Node, Or, StringMatch
from auditproc.eql.compiler import CompiledQuery, field_getter
from auditproc.eql.patterns import compile_lucene, lucene_to_regex, re2
from auditproc.eql.values import iter_leaves
from auditproc.eql.values import text as keyword_text
from auditproc.rulefiles import Rule

# --- the rule table -------------------------------------------------------------------------------
#
# Each rule gets an index key: a few branches, one of which every match satisfies. A branch has a
# clause to find it by (looked up in a per-field index) and up to two clauses to check once found.
# Which clause finds and which checks is chosen by estimated cost: a branch that needs a common
# name ("bash") and a rare argument is found by the argument and checked on the name.

EXACT, FOLDED = "exact", "folded"
PREFIX, FOLDED_PREFIX, SUFFIX, FOLDED_SUFFIX = "prefix", "folded-prefix", "suffix", "folded-suffix"
CONTAINS, FOLDED_CONTAINS = "contains", "folded-contains"
REGEX, FOLDED_REGEX = "regex", "folded-regex"  # a whole Lucene regexp, matched by RE2 itself

_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "busybox")
_BUSY_TOOLS = (
    *_SHELLS,
    *("cat", "grep", "sed", "awk", "cut", "tr", "head", "tail", "sort", "ls", "find", "xargs", "env"),
    *("id", "date", "sleep", "uname", "rm", "cp", "mv", "mkdir", "chmod", "ps", "systemctl", "sudo"),
    *("python3", "perl", "curl", "wget", "git", "ssh", "tar", "gzip"),
)
# Values exec events carry often, with the share of events carrying each: a key accepting one
# selects little. auditproc's own exec events all say "executed" and nearly all "execve"; on a
# busy host, shells and core tools make up most of the rest.
COMMON_VALUES: dict[str, tuple[float, tuple[str, ...]]] = {
    "event.action": (1.0, ("executed",)),
    "auditd.data.syscall": (0.9, ("execve",)),
    "user.id": (0.5, ("0",)),
    "user.name": (0.5, ("root",)),
    "process.name": (0.05, _BUSY_TOOLS),
    "process.executable": (0.05, tuple(f"{d}/{n}" for n in _BUSY_TOOLS for d in ("/usr/bin", "/bin", "/usr/sbin"))),
    "process.parent.name": (0.05, (*_SHELLS, "systemd", "cron", "sshd", "sudo", "python3", "make", "node", "java")),
    "process.args": (0.05, ("-c", "-e", "-l", "-f", "-n", "-r", "-s", "-u", "-p", "-i", "-v", "--")),
    "process.working_directory": (0.2, ("/", "/root", "/tmp")),
}
# Share of events on which one probe holds when it names no common value.
PROBE_RATE = {EXACT: 0.001, FOLDED: 0.001, PREFIX: 0.003, SUFFIX: 0.003, CONTAINS: 0.005}
SHORT_PIECE_RATE = 0.05  # a prefix, suffix or inner text of one or two characters, or a vague regexp
_LITERAL_RUN = re.compile(r"(?<![\\\[])[A-Za-z0-9_/-]{3}(?![*?+{])")  # in a regexp: some text to find
VALUES_PER_EVENT = {"process.args": 4.0, "process.parent.args": 4.0, "process.env_vars": 10.0}
# Fields finds prefer when costs tie, best first.
FIELD_PREFERENCE = {
    name: rank
    for rank, name in enumerate(
        ("process.name", "process.executable", "process.parent.name", "process.args", "process.command_line")
        + ("file.path", "file.name", "event.action")
    )
}
# Objects every event of a rule set is read from anyway: one more field in them costs a dict lookup.
READ_OBJECTS = frozenset({"event", "process", "process.parent", "file"})
# Costs per event, in rule evaluations: reading a field in another object to find rules by; a
# found branch checked on fields in read objects (joint), or on others (lazy: read on demand).
FIND_FIELD_COST = 0.05
JOINT_CHECK_COST = 0.05
LAZY_CHECK_COST = 0.15
USEFUL_CHECK_RATE = 0.5  # a check that holds more often than this is not worth its lookup
MAX_BRANCHES = 32  # per rule; beyond it, alternatives merge into one clause per field
MAX_CHECKS = 2  # per branch
SECOND_CHECK_RATE = 0.05
# Read a field for every event to check branches found on this share of events or more: a read
# costs about a fifth of a lazy check's.
READ_FOR_CHECKS_RATE = 0.2
CATEGORY_FIELD = "event.category"
# Present with the same few values on nearly every event: an index on them selects nothing.
UNSELECTIVE_FIELDS = frozenset({"host.os.type", "event.type", "event.category", "event.kind", "event.module"})
VALUE_CACHE_ENTRIES = 4096  # per indexed field; the cache is emptied when full

_PLAIN_KIND = {kind: kind for kind in (EXACT, PREFIX, SUFFIX, CONTAINS)} | {
    FOLDED: EXACT,
    FOLDED_PREFIX: PREFIX,
    FOLDED_SUFFIX: SUFFIX,
    FOLDED_CONTAINS: CONTAINS,
}


class Probe(NamedTuple):
    """One indexable fact, by ``kind``: the field's value equals, starts with, ends with or contains
    ``text`` (case-folded for the folded kinds), or fully matches the Lucene regexp ``text``."""

    kind: str
    text: str

    def accepts(self, value: str) -> bool:
        """Return whether ``value`` satisfies this probe."""
        if self.kind in (REGEX, FOLDED_REGEX):
            return compile_lucene([self.text], self.kind == FOLDED_REGEX).fullmatch(value) is not None
        if self.kind in (EXACT, PREFIX, SUFFIX, CONTAINS):
            folded = value
        else:
            folded = _fold(value) if self.kind == FOLDED else _fold_wildcard(value)
        if self.kind in (EXACT, FOLDED):
            return folded == self.text
        if self.kind in (PREFIX, FOLDED_PREFIX):
            return folded.startswith(self.text)
        if self.kind in (SUFFIX, FOLDED_SUFFIX):
            return folded.endswith(self.text)
        return self.text in folded



class Alternative(NamedTuple):
    """A field and probes on it: some value of the field satisfies one of the probes."""

    field: str
    probes: frozenset[Probe]

    @property
    def rate(self) -> float:
        """Return the estimated share of exec events on which this alternative holds."""
        return _rate(self)


@functools.lru_cache(maxsize=4096)  # key choice asks for the same alternatives over and over
def _rate(alt: Alternative) -> float:
    if alt.field in UNSELECTIVE_FIELDS:
        return 1.0
    common_rate, common = COMMON_VALUES.get(alt.field, (0.0, ()))
    total = 0.0
    for probe in alt.probes:
        hits = sum(map(probe.accepts, common))
        if hits:
            total += hits * common_rate
        elif probe.kind in (REGEX, FOLDED_REGEX):
            total += PROBE_RATE[CONTAINS] if _LITERAL_RUN.search(probe.text) else SHORT_PIECE_RATE
        elif probe.kind in (EXACT, FOLDED) or len(probe.text) > 2:
            total += PROBE_RATE[_PLAIN_KIND[probe.kind]]
        else:
            total += SHORT_PIECE_RATE
    return min(1.0, total * VALUES_PER_EVENT.get(alt.field, 1.0))


Clause = tuple[Alternative, ...]  # one of the alternatives holds


@dataclass(frozen=True, slots=True)
class Branch:
    """Rules are found by ``find`` holding; each of ``checks`` (best first) must hold too."""

    find: Clause
    checks: tuple[Clause, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexKey:
    """What every match of a rule satisfies: one of ``branches``."""

    branches: tuple[Branch, ...]


def index_key(
    condition: Node, category: str | None = None, elsewhere: Iterable[str] = ()
) -> IndexKey | None:
    """Return a key every match of ``condition`` satisfies, or None when there is none.

    Each branch gets the find and checks that cost least per event (``_branch_cost``). For an
    ``any`` rule's copy in the bucket of ``category`` (None: the bucket of events in no other), a
    branch that requires ``event.category`` to be other categories, all with buckets of their own
    (``elsewhere``), is left to those.
    """
    branches = _branches(condition)
    if branches is None:
        return None
    elsewhere = frozenset(elsewhere)
    keyed = []
    for clauses in branches:
        if any(category not in r and r <= elsewhere for r in _required_categories(clauses)):
            continue
        clauses = [c for c in clauses if all(alt.field not in UNSELECTIVE_FIELDS for alt in c)]
        if not clauses:
            return None
        options = []
        for find in clauses:
            checks = sorted((c for c in clauses if c != find and _clause_rate(c) < USEFUL_CHECK_RATE), key=_clause_rate)
            # A second check only when it drops nearly everything the first lets through.
            checks = checks[:1] + [c for c in checks[1:MAX_CHECKS] if _clause_rate(c) < SECOND_CHECK_RATE]
            options.append(Branch(find, tuple(checks)))
        keyed.append(min(options, key=_branch_cost))
    return IndexKey(tuple(dict.fromkeys(keyed)))


def _required_categories(clauses: Iterable[Clause]) -> list[frozenset[str]]:
    """Return, per clause on ``event.category`` alone with exact values, the categories it accepts."""
    return [
        frozenset(probe.text for probe in alt.probes)
        for (alt, *more) in clauses
        if not more and alt.field == CATEGORY_FIELD and all(probe.kind == EXACT for probe in alt.probes)
    ]


def named_categories(condition: Node) -> frozenset[str]:
    """Return the categories some branch of ``condition`` requires ``event.category`` to be among."""
    branches = _branches(condition) or ()
    return frozenset(name for clauses in branches for names in _required_categories(clauses) for name in names)


def _clause_rate(clause: Clause) -> float:
    return min(1.0, sum(alt.rate for alt in clause))


def _branch_cost(branch: Branch) -> tuple[float, int, int]:
    """Estimated cost per event, in rule evaluations: reading the find, then checks and evaluations.

    Ties go to the find with fewer alternatives, which has fewer probes to miss, then to preferred fields.
    """
    lookups = sum(FIND_FIELD_COST for alt in branch.find if not _in_read_object(alt.field))
    found = _clause_rate(branch.find)
    if branch.checks:
        best = branch.checks[0]
        check = JOINT_CHECK_COST if all(_in_read_object(alt.field) for alt in best) else LAZY_CHECK_COST
        found *= check + _clause_rate(best)  # the two taken as independent
    rank = min(FIELD_PREFERENCE.get(alt.field, len(FIELD_PREFERENCE)) for alt in branch.find)
    return lookups + found, len(branch.find), rank


def _in_read_object(name: str) -> bool:
    return name.rpartition(".")[0] in READ_OBJECTS


def _branches(node: Node) -> list[tuple[Clause, ...]] | None:
    """Return conjunctions of clauses, one of which holds whenever ``node`` is true; None when unknown."""
    if isinstance(node, And):
        parts = sorted((b for term in node.terms if (b := _branches(term)) is not None), key=len)
        if not parts:
            return None
        out: list[tuple[Clause, ...]] = [()]
        for part in parts:
            if len(out) * len(part) > MAX_BRANCHES:
                part = [(_merge(part),)]
            out = [tuple(dict.fromkeys(left + right)) for left in out for right in part]
        return out
    if isinstance(node, Or):
        out = []
        for term in node.terms:
            branches = _branches(term)
            if branches is None:
                return None
            out += branches
        return out if len(out) <= MAX_BRANCHES else [(_merge(out),)]
    name, probes = _predicate_probes(node)
    if name is None or probes is None:
        return None
    return [((Alternative(name, probes),),)]


def _merge(branches: list[tuple[Clause, ...]]) -> Clause:
    """Return one clause that holds whenever one of ``branches`` does: each one's best, merged by field."""
    merged: dict[str, frozenset[Probe]] = {}
    for clauses in branches:
        for alt in min(clauses, key=lambda clause: _branch_cost(Branch(clause))):
            merged[alt.field] = merged.get(alt.field, frozenset()) | alt.probes
    return tuple(Alternative(name, probes) for name, probes in merged.items())


def _predicate_probes(node: Node) -> tuple[str | None, frozenset[Probe] | None]:
    """Return the field and probes of a positive string predicate on a plain field, else (None, None)."""
    if isinstance(node, Comparison) and node.op == "==":
        left, right = (node.left, node.right) if isinstance(node.left, Field) else (node.right, node.left)
        return _field_name(left), _literal_probes((right,), EXACT)
    if isinstance(node, InSet):
        return _field_name(node.expr), _literal_probes(node.values, FOLDED if node.insensitive else EXACT)
    if isinstance(node, StringMatch) and node.kind in (":", "like"):
        return _field_name(node.expr), _pattern_probes(node.patterns, node.insensitive)
    if isinstance(node, StringMatch) and node.kind == "regex":
        return _field_name(node.expr), _regex_probes(node.patterns, node.insensitive)
    return None, None


def _field_name(node: Node) -> str | None:
    if isinstance(node, Field) and all(isinstance(part, str) for part in node.path):
        return ".".join(node.path)  # type: ignore[arg-type]
    return None


def _literal_probes(values: tuple[Node, ...], kind: str) -> frozenset[Probe] | None:
    """Probes for whole-value matches; None when some value is not a string literal."""
    if not all(isinstance(v, Literal) and isinstance(v.value, str) for v in values):
        return None
    return frozenset(
        Probe(kind, _fold(v.value) if kind == FOLDED else v.value)  # type: ignore[union-attr,arg-type]
        for v in values
    )


def _pattern_probes(patterns: tuple[Node, ...], insensitive: bool) -> frozenset[Probe] | None:
    """Probes for ``:``/``like`` patterns: the whole value, else its literal prefix, suffix or longest inner part.

    A pattern without ``*``/``?`` is plain equality (folded with ``str.lower`` when insensitive); an
    insensitive wildcard matches with ``re.IGNORECASE``, whose folding only agrees with ours on ASCII.
    """
    probes = set()
    for pattern in patterns:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            return None
        pieces = re.split(r"[*?]", pattern.value)
        if len(pieces) == 1:
            probes.add(Probe(FOLDED, _fold(pattern.value)) if insensitive else Probe(EXACT, pattern.value))
            continue
        inner = max(pieces[1:-1], key=len, default="")
        usable = [
            (kind, piece)
            for kind, piece in ((PREFIX, pieces[0]), (SUFFIX, pieces[-1]), (CONTAINS, inner))
            if piece and not (insensitive and not piece.isascii())
        ]
        if not usable:
            return None
        # The longest piece is found least often ("http*:10250/*"); ties go to the prefix.
        kind, piece = max(usable, key=lambda item: len(item[1]))
        probes.add(Probe(_FOLDED_KIND[kind], piece.lower()) if insensitive else Probe(kind, piece))
    return frozenset(probes)


_FOLDED_KIND = {PREFIX: FOLDED_PREFIX, SUFFIX: FOLDED_SUFFIX, CONTAINS: FOLDED_CONTAINS}


def _regex_probes(patterns: tuple[Node, ...], insensitive: bool) -> frozenset[Probe] | None:
    """Probes for ``regex`` patterns: each whole, as the engine matches it."""
    if not all(isinstance(p, Literal) and isinstance(p.value, str) for p in patterns):
        return None
    return frozenset(Probe(FOLDED_REGEX if insensitive else REGEX, p.value) for p in patterns)  # type: ignore[union-attr]


# Non-ASCII characters that ``re.IGNORECASE`` (the engine's case-insensitive wildcards) equates with
# an ASCII letter although ``str.lower`` does not; KELVIN SIGN already lowers to "k".
_WILDCARD_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def _fold(text: str) -> str:
    """Case-fold a whole value the way the engine's case-insensitive equality (``in~``, ``:``) does."""
    return text.lower()


def _fold_wildcard(text: str) -> str:
    """Case-fold a value so that ASCII prefixes and suffixes compare as ``re.IGNORECASE`` does."""
    return text.lower() if text.isascii() else text.translate(_WILDCARD_FOLD).lower()



# --- whether a rule can fire on auditproc's documents ---------------------------------------------


def cannot_fire(rule: Rule, profile: str, documents: Vocabulary) -> str | None:
    """Return why ``rule`` matches no document of ``profile`` in ``documents``, or None when one may match.

    Conservative: only what every match needs is judged (its category, and the positive string
    predicates on plain fields of the rule table's branches, which a missing field makes false);
    ``not``, ``!=`` and functions, true on a missing field or beyond this, never rule a rule out.
    A sequence or sample cannot fire when one of the terms it needs cannot (a missing-event
    ``![…]`` or ``until`` term is not needed).
    """
    reason = _cannot_fire(rule, documents[profile])
    if reason is None:
        return None
    other = next((p for p, shape in documents.items() if p != profile and _cannot_fire(rule, shape) is None), None)
    return reason if other is None else f"{reason} (it can with --ecs-profile {other})"


def _cannot_fire(rule: Rule, shape: Emitted) -> str | None:
    if not rule.correlates:
        return query_cannot_match(rule.compiled, shape)
    compiled = rule.compiled
    until = getattr(compiled, "until", None)
    reasons = [
        f"term {position} ({why})"
        for position, term in enumerate(compiled.terms, 1)
        if not term.missing and term is not until and (why := query_cannot_match(term.query, shape))
    ]
    return "; ".join(reasons) or None


class QueryNeeds(NamedTuple):
    """What every match of a single-event query needs: its category (None: any), and per branch the
    clauses (None: not judged), worked out once for the many shapes ``detect.needed`` tries."""

    category: Clause | None
    branches: list[tuple[Clause, ...]] | None

    @classmethod
    def of(cls, compiled: CompiledQuery) -> QueryNeeds:
        category = None
        if compiled.category != "any":
            category = (Alternative(compiled.category_field, frozenset({Probe(EXACT, compiled.category)})),)
        return cls(category, _branches(compiled.ast.condition))

    def may_match(self, shape: Emitted) -> bool:
        """Return whether some document of ``shape`` may match (``query_cannot_match`` is None), without the why."""
        if self.category is not None and _impossible(self.category, shape):
            return False
        return self.branches is None or any(
            not any(_impossible(clause, shape) for clause in clauses) for clauses in self.branches
        )


def query_cannot_match(compiled: CompiledQuery, shape: Emitted) -> str | None:
    """Return why the single-event query ``compiled`` matches no document of ``shape``, or None."""
    needs = QueryNeeds.of(compiled)
    if needs.category is not None and _impossible(needs.category, shape):
        return _why(needs.category, shape)
    if needs.branches is None:
        return None
    reasons = []
    for clauses in needs.branches:
        blocked = next((clause for clause in clauses if _impossible(clause, shape)), None)
        if blocked is None:
            return None
        reasons.append(_why(blocked, shape))
    return "; ".join(dict.fromkeys(reasons))


def _impossible(clause: Clause, shape: Emitted) -> bool:
    """Return whether no document of ``shape`` satisfies any alternative of ``clause``."""
    for alt in clause:
        if not shape.has(alt.field):
            continue
        values = shape.values.get(alt.field)
        if values is None or any(probe.accepts(value) for probe in alt.probes for value in values):
            return False
    return True


def _why(clause: Clause, shape: Emitted) -> str:
    reasons = []
    for alt in clause:
        wanted = sorted(alt.probes)
        if not shape.has(alt.field):
            reasons.append(f"needs {alt.field}, never produced")
        elif alt.field == CATEGORY_FIELD and all(probe.kind in (EXACT, FOLDED) for probe in wanted):
            reasons.append(f"{' and '.join(probe.text for probe in wanted)} events are not produced")
        else:
            shown = ", ".join(_shown(probe) for probe in wanted[:MAX_SHOWN_VALUES])
            more = ", …" if len(wanted) > MAX_SHOWN_VALUES else ""
            values = sorted(shape.values[alt.field])
            if len(values) > MAX_SHOWN_VALUES:  # the trail's actions are many: the need says enough
                reasons.append(f"needs {alt.field} {shown}{more}, which auditproc never produces")
            else:
                produced = ", ".join(f'"{value}"' for value in values)
                reasons.append(f"needs {alt.field} {shown}{more}; auditproc produces only {produced}")
    return " or ".join(reasons)


MAX_SHOWN_VALUES = 4  # in a reason; the rule file has them all
_SHOWN = {PREFIX: '"{}*"', SUFFIX: '"*{}"', CONTAINS: '"*{}*"', REGEX: "/{}/"}


def _shown(probe: Probe) -> str:
    return _SHOWN.get(_PLAIN_KIND.get(probe.kind, probe.kind.removeprefix("folded-")), '"{}"').format(probe.text)


# What a value selects: rule positions found, branch entries found, joint checks that hold.
Hit = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
NO_HIT: Hit = ((), (), ())
FOUND, FOUND_ENTRY, CHECKED = range(3)


class _PatternSet:
    """Probes of one family, all tested in one pass over a value: literal prefixes, suffixes and
    inner texts (of values folded beforehand for folded probes), or whole regexps of one case mode.

    RE2's set matcher runs every pattern at once, so a miss costs about the same for 10 probes or
    5,000; without RE2, the probes are tested one by one.
    """

    __slots__ = ("probes", "_set")

    def __init__(self, probes: Sequence[Probe]) -> None:
        self.probes = tuple(probes)
        self._set: Any = None
        if re2 is None or not self.probes:
            return
        options = re2.Options()
        options.max_mem = 64 << 20
        options.log_errors = False
        if self.probes[0].kind in (REGEX, FOLDED_REGEX):
            # Compiled as the engine compiles a rule's regexp, so it accepts exactly the same values.
            options.dot_nl = True
            options.case_sensitive = self.probes[0].kind == REGEX
            self._set = re2.Set.FullMatchSet(options)
            sources = [lucene_to_regex(probe.text).encode() for probe in self.probes]
        else:
            options.encoding = re2.Options.Encoding.LATIN1  # bytes in, bytes compared: no UTF-8 checks
            self._set = re2.Set.SearchSet(options)
            anchors = {PREFIX: b"^%s", SUFFIX: b"%s\\z", CONTAINS: b"%s"}
            sources = [anchors[_PLAIN_KIND[p.kind]] % re2.escape(_utf8(p.text)) for p in self.probes]
        for source in sources:
            self._set.Add(source)
        self._set.Compile()

    def matches(self, value: str) -> Iterable[int]:
        """Return the indexes of the probes ``value`` satisfies."""
        if self._set is not None:
            return self._set.Match(_utf8(value)) or ()
        return [i for i, probe in enumerate(self.probes) if probe.accepts(value)]


_LITERAL_FAMILY = {PREFIX: EXACT, SUFFIX: EXACT, CONTAINS: EXACT} | dict.fromkeys(
    (FOLDED_PREFIX, FOLDED_SUFFIX, FOLDED_CONTAINS), FOLDED
)


def _utf8(text: str) -> bytes:
    # UTF-8 keeps substrings, prefixes and suffixes byte for byte; lone surrogates pass as themselves.
    return text.encode("utf-8", "surrogatepass")


class _FieldIndex:
    """What one field's values select: whole values by dict, the other probes through pattern sets."""

    __slots__ = ("get", "exact", "folded", "patterns", "_sets", "cache", "arrays")

    def __init__(self, name: str) -> None:
        self.get = _values_getter(tuple(name.split(".")))
        # text or probe → targets: (FOUND, rule position), (FOUND_ENTRY, entry) or (CHECKED, check)
        self.exact: dict[str, list[tuple[int, int]]] = {}
        self.folded: dict[str, list[tuple[int, int]]] = {}
        # family (EXACT or FOLDED for literal pieces, or a regexp kind) → probe → targets
        self.patterns: dict[str, dict[Probe, list[tuple[int, int]]]] = {}
        self._sets: list[tuple[bool, _PatternSet, dict[Probe, list[tuple[int, int]]]]] | None = None
        # value → hit; exec streams repeat names, paths and arguments all the time. A missing
        # value (None) is in it too: the walk looks a value up without testing it first.
        self.cache: dict[str | None, Hit] = {None: NO_HIT}
        self.arrays: dict[tuple[str, ...], Hit] = {}  # the same for a whole array of strings

    def add(self, probe: Probe, target: tuple[int, int]) -> None:
        self._forget()
        self._sets = None
        if probe.kind in (EXACT, FOLDED):
            table = self.exact if probe.kind == EXACT else self.folded
            table.setdefault(probe.text, []).append(target)
        else:
            family = probe.kind if probe.kind in (REGEX, FOLDED_REGEX) else _LITERAL_FAMILY[probe.kind]
            self.patterns.setdefault(family, {}).setdefault(probe, []).append(target)

    def lookup(self, values: Sequence[Any]) -> Hit:
        """Return what this field's values (in one document) select together."""
        if len(values) == 1:
            value = values[0]
            if type(value) is str:
                return self.cache.get(value) or self.miss(value)
        try:
            hit = self.arrays.get(tuple(values))
        except TypeError:  # an object among the values: it has no keyword text
            return self._union(values)
        if hit is None:
            hit = self._union(values)
            # Only string arrays are remembered: (1,) == (True,) would mix up values whose text differs.
            if all(type(value) is str for value in values):
                if len(self.arrays) >= VALUE_CACHE_ENTRIES:
                    self._forget()
                self.arrays[tuple(values)] = hit
        return hit

    def _union(self, values: Sequence[Any]) -> Hit:
        union: tuple[set[int], set[int], set[int]] = (set(), set(), set())
        for raw in values:
            value = raw if type(raw) is str else keyword_text(raw)
            if value is not None:
                for found, more in zip(union, self.cache.get(value) or self.miss(value), strict=True):
                    found.update(more)
        return _hit(union)

    def miss(self, value: str) -> Hit:
        """Look ``value`` up in the probes and remember the result."""
        if self._sets is None:
            self._sets = [
                (family == FOLDED, _PatternSet(list(table)), table) for family, table in self.patterns.items()
            ]
        targets: list[tuple[int, int]] = []
        targets += self.exact.get(value, ())
        if self.folded:
            targets += self.folded.get(_fold(value), ())
        for folded, patterns, table in self._sets:
            for i in patterns.matches(_fold_wildcard(value) if folded else value):
                targets += table[patterns.probes[i]]
        union: tuple[set[int], set[int], set[int]] = (set(), set(), set())
        for kind, number in targets:
            union[kind].add(number)
        if len(self.cache) >= VALUE_CACHE_ENTRIES:
            self._forget()
        hit = self.cache[value] = _hit(union)
        return hit

    def hit(self, value: Any) -> Hit:
        """Return what one value read from a document (a string, array, number, ...) selects."""
        if type(value) is str:
            return self.cache.get(value) or self.miss(value)
        if value is None:
            return NO_HIT
        if type(value) is list:
            values = _list_values(value)
            return self.lookup(values) if values else NO_HIT
        return self.lookup((value,))

    def _forget(self) -> None:
        self.cache.clear()
        self.cache[None] = NO_HIT
        self.arrays.clear()


def _hit(union: tuple[set[int], set[int], set[int]]) -> Hit:
    return (tuple(union[0]), tuple(union[1]), tuple(union[2])) if any(union) else NO_HIT


class _Bucket:
    """The rules of one event category: found through field indexes, or always tested (``scan``).

    A branch with checks is an entry. Checks on fields the walk over the event reads anyway, or
    that sit in an object it reads, are indexed there too and cost one more dict lookup each
    (joint checks). An entry with none of those is checked on demand, by its best check alone,
    for events that found it (a lazy check).
    """

    __slots__ = ("finds", "checks", "scan", "entries", "needs", "lazy", "lazy_entries", "plan", "_branches")

    def __init__(self) -> None:
        self.finds: dict[str, _FieldIndex] = {}  # find fields, and the fields of joint checks
        self.checks: dict[str, _FieldIndex] = {}  # the fields of lazy checks
        self.scan: list[int] = []
        self.entries: list[int] = []  # entry → rule position
        self.needs: dict[int, frozenset[int]] = {}  # entry → the joint checks that must all hold
        self.lazy: dict[int, tuple[str, ...]] = {}  # entry with a lazy check → its fields
        self.lazy_entries: frozenset[int] = frozenset()
        self.plan = _plan({})
        self._branches: list[tuple[Branch, int]] = []

    def add(self, key: IndexKey | None, position: int) -> None:
        if key is None:
            self.scan.append(position)
        else:
            self._branches.extend((branch, position) for branch in key.branches)

    def seal(self) -> None:
        """Index the branches added; called once they all are."""
        # Fields read for every event: the finds', and check fields in the objects they are in,
        # when the branches checked on them are found often enough to pay for reading them.
        read = {alt.field for branch, _ in self._branches for alt in branch.find}
        walked = {name.rsplit(".", 1)[0] for name in read if "." in name}
        load: dict[str, float] = {}
        for branch, _ in self._branches:
            for check in branch.checks[:1]:
                for alt in check:
                    if alt.field not in read and alt.field.rsplit(".", 1)[0] in walked:
                        load[alt.field] = load.get(alt.field, 0.0) + _clause_rate(branch.find)
        read.update(name for name, rate in load.items() if rate >= READ_FOR_CHECKS_RATE)

        def joint(check: Clause) -> bool:
            return all(alt.field in read for alt in check)

        checks = 0
        for branch, position in self._branches:
            if not branch.checks:
                self._index(self.finds, branch.find, (FOUND, position))
                continue
            entry = len(self.entries)
            self.entries.append(position)
            self._index(self.finds, branch.find, (FOUND_ENTRY, entry))
            needs = []
            for check in filter(joint, branch.checks):
                self._index(self.finds, check, (CHECKED, checks))
                needs.append(checks)
                checks += 1
            if needs:
                self.needs[entry] = frozenset(needs)
            else:
                self._index(self.checks, branch.checks[0], (FOUND, entry))
                self.lazy[entry] = tuple(alt.field for alt in branch.checks[0])
        self.lazy_entries = frozenset(self.lazy)
        self.plan = _plan(self.finds)
        self._branches = []

    @staticmethod
    def _index(indexes: dict[str, _FieldIndex], clause: Clause, target: tuple[int, int]) -> None:
        for alt in clause:
            index = indexes.get(alt.field) or indexes.setdefault(alt.field, _FieldIndex(alt.field))
            for probe in alt.probes:
                index.add(probe, target)

    def collect(self, doc: Mapping[str, Any], found: set[int]) -> None:
        """Add the positions of ``doc``'s candidates to ``found``."""
        if self.scan:
            found.update(self.scan)
        hits: list[Hit] = []
        if type(doc) is dict:
            _walk(doc, doc, self.plan, hits)
        else:
            _walk_getters(doc, self.plan, hits)
        if not hits:
            return
        waiting: list[int] = []
        for ready, wait, _ in hits:
            if ready:
                found.update(ready)
            if wait:
                waiting += wait
        if not waiting:
            return
        entries = self.entries
        holds = set().union(*[hit[CHECKED] for hit in hits])
        if holds:
            needs = self.needs
            found.update([entries[entry] for entry in waiting if entry in needs and needs[entry] <= holds])
        if not self.lazy_entries.isdisjoint(waiting):
            lazy = self.lazy
            pending = self.lazy_entries.intersection(waiting)
            passed: set[int] = set()
            for name in {name for entry in pending for name in lazy[entry]}:
                index = self.checks[name]
                values = index.get(doc)
                if values:
                    passed.update(index.lookup(values)[FOUND])
            found.update([entries[entry] for entry in pending & passed])


# Fields that usually hold an array; the walk reads them apart, through the index's array cache.
ARRAY_FIELDS = frozenset({"process.args", "process.parent.args", "process.env_vars", "process.parent.env_vars"})


class Plan(NamedTuple):
    """The fields a bucket reads, as a tree of path parts.

    At each object: single-valued fields (part, value cache, index), array fields (part, index),
    and the objects to go into (part, subtree). Walking it reads each object on the way once.
    """

    leaves: tuple[tuple[str, dict[str | None, Hit], _FieldIndex], ...]
    arrays: tuple[tuple[str, _FieldIndex], ...]
    inner: tuple[tuple[str, Plan], ...]


def _plan(indexes: Mapping[str, _FieldIndex], path: str = "") -> Plan:
    here = {name[len(path) :]: (name, index) for name, index in indexes.items() if name.startswith(path)}
    leaves = {part: item for part, item in here.items() if "." not in part}
    return Plan(
        tuple((part, index.cache, index) for part, (name, index) in leaves.items() if name not in ARRAY_FIELDS),
        tuple((part, index) for part, (name, index) in leaves.items() if name in ARRAY_FIELDS),
        tuple(
            (part, _plan(indexes, f"{path}{part}."))
            for part in dict.fromkeys(part.split(".", 1)[0] for part in here if "." in part)
        ),
    )


def _walk(doc: Mapping[str, Any], node: dict[str, Any], plan: Plan, hits: list[Hit]) -> None:
    """Append the hits of the fields in ``plan`` below ``node`` (an object in ``doc``)."""
    for part, cache, index in plan.leaves:
        value = node.get(part)
        try:
            hit = cache[value]  # the common case, a string seen before, or no value: one lookup
        except (KeyError, TypeError):  # a new string, a number, an array, an object
            hit = index.hit(value)
        if hit is not NO_HIT:
            hits.append(hit)
    for part, index in plan.arrays:
        value = node.get(part)
        if value is not None:
            hit = index.hit(value)
            if hit is not NO_HIT:
                hits.append(hit)
    for part, children in plan.inner:
        value = node.get(part)
        if type(value) is dict:
            _walk(doc, value, children, hits)
        elif type(value) is list:  # an array of objects on the way: the getters flatten it
            _walk_getters(doc, children, hits)


def _walk_getters(doc: Any, plan: Plan, hits: list[Hit]) -> None:
    """Append the hits of every field in ``plan``, each read with its own getter."""
    for index in (*(index for _, _, index in plan.leaves), *(index for _, index in plan.arrays)):
        values = index.get(doc)
        if values:
            hit = index.lookup(values)
            if hit is not NO_HIT:
                hits.append(hit)
    for _, children in plan.inner:
        _walk_getters(doc, children, hits)


class SequenceTerm(NamedTuple):
    """A term of a sequence or sample rule, indexed in the rule table as if it were a rule of its own."""

    rule: Rule
    index: int  # in rule.compiled.terms
    compiled: CompiledQuery


Entry = Rule | SequenceTerm


def table_entries(rules: Iterable[Rule]) -> tuple[Entry, ...]:
    """Return what the rule table indexes: each single-event rule, and each distinct term of the others."""
    entries: list[Entry] = []
    for rule in rules:
        if rule.correlates:
            entries.extend(SequenceTerm(rule, index, query) for index, query in enumerate(rule.terms))
        else:
            entries.append(rule)
    return tuple(entries)


class RuleTable:
    """Compiled rules arranged by event category and index keys, so an event meets only its candidates.

    A sequence's terms are entries like single-event rules: an event is offered only to the terms
    that may match it, so a dozen sequences cost about what a dozen rules do.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.entries: tuple[Entry, ...] = table_entries(self.rules)
        self.keys: tuple[IndexKey | None, ...] = tuple(
            index_key(entry.compiled.ast.condition) for entry in self.entries
        )
        self._any = _Bucket()  # for events of no category with a bucket
        # category field → (its getter, category value → bucket); event.category unless overridden.
        # Every category an entry names has a bucket: `file where …`, or an any rule's `event.category == "file"`.
        self._categories: dict[str, tuple[Callable[[Any], Sequence[Any]], dict[str, _Bucket]]] = {}
        for entry in self.entries:
            compiled = entry.compiled
            if compiled.category != "any":
                self._buckets(compiled.category_field).setdefault(compiled.category, _Bucket())
            else:
                for category in named_categories(compiled.ast.condition):
                    self._buckets(CATEGORY_FIELD).setdefault(category, _Bucket())
        categories = self._categories.get(CATEGORY_FIELD, (None, {}))[1]
        for position, (entry, key) in enumerate(zip(self.entries, self.keys, strict=True)):
            compiled = entry.compiled
            if compiled.category == "any":  # in every bucket: one lookup per field serves both kinds
                condition = compiled.ast.condition
                unbucketed = index_key(condition, None, categories.keys())
                self._any.add(unbucketed, position)
                for name, bucket in categories.items():
                    bucket.add(index_key(condition, name, categories.keys() - {name}), position)
                for field_name, (_, buckets) in self._categories.items():
                    if field_name != CATEGORY_FIELD:
                        for bucket in buckets.values():
                            bucket.add(unbucketed, position)
            else:
                self._categories[compiled.category_field][1][compiled.category].add(key, position)
        for bucket in (self._any, *(b for _, buckets in self._categories.values() for b in buckets.values())):
            bucket.seal()

    def _buckets(self, name: str) -> dict[str, _Bucket]:
        """Return the buckets by value of the category field ``name``, made empty on first use."""
        if name not in self._categories:
            self._categories[name] = (_values_getter(tuple(name.split("."))), {})
        return self._categories[name][1]

    @property
    def scanned(self) -> tuple[Entry, ...]:
        """Return the entries without an index key, tested against every event of their category."""
        return tuple(entry for entry, key in zip(self.entries, self.keys, strict=True) if key is None)

    def candidates(self, doc: Mapping[str, Any]) -> list[Entry]:
        """Return, in table order, the entries that may match ``doc``: a superset of the matches, cheap to find."""
        positions: set[int] = set()
        categorized = False
        for get, buckets in self._categories.values():
            for category in get(doc):
                bucket = buckets.get(category if type(category) is str else keyword_text(category))
                if bucket is not None:
                    bucket.collect(doc, positions)
                    categorized = True
        if not categorized:
            self._any.collect(doc, positions)
        if not positions:
            return []
        entries = self.entries
        return [entries[p] for p in sorted(positions)]

    def match(self, doc: Mapping[str, Any]) -> list[Entry]:
        """Return, in table order, exactly the entries whose query matches ``doc``."""
        return [entry for entry in self.candidates(doc) if entry.compiled.matches(doc)]


def _values_getter(path: tuple[str, ...]) -> Callable[[Any], Sequence[Any]]:
    """Return a callable giving every non-null value at ``path``, arrays flattened, as rules read it."""
    raw = field_getter(path)

    def get(doc: Any) -> Sequence[Any]:
        value = raw(doc)
        if value is None:
            return ()
        return _list_values(value) if type(value) is list else (value,)

    return get


def _list_values(node: list[Any]) -> list[Any]:
    """Return the non-null leaves of an array, flattened; a flat array takes the fast way."""
    if list in map(type, node):
        return list(iter_leaves(node))
    if None in node:
        return [item for item in node if item is not None]
    return node  # read, never changed
