import pytest

from safe_launch.errors import ExitCode, LaunchError
from safe_launch import patching
from safe_launch.spec import CINDER_SCHEDULER, NOVA_SCHEDULER

ALLOW = ["os", "select", "socket", "subprocess", "thread", "time"]
ENV = NOVA_SCHEDULER.patching_env


def decide(env=None, conf="auto", allow=ALLOW):
    environ = {} if env is None else {ENV: env}
    return patching.decide(environ, conf, "/etc/nova/nova.conf", "threading", allow, env=ENV)


def decide_cinder(env=None):
    spec = CINDER_SCHEDULER
    environ = {} if env is None else {spec.patching_env: env}
    return patching.decide(environ, None, None, spec.default_backend, ALLOW,
                           env=spec.patching_env, option=spec.backend_opt)


def test_cinder_defaults_to_eventlet_and_its_own_switch_selects_threading():
    decision = decide_cinder()
    assert decision.backend == "eventlet" and decision.source == "default of the service"
    assert decide_cinder("1").backend == "threading"
    assert "OS_CINDER_DISABLE_EVENTLET_PATCHING" in decide_cinder("1").source
    # nova's switch is not cinder's: ignored
    assert patching.decide({ENV: "1"}, None, None, "eventlet", ALLOW,
                           env=CINDER_SCHEDULER.patching_env, option=None).backend == "eventlet"


@pytest.mark.parametrize("env", ["1", "true", "YES"])
def test_env_true_values_select_threading(env):
    decision = decide(env, conf="eventlet")
    assert decision.backend == "threading" and decision.allowlist == ()
    assert ENV in decision.source


@pytest.mark.parametrize("env", ["0", "false", "no"])
def test_env_false_values_select_eventlet_with_the_allowlist(env):
    decision = decide(env)
    assert decision.backend == "eventlet"
    assert decision.allowlist == tuple(sorted(ALLOW))


@pytest.mark.parametrize("env", ["garbage", "2", "on"])
def test_unrecognised_env_value_is_a_config_error(env):
    with pytest.raises(LaunchError) as err:
        decide(env)
    assert err.value.code == ExitCode.CONFIG and ENV in err.value.message


def test_config_decides_without_env_and_auto_means_the_service_default():
    assert decide(conf="eventlet").backend == "eventlet"
    assert "concurrency_backend" in decide(conf="eventlet").source
    assert decide(conf="auto").backend == "threading"


def test_allowlist_with_a_name_eventlet_does_not_accept_lists_the_accepted_ones():
    with pytest.raises(LaunchError) as err:
        decide("0", allow=["os", "ssl", "thread"])
    assert err.value.code == ExitCode.CONFIG
    assert "'ssl'" in err.value.message
    assert all(t in err.value.message for t in patching.TARGETS)


def test_eventlet_without_thread_is_refused_with_the_reason():
    with pytest.raises(LaunchError) as err:
        decide("0", allow=["os", "socket"])
    assert "'thread'" in err.value.message


def test_allowlist_is_ignored_in_threading_mode():
    assert decide("1", allow=["ssl"]).allowlist == ()
