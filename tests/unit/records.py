"""Event records for the unit tests: one builder, one fixed time stamp."""

from safe_launch import events

TS = "2025-01-02T03:04:05.000006Z"


def event(name=events.SERVICE_READY, outcome="success", summary="summary", seq=1,
          launch_id="L-1", **data):
    """An :class:`events.Event` as the emitter would hand it to a sink."""
    return events.Event(launch_id, seq, TS, name, outcome, summary, data)
