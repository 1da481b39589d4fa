"""The early stop handlers, with real signals sent to this process."""

import os
import signal
import sys
import time

import pytest

from safe_launch import events
from safe_launch import signals

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@pytest.fixture
def early():
    previous = {signo: signal.getsignal(signo) for signo in HANDLED}
    signals.install_early()
    yield
    for signo, handler in previous.items():
        signal.signal(signo, handler)


class Sink:
    def __init__(self, stop_inside=False):
        self.stop_inside = stop_inside
        self.seqs = []

    def handle(self, event):
        if self.stop_inside:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)        # the handler runs in here
        self.seqs.append(event.seq)


def test_a_stop_while_a_record_is_written_comes_once_the_record_is_whole(early):
    first, second = Sink(stop_inside=True), Sink()
    emitter = events.Emitter([first, second])
    with pytest.raises(signals.StopRequested):
        emitter.emit("test.event", summary="one")
        time.sleep(2)               # the stop, delivered again
    assert first.seqs == second.seqs == [1]


def test_one_stop_only_a_second_is_ignored(early):
    with pytest.raises(signals.StopRequested) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
    assert stop.value.signo == signal.SIGINT
    os.kill(os.getpid(), signal.SIGTERM)        # the clean exit goes on
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)


class Broken:
    """A console after a hangup: every write fails with EIO."""

    name = "<tty>"

    def write(self, text):
        raise OSError(5, "Input/output error")

    def flush(self):
        raise OSError(5, "Input/output error")


def test_a_console_that_cannot_be_written_is_counted_and_reported_elsewhere(capsys):
    later = Sink()
    emitter = events.Emitter([events.ConsoleSink("prog", stream=Broken()), later])
    for _ in range(3):
        emitter.emit("test.event", summary="line")
    assert later.seqs == [1, 2, 3]
    assert emitter.sink_failures == {"ConsoleSink": 3}
    assert capsys.readouterr().err.count("event sink ConsoleSink failed") == 1


def test_a_dead_stderr_never_raises_into_the_emitter(monkeypatch):
    """The report of the failure cannot be written either: the count remains."""
    monkeypatch.setattr(sys, "stderr", Broken())
    later = Sink()
    emitter = events.Emitter([events.ConsoleSink("prog"), later])
    for _ in range(3):
        emitter.emit("test.event", summary="line")
    emitter.close()
    assert later.seqs == [1, 2, 3]
    assert emitter.sink_failures == {"ConsoleSink": 3}
    monkeypatch.setattr(sys, "stderr", None)        # no stderr at all (2>&-)
    emitter = events.Emitter([events.ConsoleSink("prog"), later])
    emitter.emit("test.event", summary="line")
    assert later.seqs == [1, 2, 3, 1] and emitter.sink_failures == {"ConsoleSink": 1}
