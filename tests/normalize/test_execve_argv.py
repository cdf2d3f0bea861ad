"""argv from EXECVE records: the kernel-form shortcut gives what the general reader gives, and knows its limits."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditproc.normalize.process import _argv_pieces, _decode_argv, _kernel_argv, execve_argv
from auditproc.parse import LineParser

HEADER = b"type=EXECVE msg=audit(1733390000.000:7): "
PRINTABLE = bytes(range(0x21, 0x7F)).replace(b'"', b"")


def kernel_value(arg: bytes) -> bytes:
    """How the kernel writes one argument: quoted when plain printable ASCII, else hex."""
    return b'"' + arg + b'"' if arg and all(c in PRINTABLE for c in arg) else arg.hex().upper().encode()


def record(body: bytes, truncated: bool = False):
    return LineParser().parse(HEADER + body, truncated)


def general(rec) -> tuple:
    return _decode_argv(*_argv_pieces([rec]), 1 << 20)


@given(st.lists(st.one_of(st.binary(max_size=12), st.text(PRINTABLE.decode(), max_size=12).map(str.encode)),
                max_size=40))
def test_kernel_form_reads_as_the_general_reader_does(argv: list[bytes]) -> None:
    body = b" ".join([b"argc=%d" % len(argv), *(b"a%d=%s" % (i, kernel_value(a)) for i, a in enumerate(argv))])
    assert _kernel_argv(record(body)) is not None
    fresh = record(body)  # the general reader caches the record's fields: a record of its own
    assert execve_argv([record(body)], 1 << 20) == general(fresh)
    assert execve_argv([record(body)], 1 << 20)[0] == [a.decode("utf-8", "backslashreplace") for a in argv]


@given(st.lists(st.one_of(st.binary(max_size=12).map(kernel_value),
                          st.sampled_from([b"(null)", b"4G", b"ABC", b""])), max_size=12),
       st.integers(0, 80))
def test_kernel_form_truncates_and_notes_as_the_general_reader_does(values: list[bytes], budget: int) -> None:
    """The shortcut for quoted-or-hex argv within the budget leaves every other case to the general
    decoding: arguments past ``max_bytes``, values neither quoted nor hex, ``(null)``."""
    body = b" ".join([b"argc=%d" % len(values), *(b"a%d=%s" % (i, v) for i, v in enumerate(values))])
    assert _kernel_argv(record(body)) is not None
    assert execve_argv([record(body)], budget) == _decode_argv(*_argv_pieces([record(body)]), budget)


@pytest.mark.parametrize("body", [
    b'argc=3 a0="ls" a2="x"',  # a hole: the kernel left an empty argument out
    b'argc=2 a0="ls" a1_len=8 a1[0]=41424344 a1[1]=45464748',  # a long argument in chunks
    b'argc=2 a0="ls"',  # the rest in the next record
    b'argc=2 a0="ls"  a1="x"',  # two spaces: not the kernel's hand
    b'argc=1 a0="ls" key=x',  # something after the arguments
    b"a0=6C73",  # no argc
    b'argc=3 a0="docker" a1="inspect" a2="721df12151a7"\'',  # a stray quote after it (a real log, from YAML)
    b'argc=2 a0="ls" a1="-l',  # a quote left open
])
def test_other_forms_take_the_general_way(body: bytes) -> None:
    assert _kernel_argv(record(body)) is None
    assert execve_argv([record(body)], 1 << 20) == general(record(body))


def test_a_cut_line_takes_the_general_way() -> None:
    assert _kernel_argv(record(b'argc=2 a0="ls" a1="-l', truncated=True)) is None


def test_a_forged_argument_index_costs_only_the_budget() -> None:
    """a20000000: twenty million holes before it; only as many as the byte budget holds are made (a
    fuzzer found the eager list of them: 24 GB for a 3 KB log)."""
    tracemalloc.start()
    try:
        args, argc, note = execve_argv([record(b'argc=2 a0="ls" a20000000="x"')], 1 << 12)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(args) <= 1 << 12 and "truncated" in note and argc == 2
    assert peak < 4 << 20
