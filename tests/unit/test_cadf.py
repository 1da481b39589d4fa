import json
import logging
import os
import threading
import time

from oslo_config import cfg
import pytest

from safe_launch import cadf
from safe_launch import events
from safe_launch import masking
from safe_launch import spec
from tests.unit import records

SERVICE = (spec.NOVA_SCHEDULER.binary, spec.NOVA_SCHEDULER.cadf_type)


@pytest.fixture
def messaging():
    """oslo_messaging, imported only by the tests that need it (it imports eventlet)."""
    import oslo_messaging
    return oslo_messaging


def event(name, outcome="success", seq=1, **data):
    return records.event(name, outcome, seq=seq,
                         launch_id="9b2f4a4e-0d1c-4c55-8d43-3f1e2f0a9b10", **data)


@pytest.mark.parametrize("name,outcome,data,expected", [
    (events.LAUNCH_STARTED, "pending", {}, ("activity", "start", "pending", None)),
    (events.CONFIG_VALIDATED, "success", {},
     ("control", "evaluate", "success", {"policyType": "safe_launch",
                                         "policyId": "config.validated"})),
    (events.WORKERS_BOUNDED, "success", {}, ("control", "evaluate", "success",
                                             {"policyType": "safe_launch",
                                              "policyId": "workers.bounded"})),
    (events.SERVICE_READY, "success", {}, ("activity", "start", "success", None)),
    (events.STOP_REQUESTED, "success", {"signal": "SIGTERM"},
     ("activity", "stop", "success", {"reasonType": "signal", "reasonCode": "SIGTERM"})),
    (events.SERVICE_STOPPED, "success", {"status": 0, "signal": None},
     ("activity", "stop", "success", None)),
    (events.LAUNCH_FAILED, "failure", {"exit_code": 78, "phase": "parse"},
     ("activity", "start", "failure", {"reasonType": "sysexits", "reasonCode": "78"})),
    (events.WORKER_DIED, "failure", {"worker_pid": 9}, ("activity", "stop", "failure", None)),
    ("audit.gap", "failure", {"lost": 2}, ("activity", "unknown", "failure", None)),
    ("some.thing", "odd", {}, ("activity", "unknown", "unknown", None)),
])
def test_mapping(name, outcome, data, expected):
    payload = cadf.build_event(event(name, outcome, **data), "host1", 107, "nova",
                               *SERVICE).as_dict()
    assert (payload["eventType"], payload["action"], payload["outcome"],
            payload.get("reason")) == expected


def test_event_is_valid_cadf_with_resources_tags_and_attachment():
    ev = event(events.LAUNCH_STARTED, "pending", seq=3, pid=10)
    built = cadf.build_event(ev, "host1", 107, "nova", *SERVICE)
    assert built.is_valid()
    payload = built.as_dict()
    assert payload["typeURI"] == "http://schemas.dmtf.org/cloud/audit/1.0/event"
    assert payload["eventTime"] == ev.ts and payload["name"] == "launch.started"
    assert payload["initiator"]["typeURI"] == "service/security/account/user"
    assert payload["initiator"]["name"] == "nova"
    assert payload["target"] | {"id": None} == {
        "id": None, "typeURI": "service/compute/scheduler", "name": "nova-scheduler"}
    assert payload["observer"]["typeURI"] == "service/security"
    assert payload["tags"] == ["correlation_id?value=" + ev.launch_id]
    assert payload["attachments"] == [{"typeURI": "mime:application/json",
                                       "name": "safe_launch", "content": ev.as_dict()}]
    again = cadf.build_event(ev, "host1", 107, "nova", *SERVICE).as_dict()
    assert again["id"] == payload["id"]              # stable: a collector can deduplicate
    assert cadf.build_event(event(events.LAUNCH_STARTED, seq=4), "host1", 107,
                            "nova", *SERVICE).as_dict()["id"] != payload["id"]


class Collector:
    def __init__(self):
        self.received = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.received.append((publisher_id, event_type, payload))


def test_published_on_the_notifications_topic_masked(messaging):
    conf = cfg.ConfigOpts()
    conf([])
    transport = messaging.get_notification_transport(conf, url="fake:/")
    delivered = []
    sink = cadf.CadfSink(conf, *SERVICE, transport=transport, publisher_id="safe-launch.host1",
                         on_success=lambda: delivered.append(1))
    masker = masking.Masker()
    emitter = events.Emitter([sink], mask=masker)
    emitter.emit(events.LAUNCH_STARTED, outcome="pending", summary="starting",
                 argv=["--os-password", "OsPw0006"], url="rabbit://u:Rp000004@h/")
    emitter.emit(events.SERVICE_STOPPED, summary="stopped")
    emitter.close()
    assert (sink.sent, sink.dropped, len(delivered)) == (2, 0, 2)

    collector = Collector()
    listener = messaging.get_notification_listener(
        transport, [messaging.Target(topic="notifications")], [collector],
        executor="threading")
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while len(collector.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        listener.stop()
        listener.wait()
    assert [(p, t) for p, t, _ in collector.received] == [
        ("safe-launch.host1", "audit.safe_launch.launch.started"),
        ("safe-launch.host1", "audit.safe_launch.service.stopped")]
    text = json.dumps([payload for _, _, payload in collector.received])
    assert "OsPw0006" not in text and "Rp000004" not in text
    assert collector.received[0][2]["outcome"] == "pending"


def test_a_dead_broker_does_not_block_emit(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\ntransport_url = rabbit://guest:Gu3stPw0@127.0.0.1:1/\n")
    conf = cfg.ConfigOpts()
    conf(["--config-file", str(path)])
    failures = []
    delivered = []
    sink = cadf.CadfSink(conf, *SERVICE, on_failure=failures.append,
                         on_success=lambda: delivered.append(1))
    assert sink.notifier.retry == 0     # [oslo_messaging_notifications] retry is -1: forever
    emitter = events.Emitter([sink])
    start = time.monotonic()
    for _ in range(20):
        emitter.emit(events.LAUNCH_STARTED, outcome="pending", summary="starting")
    assert time.monotonic() - start < 0.05
    start = time.monotonic()
    sink.close(timeout=5)
    assert time.monotonic() - start < 5 and not sink._thread.is_alive()
    assert (sink.sent, sink.dropped, sink.undelivered, emitter.sink_failures) == (20, 0, 20, {})
    # each failed delivery is one counted failure, not the notifier's traceback and payload
    assert len(failures) == 20 and "not delivered" in str(failures[0])
    assert not delivered        # queued is not delivered: no false recovery
    assert "Could not send notification" not in caplog.text
    assert "Gu3stPw0" not in caplog.text


def test_a_full_queue_drops_and_counts_without_blocking(messaging):
    conf = cfg.ConfigOpts()
    conf([])
    sink = cadf.CadfSink(conf, *SERVICE, transport=messaging.get_notification_transport(
        conf, url="fake:/"), queue_size=2)
    release = threading.Event()

    class StuckNotifier:
        def info(self, ctxt, event_type, payload):
            release.wait(10)

    sink.notifier = StuckNotifier()
    start = time.monotonic()
    for seq in range(1, 7):
        sink.handle(event(events.SERVICE_READY, seq=seq))
    assert time.monotonic() - start < 0.05
    assert sink.dropped in (3, 4)               # 2 queued (+1 being sent)
    release.set()
    sink.close(timeout=5)
    assert sink.sent + sink.dropped == 6


def test_an_event_pycadf_refuses_is_dropped_and_the_thread_goes_on(messaging):
    conf = cfg.ConfigOpts()
    conf([])
    sink = cadf.CadfSink(conf, *SERVICE, transport=messaging.get_notification_transport(
        conf, url="fake:/"))
    sink.handle(events.Event(None, 1, "2025-01-02T03:04:05Z", "x", "success", "", {}))
    sink.handle(event(events.SERVICE_READY))
    sink.close(timeout=5)
    assert (sink.sent, sink.dropped) == (1, 1)


@pytest.mark.filterwarnings("ignore:Using fork:DeprecationWarning")
def test_a_forked_child_does_not_publish(messaging):
    conf = cfg.ConfigOpts()
    conf([])
    sink = cadf.CadfSink(conf, *SERVICE, transport=messaging.get_notification_transport(
        conf, url="fake:/"))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sink.handle(event(events.WORKER_STARTED))
            sink.close()
            code = 0 if (sink.dropped, sink._queue.qsize()) == (1, 0) else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    sink.close()
    assert (sink.sent, sink.dropped) == (0, 0)
