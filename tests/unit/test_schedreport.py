"""The scheduling benchmark's arithmetic and report splicing (benchmarks/schedreport.py)
and its cgroup path lookup (benchmarks/cgroupv1.py): no services, no cgroups."""

import os
import subprocess
import tempfile
import unittest

from benchmarks import cgroupv1
from benchmarks import schedreport


def run(binary, workers=1, clients=4, cgroup="none", calls=100, errors=0, oom=0,
        latencies=(10.0, 20.0, 30.0), seconds=10, forked=1, seen=1):
    return {"binary": binary, "workers": workers, "clients": clients, "cgroup": cgroup,
            "calls": calls, "errors": errors, "seconds": seconds, "oom_kills": oom,
            "latencies_ms": list(latencies), "error_kinds": {"MessagingTimeout": errors}
            if errors else {}, "forked": forked, "worker_pids_seen": seen,
            "master_exited": None, "decision": None}


def doc(runs):
    return {"points": schedreport.aggregate(runs)}


class TestAggregate(unittest.TestCase):

    def test_rounds_pooled(self):
        points = schedreport.aggregate([
            run("stock", calls=100, latencies=[1.0, 2.0]),
            run("stock", calls=50, latencies=[3.0, 4.0, 100.0])])
        (p,) = points
        self.assertEqual(p["calls_per_s"], 7.5)          # 150 calls over 20 s
        self.assertEqual(p["calls_per_s_by_round"], [10.0, 5.0])
        self.assertEqual(p["p50_ms"], 3.0)
        self.assertEqual(p["p99_ms"], 100.0)
        self.assertEqual(p["rounds"], 2)

    def test_auto_workers_reported_as_forked(self):
        (p,) = schedreport.aggregate([run("stock", workers=None, cgroup="cpu1", forked=2),
                                      run("stock", workers=None, cgroup="cpu1", forked=2)])
        self.assertEqual((p["workers"], p["workers_requested"]), (2, "auto"))

    def test_percentile_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(schedreport.percentile(values, 50), 50)
        self.assertEqual(schedreport.percentile(values, 99), 99)
        self.assertIsNone(schedreport.percentile([], 50))


class TestJudge(unittest.TestCase):

    def verdicts(self, runs):
        return [ok for _, ok in schedreport.judge(doc(runs))]

    def test_equal_throughput_passes(self):
        self.assertEqual(self.verdicts([run("stock"), run("safe")]), [True, True])

    def test_ratio_below_target_misses(self):
        self.assertEqual(self.verdicts([run("stock", calls=100), run("safe", calls=98)])[0],
                         False)

    def test_nothing_answered_is_no_pass(self):
        self.assertEqual(self.verdicts([run("stock", calls=0, latencies=()),
                                        run("safe", calls=0, latencies=())])[0], False)

    def test_safe_serving_where_stock_served_nothing_is_better(self):
        stock = run("stock", workers=None, cgroup="mem", calls=0, latencies=(), errors=5, oom=1)
        self.assertEqual(self.verdicts([stock, run("safe", workers=None, cgroup="mem",
                                                   oom=1)])[0], True)

    def test_safe_error_misses(self):
        self.assertEqual(self.verdicts([run("stock"), run("safe", errors=1)]), [True, False])

    def test_constrained_needs_oom_and_errors_no_worse(self):
        stock = run("stock", workers=None, cgroup="mem", calls=50, errors=3, oom=2)
        self.assertEqual(self.verdicts([stock, run("safe", workers=None, cgroup="mem")])[0],
                         True)
        self.assertEqual(self.verdicts([stock, run("safe", workers=None, cgroup="mem",
                                                   oom=3)])[0], False)


class TestSplice(unittest.TestCase):

    def test_section_replaced_and_kept(self):
        section = "%s\nnew\n%s\n" % (schedreport.BEGIN, schedreport.END)
        old = "# main\n\n%s\nold\n%s\n" % (schedreport.BEGIN, schedreport.END)
        self.assertEqual(schedreport.splice(old, section),
                         "# main\n\n%s\nnew\n%s\n" % (schedreport.BEGIN, schedreport.END))
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write(old)
        self.addCleanup(os.unlink, f.name)
        kept = schedreport.keep_section(f.name, "# regenerated main report\n")
        self.assertIn("old", kept)
        self.assertTrue(kept.startswith("# regenerated main report\n"))

    def test_appended_when_absent(self):
        section = "%s\nx\n%s\n" % (schedreport.BEGIN, schedreport.END)
        text = schedreport.splice("# main\n", section)
        self.assertTrue(text.startswith("# main\n\n" + schedreport.BEGIN))


class TestCgroupPath(unittest.TestCase):

    def test_own_path_per_controller(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n")
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(cgroupv1.own_path("memory", f.name), "/process_api/abc")
        self.assertEqual(cgroupv1.own_path("cpu", f.name), "/")
        self.assertEqual(cgroupv1.own_path("pids", f.name), "/")

    def test_wrap_moves_then_execs_argv_unchanged(self):
        with tempfile.TemporaryDirectory() as d:
            group = type("G", (), {"path": d})()
            open(os.path.join(d, "cgroup.procs"), "w").close()
            argv = cgroupv1.wrap(["sh", "-c", 'echo "$1 $$"', "x", "a b"], [group])
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            with open(os.path.join(d, "cgroup.procs")) as f:
                moved = f.read().strip()
        self.assertEqual(out.split()[:2], ["a", "b"])
        self.assertEqual(out.split()[2], moved)     # the pid moved is the exec'd one
