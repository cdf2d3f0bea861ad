"""The line parser: table-driven cases from auditd-format.md, plus hypothesis properties."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditproc import parse
from auditproc.parse import (
    LineParser,
    ParseError,
    ParseReason,
    Record,
    decode_bytes,
    enrichment,
    parse_line,
    split_enrichment,
    split_fields,
)
from auditproc.sources import read_lines

HEADER = b"type=SYSCALL msg=audit(1700000000.123:4242): "


@pytest.mark.parametrize(
    ("line", "rtype", "node", "rid", "serial", "time_ms"),
    [
        (HEADER + b"arch=c000003e", "SYSCALL", None, b"1700000000.123:4242", 4242, 1700000000123),
        (b"node=web-01 " + HEADER + b"a=1", "SYSCALL", b"web-01", b"1700000000.123:4242", 4242, 1700000000123),
        (b"node=CentOS 7.7 " + HEADER + b"a=1", "SYSCALL", b"CentOS 7.7", b"1700000000.123:4242", 4242, 1700000000123),
        (b"type=UNKNOWN[1420] msg=audit(1.5:7): subj_apparmor=x", "UNKNOWN[1420]", None, b"1.5:7", 7, 1500),
        (b"type=EOE msg=audit(1700000000.123:4242):", "EOE", None, b"1700000000.123:4242", 4242, 1700000000123),
        (b"type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed", "DAEMON_CONFIG", None,
         b"1490239800.477:34", 34, 1490239800477),
        (b"type=SYSCALL msg=audit(4294967295.999:4294967295): x=1", "SYSCALL", None,
         b"4294967295.999:4294967295", 4294967295, 4294967295999),
        (b"Sep  6 11:23:47 host kernel: [   31.02] audit: type=1300 audit(1111111111.111:1111): arch=c000003e",
         "SYSCALL", None, b"1111111111.111:1111", 1111, 1111111111111),
    ],
)
def test_header(line, rtype, node, rid, serial, time_ms):
    rec = parse_line(line)
    assert isinstance(rec, Record)
    assert (rec.type, rec.node, rec.id, rec.serial, rec.time_ms) == (rtype, node, rid, serial, time_ms)


RELAYED = b"type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59"


@pytest.mark.parametrize(
    ("prefix", "node"),
    [
        pytest.param(b"Dec  4 10:00:01 web-01 audispd: node=web-01 ", b"web-01", id="BSD syslog, audispd"),
        pytest.param(b"Dec  4 10:00:01 web-01 audisp-syslog: node=web-01 ", b"web-01", id="audisp-syslog tag"),
        pytest.param(b"Dec  4 10:00:01 web-01 audit: node=web-01 ", b"web-01", id="audit tag"),
        pytest.param(b"2023-12-04T10:00:01.123456+01:00 web-01 audispd[812]: node=web-01 ", b"web-01",
                     id="rsyslog ISO timestamp"),
        pytest.param(b"<14>1 2023-12-04T10:00:01.123Z web-01 audisp-syslog 812 - - node=web-01 ", b"web-01",
                     id="RFC 5424"),
        pytest.param(b"<14>1 2023-12-04T10:00:01.123Z web-01 audispd - - - \xef\xbb\xbfnode=web-01 ", b"web-01",
                     id="RFC 5424, BOM"),
        pytest.param(b"Dec  4 10:00:01 db audispd: node=CentOS 7.7 ", b"CentOS 7.7", id="node name with a space"),
        pytest.param(b"Dec  4 10:00:01 web-01 audispd: ", None, id="no node"),
        pytest.param(b"<14>1 2023-12-04T10:00:01.123Z web-01 audispd - - - \xef\xbb\xbf", None, id="no node, BOM"),
        pytest.param(b"Dec  4 10:00:01 web-01 audispd: inode=7 ", None, id="node= inside another key"),
    ],
)
def test_syslog_relayed_header(prefix, node):
    rec = parse_line(prefix + RELAYED)
    assert isinstance(rec, Record)
    assert (rec.type, rec.node, rec.id) == ("SYSCALL", node, b"1700000000.123:4242")
    assert rec.fields == {"arch": b"c000003e", "syscall": b"59"}


@pytest.mark.parametrize(
    ("line", "node"),
    [
        (b"Dec  4 10:00:01 h audispd: type=USER_CMD msg=audit(1.0:1): pid=1 msg='cmd=x node=evil type=SYSCALL'", None),
        (b'Dec  4 10:00:01 h audispd: node=web type=EXECVE msg=audit(1.0:1): argc=2 a0="x" a1="node=evil"', b"web"),
        (b"Dec  4 10:00:01 h audispd: type=EXECVE msg=audit(1.0:1): argc=2 a0=6E6F64653D6576696C20 a1=node=e", None),
    ],
)
def test_relayed_node_is_read_from_the_header_only(line, node):
    rec = parse_line(line)
    assert isinstance(rec, Record)
    assert rec.node == node


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"some random line", ParseReason.NOT_A_RECORD),
        (b"# comment", ParseReason.NOT_A_RECORD),
        (b"\x00\xff\xfe", ParseReason.NOT_A_RECORD),
        (b"type=", ParseReason.BAD_HEADER),
        (b"node=", ParseReason.BAD_HEADER),
        (b"type=SYSCALL", ParseReason.BAD_HEADER),
        (b"type=UNKNOWN[1329] msg=?", ParseReason.NO_EVENT_ID),
        (b"type=SYSCALL msg=audit(16523210---): arch=1", ParseReason.BAD_EVENT_ID),
        (b"type=PATH msg=audit(1718000090.000:13001", ParseReason.BAD_EVENT_ID),
        (b"type=PATH msg=audit(abc.def:12): x", ParseReason.BAD_EVENT_ID),
        (b"type=SYSCALL foo=bar", ParseReason.BAD_HEADER),
        (b"type=EMPTYDATE msg=audit(): x", ParseReason.BAD_EVENT_ID),
        (b"type= msg=audit(1337845333.174:94984): missing type value", ParseReason.BAD_HEADER),
    ],
)
def test_bad_lines_are_values(line, reason):
    err = parse_line(line)
    assert isinstance(err, ParseError)
    assert err.reason is reason
    assert err.raw == line


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'arch=c000003e syscall=59 comm="bash"', {"arch": b"c000003e", "syscall": b"59", "comm": b'"bash"'}),
        (b"lport=22  exe=x", {"lport": b"22", "exe": b"x"}),  # double space
        (b"subj= res=success", {"subj": b"", "res": b"success"}),  # empty value
        (b"a=1 a=2", {"a": b"1"}),  # duplicates keep the first
        (b'info="same as current, skipping" b=1', {"info": b'"same as current, skipping"', "b": b"1"}),
        (b"subj==unconfined x=1", {"subj": b"=unconfined", "x": b"1"}),
        (b"old auid=700 new auid=701", {"auid": b"700", "_text": b"old new"}),
        (b"subj==/usr/sbin/ntpd (enforce) x=1", {"subj": b"=/usr/sbin/ntpd", "x": b"1", "_text": b"(enforce)"}),
        (b"pid=1 msg='op=x acct=\"a b\" res=success'", {"pid": b"1", "msg": b"'op=x acct=\"a b\" res=success'"}),
    ],
)
def test_split_fields(body, expected):
    fields, _ = split_fields(body)
    assert fields == expected


def test_stream_parser_caches_only_what_is_equal():
    parser = LineParser()
    first = parser.parse(b"type=SYSCALL msg=audit(1.500:7): a=1")
    assert isinstance(parser.parse(b"type=EMPTYDATE msg=audit(): x"), ParseError)
    second = parser.parse(b"type=CWD msg=audit(1.500:7):  cwd=\"/\"")
    third = parser.parse(b"type=CWD msg=audit(2.000:8): cwd=\"/\"")
    assert (first.time_ms, first.serial) == (second.time_ms, second.serial) == (1500, 7)
    assert (third.time_ms, third.serial) == (2000, 8)
    assert second.fields == {"cwd": b'"/"'}


# User-space records: the fields before msg='…' and the message's own. Where both name a key, the
# message's value wins, as go-libaudit (Elastic's normaliser) reads the pairs in order, a later one
# replacing an earlier one; a message value that carries nothing replaces nothing (go-libaudit drops it).
USER_MESSAGES = [
    (  # sudo, as auditd-format.md §2.5 gives it: no shared key, the outer pid and uid stay
        b"type=USER_CMD msg=audit(1700000100.500:4300): pid=1200 uid=1000 auid=1000 ses=7 subj=unconfined "
        b"msg=' cwd=\"/home/ann\" cmd=6C73202D6C61 exe=\"/usr/bin/sudo\" terminal=pts/1 res=success'",
        {"pid": "1200", "uid": "1000", "auid": "1000", "ses": "7", "subj": "unconfined", "cmd": "ls -la",
         "cwd": "/home/ann", "terminal": "pts/1", "res": "success"},
    ),
    (  # sshd: outer pid/uid/auid/ses, inner op/acct/exe/hostname/addr/terminal/res
        b"type=USER_LOGIN msg=audit(1553501549.148:110544844): pid=374 uid=0 auid=4294967295 ses=4294967295 "
        b"msg='op=login acct=\"(unknown)\" exe=\"/usr/sbin/sshd\" hostname=localhost addr=1.128.3.4 terminal=ssh res=failed'",
        {"pid": "374", "uid": "0", "auid": "4294967295", "acct": "(unknown)", "addr": "1.128.3.4", "res": "failed"},
    ),
    (  # AppArmor's D-Bus mediation (apparmor.d corpus): dbus-daemon's pid outside, the peer's inside
        b"type=USER_AVC msg=audit(1111111111.111:1111): pid=1648 uid=102 auid=4294967295 ses=4294967295 subj=? "
        b"msg='apparmor=\"ALLOWED\" operation=\"dbus_method_call\"  bus=\"system\" path=\"/org/freedesktop/DBus\" "
        b"interface=\"org.freedesktop.DBus\" member=\"AddMatch\" mask=\"send\" name=\"org.freedesktop.DBus\" pid=1667 "
        b"label=\"power-profiles-daemon\" peer_label=\"dbus-daemon\"  exe=\"/usr/bin/dbus-daemon\" sauid=102 hostname=? "
        b"addr=? terminal=?'",
        {"pid": "1667", "uid": "102", "label": "power-profiles-daemon", "exe": "/usr/bin/dbus-daemon"},
    ),
    (  # systemd's SELinux access check: the caller's ids inside, systemd's outside
        b"type=USER_AVC msg=audit(1700000200.000:5100): pid=1 uid=0 auid=4294967295 ses=4294967295 "
        b"subj=system_u:system_r:init_t:s0 msg='avc:  denied  { status } for auid=1000 uid=1000 gid=1000 "
        b"cmdline=\"systemctl status cron\" scontext=user_u:user_r:user_t:s0 tcontext=system_u:system_r:init_t:s0 "
        b"tclass=system permissive=0 exe=\"/usr/lib/systemd/systemd\" sauid=0 hostname=? addr=? terminal=?'",
        {"pid": "1", "uid": "1000", "auid": "1000", "gid": "1000", "ses": "4294967295",
         "subj": "system_u:system_r:init_t:s0", "_text": "avc: denied { status } for"},
    ),
    (  # gdm in 2006 (sepolgen corpus): the user's uid inside, read as go-libaudit reads it, colon and all
        b"type=USER_LOGIN msg=audit(1162850424.260:1059): user pid=4697 uid=0 auid=500 "
        b"subj=system_u:system_r:xdm_t:s0-s0:c0.c1023 msg='uid=500: exe=\"/usr/sbin/gdm-binary\" "
        b"(hostname=localhost.localdomain, addr=127.0.0.1, terminal=:0 res=success)'",
        {"pid": "4697", "uid": "500:", "auid": "500", "exe": "/usr/sbin/gdm-binary", "_text": "user"},
    ),
    (  # two records spliced (linux-audit-parser-rs corpus): the message's op wins
        b"type=DAEMON_END msg=audit(1724970459.096:8216): op=terminate auid=0 pid=12333 subj=24970459.090:670): "
        b"pid=12323 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:session_open grantors=pam_keyinit,pam_limits "
        b"acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/0 res=success' res=success",
        {"op": "PAM:session_open", "pid": "12333", "acct": "root", "hostname": "?", "res": "success"},
    ),
    (  # a message value that carries nothing keeps the outer one (no real record seen doing this)
        b"type=USER_ACCT msg=audit(1700000300.000:5200): pid=2000 uid=0 auid=1000 ses=3 "
        b"msg='op=PAM:accounting grantors=pam_unix acct=\"ann\" uid=? ses=(null) exe=\"/usr/bin/su\" res=success'",
        {"uid": "0", "ses": "3", "acct": "ann"},
    ),
]


@pytest.mark.parametrize(("line", "expected"), USER_MESSAGES,
                         ids=[f"{line[5:line.index(b' ')].decode()}-{n}" for n, (line, _) in enumerate(USER_MESSAGES)])
def test_user_message_fields_are_merged(line, expected):
    rec = parse_line(line)
    assert {key: rec.text(key) for key in expected} == expected


# The LOGIN record in each kernel's format: the old two-word names (old auid=, new auid=, old ses=,
# new ses=) are read as today's (old-auid, auid, old-ses, ses); the leading "login" word goes.
LOGIN_RECORDS = [
    (  # sepolgen corpus, 2006: no session ids yet
        b"type=LOGIN msg=audit(1158585001.341:723): login pid=8294 uid=0 old auid=4294967295 new auid=0",
        {"pid": b"8294", "uid": b"0", "old-auid": b"4294967295", "auid": b"0"},
    ),
    (  # a 2014 log (logstash's audit grok tests): the word and the session ids
        b"type=LOGIN msg=audit(1415226156.531:2159626): login pid=15377 uid=1029 old auid=1029 new auid=0 "
        b"old ses=2754 new ses=2763",
        {"pid": b"15377", "uid": b"1029", "old-auid": b"1029", "auid": b"0", "old-ses": b"2754", "ses": b"2763"},
    ),
    (  # plaso corpus, 2012
        b"type=LOGIN msg=audit(1337845201.174:94983): pid=25443 uid=0 old auid=4294967295 new auid=0 "
        b"old ses=4294967295 new ses=1165",
        {"pid": b"25443", "uid": b"0", "old-auid": b"4294967295", "auid": b"0", "old-ses": b"4294967295",
         "ses": b"1165"},
    ),
    (  # a 3.x kernel's ring buffer through syslog, 2013: res= added
        b"Dec  7 18:00:59 trinity kernel: type=1006 audit(1386435658.554:2): pid=1069 uid=0 old auid=4294967295 "
        b"new auid=0 old ses=4294967295 new ses=1 res=1",
        {"pid": b"1069", "uid": b"0", "old-auid": b"4294967295", "auid": b"0", "old-ses": b"4294967295",
         "ses": b"1", "res": b"1"},
    ),
    (  # today's format (laurel corpus), unchanged
        b"type=LOGIN msg=audit(1640027821.949:151316): pid=72605 uid=0 subj=unconfined old-auid=4294967295 auid=0 "
        b"tty=(none) old-ses=4294967295 ses=325 res=1",
        {"pid": b"72605", "uid": b"0", "subj": b"unconfined", "old-auid": b"4294967295", "auid": b"0",
         "tty": b"(none)", "old-ses": b"4294967295", "ses": b"325", "res": b"1"},
    ),
    (  # the same words in another record type are free text, as before
        b"type=USER_ACCT msg=audit(1.0:1): login pid=1 old auid=700 new auid=701",
        {"pid": b"1", "auid": b"700", "_text": b"login old new"},
    ),
]


@pytest.mark.parametrize(("line", "expected"), LOGIN_RECORDS, ids=[line[-20:].decode() for line, _ in LOGIN_RECORDS])
def test_old_login_records_read_as_todays(line, expected):
    assert parse_line(line).fields == expected


@pytest.mark.parametrize(
    ("raw", "encoded", "expected"),
    [
        (b'"3005"', True, b"3005"),  # quoted means literal, never hex (go-libaudit#13)
        (b"3005", True, b"\x30\x05"),
        (b"68656C6C6F20776F726C64", True, b"hello world"),
        (b"(null)", True, None),
        (b"ZZ", True, b"ZZ"),  # invalid hex is kept as written
        (b"ABC", True, b"ABC"),  # odd length
        (b"c000003e", False, b"c000003e"),  # not an encoded field: never decoded
    ],
)
def test_decode_bytes(raw, encoded, expected):
    assert decode_bytes(raw, encoded) == expected


def test_enriched_fields():
    rec = parse_line(HEADER + b'uid=0 auid=1000 key="x"\x1dARCH=x86_64 AUID="alice" UID="root" SADDR={ fam=inet laddr=1.2.3.4 lport=443 }')
    assert rec.fields == {"uid": b"0", "auid": b"1000", "key": b'"x"'}
    assert rec.enriched == {"ARCH": "x86_64", "AUID": "alice", "UID": "root", "SADDR": "{ fam=inet laddr=1.2.3.4 lport=443 }"}


def test_enrichment_after_lost_separator():
    rec = parse_line(HEADER + b'uid=0 key="delete" ARCH=x86_64 UID="root"')
    assert rec.fields == {"uid": b"0", "key": b'"delete"'}
    assert rec.enriched == {"ARCH": "x86_64", "UID": "root"}


def test_proctitle_and_hex_fields():
    rec = parse_line(b"type=PROCTITLE msg=audit(1.0:1): proctitle=6C73002D6C61")
    assert rec.value("proctitle") == b"ls\x00-la"
    rec = parse_line(b"type=SYSCALL msg=audit(1.0:1): a0=6C73 comm=6D7920746F6F6C")
    assert rec.text("a0") == "6C73"  # SYSCALL registers are hex numbers, not text
    assert rec.text("comm") == "my tool"


def test_non_utf8_stays_visible():
    rec = parse_line(b"type=CWD msg=audit(1.0:1): cwd=2FFF6162")
    assert rec.text("cwd") == "/\\xffab"


def test_truncated_line_drops_the_cut_value():
    rec = parse_line(HEADER + b"a=1 b=2 c=12345", truncated=True)
    assert rec.fields == {"a": b"1", "b": b"2"}


def test_read_lines_bounds_memory():
    data = b"type=A msg=audit(1.0:1): x=1\n" + b"y" * 100_000 + b"\n" + b"type=B msg=audit(1.0:2): z=1\nlast"
    lines = list(read_lines(io.BufferedReader(io.BytesIO(data)), max_line_bytes=1000))
    assert lines[0] == b"type=A msg=audit(1.0:1): x=1"
    assert len(lines[1]) == 1001  # cut: one byte over the cap marks it
    assert lines[2:] == [b"type=B msg=audit(1.0:2): z=1", b"last"]


def test_read_lines_crlf():
    assert list(read_lines(io.BufferedReader(io.BytesIO(b"a\r\nb\n")))) == [b"a", b"b"]


def simple_lines(data: bytes, max_line_bytes: int) -> list[bytes]:
    """The obvious reference: split, cut long lines, drop the \\r of complete short ones."""
    *complete, last = data.split(b"\n")
    out = [
        line[: max_line_bytes + 1] if len(line) > max_line_bytes else line.removesuffix(b"\r")
        for line in complete
    ]
    if last:
        out.append(last[: max_line_bytes + 1])
    return out


@settings(max_examples=400)
@given(
    st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"x")), max_size=12),
    st.sampled_from([b"", b"\n", b"\r\n"]),
    st.sampled_from([1, 2, 3, 7, 64, 1 << 20]),
    st.sampled_from([5, 10, 100]),
)
def test_read_lines_matches_the_obvious_reader(pieces, end, block_bytes, max_line_bytes):
    data = b"\n".join(pieces) + end
    lines = list(read_lines(io.BytesIO(data), max_line_bytes, block_bytes))
    assert lines == simple_lines(data, max_line_bytes)


# --- properties ---------------------------------------------------------------


def kernel_encode(value: bytes) -> bytes:
    """How the kernel writes an untrusted string: quoted if plain printable, else upper-case hex."""
    if value and all(0x21 <= b <= 0x7E and b != 0x22 for b in value):
        return b'"' + value + b'"'
    return value.hex().upper().encode()


@given(st.binary(max_size=200))
def test_encoded_values_round_trip(value):
    line = b"type=EXECVE msg=audit(1.0:1): argc=1 a0=" + kernel_encode(value)
    rec = parse_line(line)
    assert rec.value("a0") == value


@given(st.lists(st.binary(min_size=0, max_size=30), max_size=8))
def test_proctitle_round_trip(argv):
    encoded = b"\x00".join(argv).hex().upper().encode() or b'""'
    rec = parse_line(b"type=PROCTITLE msg=audit(1.0:1): proctitle=" + encoded)
    assert rec.value("proctitle") == b"\x00".join(argv)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_garbage_never_raises(line, truncated):
    rec = parse_line(line, truncated)
    if isinstance(rec, Record):
        rec.fields  # noqa: B018 - the lazy split must not raise either
        rec.enriched  # noqa: B018
        for key in list(rec.fields):
            rec.text(key)
    else:
        assert isinstance(rec, ParseError)


@given(st.binary(max_size=120).filter(lambda b: b"\n" not in b))
def test_garbage_after_a_valid_header_never_raises(body):
    rec = parse_line(HEADER + body)
    assert isinstance(rec, Record)
    for key in list(rec.fields):
        rec.text(key)
    rec.enriched  # noqa: B018


def test_a_plain_file_starting_with_the_gzip_magic_is_read_plain(tmp_path):
    from auditproc.sources import InputFile, open_input

    log = tmp_path / "audit.log"
    log.write_bytes(b"\x1f\x8b\ntype=CWD msg=audit(1.0:1): cwd=\"/\"\n")
    stream = open_input(InputFile(str(log), str(log)))
    assert list(read_lines(stream)) == [b"\x1f\x8b", b'type=CWD msg=audit(1.0:1): cwd="/"']
    stream.close()


def test_gzip_is_detected_by_content(tmp_path):
    import gzip

    from auditproc.sources import InputFile, open_input

    log = tmp_path / "audit.log.2"  # no .gz in the name
    log.write_bytes(gzip.compress(b"a\nb\n"))
    stream = open_input(InputFile(str(log), str(log)))
    assert list(read_lines(stream)) == [b"a", b"b"]
    stream.close()


ENRICHED_TOKENS = st.one_of(
    st.sampled_from([b'UID="root"', b"ARCH=x86_64", b"SYSCALL=openat", b'AUID="unset"', b"UID=", b'OUID="a b"',
                     b'GID="x"y', b'EGID="', b"SADDR={ fam=inet laddr=10.0.0.1 lport=22 }", b"SADDR=x", b"",
                     b"free", b"K==v", b"\xff=\xfe", b'FSGID="d\xc3\xa9j\xc3\xa0"']),
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
)


@settings(max_examples=300)
@given(st.lists(ENRICHED_TOKENS, max_size=10))
def test_remembered_enrichment_is_the_parsed_one_and_read_only(tokens):
    data = b" ".join(tokens)
    for _ in range(2):  # the second read may come from the memo
        pairs = enrichment(data)
        assert pairs == split_enrichment(data)
        with pytest.raises(TypeError):
            pairs["UID"] = "forged"  # type: ignore[index]


def test_the_enrichment_memo_is_bounded_and_skips_addresses(monkeypatch):
    memo: dict = {}
    monkeypatch.setattr(parse, "_ENRICHMENTS", memo)
    enrichment(b"SADDR={ fam=inet laddr=10.0.0.1 lport=22 }")
    assert not memo
    for n in range(parse._MAX_ENRICHMENTS + 10):
        enrichment(b'UID="u%d"' % n)
    assert len(memo) == parse._MAX_ENRICHMENTS
    assert enrichment(b'UID="u99999"') == {"UID": "u99999"}  # past the bound: parsed, not remembered


@pytest.mark.parametrize(("data", "pairs"), [
    (b'UID="root" ARCH=x86_64', {"UID": "root", "ARCH": "x86_64"}),
    (b"SADDR=unknown family(0) UID=x", {"SADDR": "unknown family(0) UID=x"}),
    (b"SADDR=x UID=y", {"SADDR": "x UID=y"}),  # SADDR is always the rest of the line
    (b'OUID="a b" OGID="c"', {"OUID": "a b", "OGID": "c"}),
    (b'UID="root" UID="other"', {"UID": "root"}),  # the first of a repeated key, as in the body
    (b"UID=  GID=0", {"UID": "", "GID": "0"}),
])
def test_enriched_pairs(data, pairs):
    assert split_enrichment(data) == pairs


NODE_LINE_PARTS = st.tuples(
    st.sampled_from([b"node=web01 ", b"node=web02 ", b"node=a b ", b"node=x type=Y ", b"node=m msg=audit(1.0:1) ",
                     b"node= ", b"node=web01", b"", b"Dec  5 10:00:00 h audispd: node=web01 "]),
    st.sampled_from([b"type=SYSCALL", b"type=PATH", b"type=", b"type=1300", b"typ=X", b"type=A type=B"]),
    st.sampled_from([b" msg=audit(1700000000.123:42): ", b" msg=audit(1700000000.124:43):", b" audit(1.5:7): ",
                     b" msg=audit(", b" msg=", b" ", b""]),
    st.sampled_from([b"arch=c000003e syscall=59", b"", b"a type=Z msg=audit(2.0:9): x", b"node=q type=R"]),
)


@settings(max_examples=400)
@given(st.lists(NODE_LINE_PARTS.map(b"".join), min_size=1, max_size=8))
def test_a_parser_remembering_the_node_reads_every_line_as_a_fresh_one(lines):
    """LineParser skips the node= search for the prefix of the lines before: never with a different answer."""
    def reading(rec):
        if isinstance(rec, ParseError):
            return rec.reason
        return rec.type, rec.node, rec.id, rec.time_ms, rec.serial, rec.body_at

    parser = LineParser()
    assert [reading(parser.parse(line)) for line in lines] == [reading(parse_line(line)) for line in lines]
