"""The emitter's view of its sinks: failing from a failed delivery until the
next successful one (what STATUS= shows, issue 19)."""

from safe_launch import events


class Flaky:
    def __init__(self):
        self.broken = False
        self.got = []

    def handle(self, event):
        if self.broken:
            raise OSError("No space left on device")
        self.got.append(event.event)


class Later(Flaky):
    delivers_later = True       # like the CADF sink: handle() only queues


def test_a_sink_fails_once_per_outage_and_recovers_on_the_next_delivery(capsys):
    sink = Flaky()
    changes = []
    emitter = events.Emitter([sink])
    emitter.on_sink_change = lambda name, failing: changes.append((name, failing))
    emitter.emit("a")
    assert changes == [] and emitter.failing == set()
    sink.broken = True
    emitter.emit("b")
    emitter.emit("c")
    assert changes == [("Flaky", True)] and emitter.failing == {"Flaky"}
    assert emitter.sink_failures == {"Flaky": 2}
    sink.broken = False
    emitter.emit("d")
    assert changes == [("Flaky", True), ("Flaky", False)] and emitter.failing == set()
    assert sink.got == ["a", "d"] and emitter.sink_failures == {"Flaky": 2}
    sink.broken = True
    emitter.emit("e")
    assert changes[-1] == ("Flaky", True)
    # reported on stderr once per sink, however many outages
    assert capsys.readouterr().err.count("event sink Flaky failed") == 1


def test_a_queueing_sink_recovers_only_when_it_says_so():
    sink = Later()
    changes = []
    emitter = events.Emitter([sink])
    emitter.on_sink_change = lambda name, failing: changes.append((name, failing))
    emitter.sink_failed("Later", RuntimeError("not delivered"))
    emitter.emit("queued")
    assert changes == [("Later", True)] and emitter.failing == {"Later"}
    emitter.sink_ok("Later")
    assert changes == [("Later", True), ("Later", False)] and emitter.failing == set()


def test_a_failing_status_callback_never_breaks_an_emit():
    sink = Flaky()
    sink.broken = True
    emitter = events.Emitter([sink])
    emitter.on_sink_change = lambda name, failing: 1 / 0
    assert emitter.emit("x").event == "x"
    assert emitter.failing == {"Flaky"}
