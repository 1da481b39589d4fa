"""The master's start deadline covers the creation and then the pre-serve step:
one budget ([safe_launch] start_timeout), the process ended with 75 when it runs out."""

import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent("""
    import sys, time, types
    from safe_launch import serving
    ns = types.SimpleNamespace
    failed = []
    s = serving.Serving(None, ns(close=lambda: None), ns(status=lambda text: None), {},
                        fail=lambda error: sys.stdout.write("FAIL %s %d %s\\n" % (
                            error.phase, error.code, error.problems[0])) or sys.stdout.flush())
    s.conf = ns(safe_launch=ns(start_timeout=float(sys.argv[1])))
    with s.master_start_deadline():
        time.sleep(float(sys.argv[2]))          # the creation
    with s.master_start_deadline("serve"):
        time.sleep(float(sys.argv[3]))          # nova's pre-serve step
    print("SERVED")
""")


def run(*args):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", SCRIPT] + [str(a) for a in args],
                            capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - started


def test_a_hung_pre_serve_step_ends_the_launch_with_75_within_what_create_left():
    result, took = run(4, 3, 30)
    assert result.returncode == 75, result.stdout + result.stderr
    assert result.stdout.startswith("FAIL serve 75 no worker became ready within 4s"), \
        result.stdout
    assert took < 6        # 3 s of creation left 1 s, not a new 4 s (nor 30 s)


def test_a_start_within_the_budget_serves():
    result, _ = run(5, 0.2, 0.2)
    assert result.returncode == 0 and result.stdout.strip() == "SERVED", \
        result.stdout + result.stderr
