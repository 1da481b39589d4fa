"""``python -m benchmarks.schedclient NOVA_CONF CLIENT_CONF``: nova's side of the
scheduling benchmark, in one persistent process.

It loads nova's configuration like a nova service (``nova.config.parse_args``:
database API and RPC), then answers one JSON command per stdin line with one
JSON line on stdout:

- ``{"op": "hosts", "n": N, "placement": URL}``: N compute hosts, each a
  resource provider with inventories created through the placement API and a
  ``nova-compute`` service plus a compute node created through nova's own
  objects (``Service.create``, ``ComputeNode.create``) in the cell database,
  the node's uuid being its provider's: what a fake-driver nova-compute
  registers, without 100 processes;
- ``{"op": "probe", "timeout": S}``: one ``select_destinations`` call after
  another until one is answered (the scheduler is serving);
- ``{"op": "load", "clients": C, "warmup": W, "seconds": D}``: C threads, each
  issuing ``select_destinations`` calls back to back through nova's
  ``SchedulerAPI`` with a RequestSpec built by ``RequestSpec.from_components``
  (one new instance uuid per call, so the scheduler claims allocations in
  placement as for a real boot); calls ending in the D seconds after a W s
  warm-up count: calls, errors (any exception, e.g. NoValidHost or a timeout)
  and the latency of every answered call.

Blocking oslo.messaging in threads: nothing here imports nova.cmd, so nothing
monkey patches.
"""

import json
import logging
import sys
import threading
import time
import urllib.request
import uuid

FLAVOR = {"vcpus": 1, "memory_mb": 512, "root_gb": 1}
# Each host's capacity: large enough that the claims of a whole run (cleared
# between launches anyway) never exhaust it, so NoValidHost means a failure.
CAPACITY = {"VCPU": 4096, "MEMORY_MB": 4096 * 1024, "DISK_GB": 100000}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def placement_call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "X-Auth-Token": "admin", "Content-Type": "application/json",
        "OpenStack-API-Version": "placement 1.20", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None


def create_hosts(ctx, objects, n, placement):
    cell = next(c for c in objects.CellMappingList.get_all(ctx) if not c.is_cell0())
    for index in range(n):
        host = "bench-compute-%03d" % index
        rp = str(uuid.uuid5(uuid.NAMESPACE_DNS, host))
        placement_call(placement, "POST", "/resource_providers", {"name": host, "uuid": rp})
        placement_call(placement, "PUT", "/resource_providers/%s/inventories" % rp, {
            "resource_provider_generation": 0,
            "inventories": {rc: {"total": total, "max_unit": total}
                            for rc, total in CAPACITY.items()}})
        # nova asks for root_required=OWNER_NOVA: nova-compute marks its providers so.
        placement_call(placement, "PUT", "/resource_providers/%s/traits" % rp, {
            "resource_provider_generation": 1, "traits": ["OWNER_NOVA"]})
        service = objects.Service(ctx, host=host, binary="nova-compute", topic="compute",
                                  report_count=0, disabled=False)
        service.create()
        # What nova-manage cell_v2 discover_hosts makes: the scheduler tracks the
        # instances of mapped hosts only (and logs each unmapped one on every call).
        objects.HostMapping(ctx, host=host, cell_mapping=cell).create()
        node = objects.ComputeNode(
            ctx, uuid=rp, host=host, hypervisor_hostname=host, service_id=service.id,
            vcpus=CAPACITY["VCPU"], memory_mb=CAPACITY["MEMORY_MB"],
            local_gb=CAPACITY["DISK_GB"], vcpus_used=0, memory_mb_used=0, local_gb_used=0,
            free_ram_mb=CAPACITY["MEMORY_MB"], free_disk_gb=CAPACITY["DISK_GB"],
            disk_available_least=CAPACITY["DISK_GB"], current_workload=0, running_vms=0,
            hypervisor_type="fake", hypervisor_version=1000, cpu_info="{}",
            host_ip="127.0.0.1", supported_hv_specs=[], stats={},
            cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0)
        node.create()
    return {"ok": True, "hosts": n}


class Caller:
    def __init__(self, context, objects, rpcapi):
        self.context, self.objects = context, objects
        self.api = rpcapi.SchedulerAPI()
        self.flavor = objects.Flavor(
            id=1, flavorid="bench", name="bench", ephemeral_gb=0, swap=0, extra_specs={},
            rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True, description=None,
            **FLAVOR)
        self.image = objects.ImageMeta.from_dict({
            "id": str(uuid.uuid4()), "name": "bench", "properties": {}, "disk_format": "raw",
            "container_format": "bare", "min_ram": 0, "min_disk": 0, "size": 0})

    def call(self):
        """One select_destinations call, with its own request context (request id)."""
        ctx = self.context.get_admin_context()
        instance = str(uuid.uuid4())
        spec = self.objects.RequestSpec.from_components(
            ctx, instance, self.image, self.flavor, None,
            self.objects.InstancePCIRequests(requests=[]), {}, None, None,
            project_id="bench-project", user_id="bench-user")
        selections = self.api.select_destinations(ctx, spec, [instance],
                                                  return_objects=True, return_alternates=True)
        if not selections or not selections[0]:
            raise RuntimeError("empty selection")
        return selections[0][0].service_host


def probe(caller, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            return {"ok": True, "host": caller.call()}
        except Exception as exc:
            last = "%s: %s" % (type(exc).__name__, str(exc)[:300])
            time.sleep(0.5)
    return {"ok": False, "error": last}


def load(caller, clients, warmup, seconds, fill_timeout=300):
    """C threads calling back to back; the window opens ``warmup`` s after every
    thread has had one call answered or failed (the queue is full: with a slow
    service a fixed warm-up would measure the filling), and lasts ``seconds``.
    Errors count over the whole command (warm-up and the calls finishing after
    the window too): a call that fails is never hidden."""
    lock = threading.Lock()
    latencies, errors = [], {}
    first = threading.Barrier(clients + 1)
    window = {}
    opened = threading.Event()

    def loop():
        done_first = False
        while True:
            t0 = time.monotonic()
            if opened.is_set() and t0 >= window["end"]:
                return
            try:
                caller.call()
                failure = None
            except Exception as exc:
                failure = type(exc).__name__
            t1 = time.monotonic()
            with lock:
                if failure is not None:
                    errors[failure] = errors.get(failure, 0) + 1
                elif opened.is_set() and window["begin"] <= t1 <= window["end"]:
                    latencies.append(t1 - t0)
            if not done_first:
                done_first = True
                try:
                    first.wait(fill_timeout)
                except threading.BrokenBarrierError:
                    pass

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        first.wait(fill_timeout)
        filled = True
    except threading.BrokenBarrierError:
        filled = False
    fill = time.monotonic() - start
    window["begin"] = time.monotonic() + warmup
    window["end"] = window["begin"] + seconds
    opened.set()
    for thread in threads:
        thread.join()
    return {"ok": True, "calls": len(latencies), "errors": sum(errors.values()),
            "seconds": seconds, "fill_s": round(fill, 2), "filled": filled,
            "latencies_ms": sorted(round(x * 1000, 2) for x in latencies),
            "error_kinds": errors, "overrun_s": round(time.monotonic() - window["end"], 2)}


def main(argv=None):
    nova_conf, client_conf = (argv or sys.argv[1:])[:2]
    from nova import config
    from nova import context
    from nova import objects
    from nova.scheduler import rpcapi
    objects.register_all()
    config.parse_args(["schedclient", "--config-file", nova_conf, "--config-file", client_conf])
    logging.getLogger().setLevel(logging.ERROR)
    ctx = context.get_admin_context()
    caller = Caller(context, objects, rpcapi)
    emit({"ok": True, "up": True})
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "hosts":
                emit(create_hosts(ctx, objects, command["n"], command["placement"]))
            elif command["op"] == "probe":
                emit(probe(caller, command["timeout"]))
            elif command["op"] == "load":
                emit(load(caller, command["clients"], command["warmup"], command["seconds"]))
            elif command["op"] == "quit":
                break
        except Exception as exc:
            emit({"ok": False, "error": "%s: %s" % (type(exc).__name__, str(exc)[:500])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
