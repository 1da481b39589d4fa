"""One error is one line: events.one_line, the emitter, errors.describe."""

import io

from hypothesis import given, strategies as st
import pytest

from safe_launch import errors
from safe_launch import events

FORGED = "nova-scheduler-safe: ready: worker 1 serves RPC topic scheduler"
BREAKERS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
            "\u2029", "\x1b[2K\r", "\x00", "\x7f", "\u202e", "\udcff", "\ufeff"]


@pytest.mark.parametrize("breaker", BREAKERS, ids=[repr(b) for b in BREAKERS])
def test_line_breakers_and_controls_are_escaped(breaker):
    line = events.one_line("value%s%s" % (breaker, FORGED))
    assert len(line.splitlines()) == 1 and line.isprintable(), repr(line)
    assert line == "value%s%s" % (breaker.encode("unicode_escape", "backslashreplace")
                                  .decode(), FORGED)


def test_printable_text_is_unchanged_and_escaping_is_idempotent():
    text = "path /etc/növa/ünïcode.conf: 'a b'  \\n stays \\n"
    assert events.one_line(text) == text
    once = events.one_line("a\nb\x1bc")
    assert once == "a\\nb\\x1bc" and events.one_line(once) == once


def test_limit_cuts_with_an_ellipsis():
    assert events.one_line("x" * 20, 10) == "x" * 7 + "..."
    assert events.one_line("x" * 10, 10) == "x" * 10


@given(st.text())
def test_any_text_becomes_one_printable_line(text):
    line = events.one_line(text)
    assert line.isprintable() and len(line.splitlines()) <= 1


def test_the_emitter_gives_every_sink_a_one_line_summary_and_keeps_data():
    sink, console = events.Collector(), io.StringIO()
    emitter = events.Emitter([sink, events.ConsoleSink("nova-scheduler-safe", stream=console)])
    emitter.emit(events.LAUNCH_FAILED, outcome="failure",
                 summary="validate: [DEFAULT] host: bad value 'x\n%s'" % FORGED,
                 error="bad value 'x\n%s'" % FORGED)
    [record] = sink.events
    assert "\n" not in record.summary and record.summary.endswith("x\\n%s'" % FORGED)
    assert record.data["error"] == "bad value 'x\n%s'" % FORGED   # JSON escapes it
    lines = console.getvalue().splitlines()
    assert len(lines) == 1 and not any(line.startswith(FORGED) for line in lines)


def test_the_emitter_cuts_a_long_summary_after_masking():
    secret = "Sec" + "r" * 40
    sink = events.Collector()
    emitter = events.Emitter([sink], mask=lambda v: v.replace(secret, "***")
                             if isinstance(v, str) else v)
    emitter.emit(events.LAUNCH_FAILED, summary="x" * (events.MAX_SUMMARY - 10) + secret)
    summary = sink.events[0].summary
    assert len(summary) <= events.MAX_SUMMARY and "Sec" not in summary


def test_describe_is_one_line_with_the_whole_message():
    exc = ValueError("first line\n%s\r\nthird" % FORGED)
    assert errors.describe(exc) == "ValueError: first line\\n%s\\r\\nthird" % FORGED
    assert errors.describe(KeyError()) == "KeyError"
    assert errors.describe(OSError("  padded \n")) == "OSError: padded"
