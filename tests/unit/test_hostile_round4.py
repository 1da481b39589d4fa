"""Round 4 hostile inputs, unit level."""

import os
import re
import secrets

from oslo_config import cfg
from oslo_log import log as logging
import pytest

from safe_launch import audit
from safe_launch import requirements
from safe_launch import spec as specs
from safe_launch import trail


def test_oslo_log_names_the_program_after_the_spec(tmp_path):
    """Under ``python -c`` the outermost frame is ``<string>``: oslo.log's file
    under log_dir, syslog ident and journal identifier are the spec's binary."""
    from safe_launch import service     # here: it loads oslo.service's eventlet backend
    for spec in (specs.NOVA_SCHEDULER, specs.NOVA_CONDUCTOR, specs.CINDER_SCHEDULER):
        service.name_binary(spec)
        conf = cfg.ConfigOpts()
        logging.register_options(conf)
        conf([], project="x")
        conf.set_override("log_dir", str(tmp_path))
        assert logging._get_log_file_path(conf) == os.path.join(
            str(tmp_path), spec.binary + ".log")


# -- database URL query arguments: the dialect's and the driver's own rule -------------


def refused(url, rule, masked, known=None):
    """The problem the URL rule finds in ``url`` (its %s the password), matching
    ``rule``, with the password masked as ``masked``."""
    password = secrets.token_hex(12)
    problem = (requirements.database_problem(url % password) if known is None else
               requirements.transport_query_problem(url % password, known))
    assert problem and re.search(rule, problem), problem
    assert password not in problem and masked in problem, problem


@pytest.mark.parametrize("query, rule", [
    ("port=abc", r"port should be of type int"),
    ("charset=bogus", r"unknown charset 'bogus'"),
    ("connect_timeout=x", r"invalid literal for int"),
    ("read_timeout=zz", r"invalid literal for int"),
    ("bogusarg=1", r"unexpected keyword argument 'bogusarg'"),
    ("ssl_ca=/nonexistent/ca.pem", r"FileNotFoundError"),
])
def test_a_database_url_query_the_driver_refuses(query, rule):
    refused("mysql+pymysql://nova:%s@db.example/nova?" + query, rule,
            "mysql+pymysql://nova:***@db.example/nova: ")


def test_a_password_quoted_by_the_driver_is_masked():
    """pymysql's TypeError quotes no value, int() does: a password given as a
    query value too is never shown."""
    password = "%d" % secrets.randbelow(10 ** 12) + "x"
    problem = requirements.database_problem(
        "mysql+pymysql://nova:%s@db/nova?connect_timeout=%s" % (password, password))
    assert problem and "invalid literal" in problem and password not in problem, problem


@pytest.mark.parametrize("url", [
    "mysql+pymysql://nova:pw@db/nova?charset=utf8",
    "mysql+pymysql://nova:pw@db/nova?charset=utf8mb4&read_timeout=5&plugin=dbcounter",
    "mysql+pymysql://nova:pw@db/nova?unix_socket=/run/mysqld/mysqld.sock",
    "sqlite:///nova.db?timeout=5",
    "mysql+pymysql://nova:pw@db/nova",
])
def test_database_urls_the_driver_accepts(url):
    assert requirements.database_problem(url) is None


# -- a refused audit key file: the trail still opens, unkeyed, naming the refusal ------

def test_a_refused_key_file_opens_the_trail_unkeyed(tmp_path):
    key = tmp_path / "audit.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o644)
    settings = trail.TrailSettings(str(tmp_path / "audit.jsonl"), str(key), True, False, None)
    sink, refusal = trail.open_file(settings)
    try:
        assert sink.key is None
        assert isinstance(refusal, audit.KeyRefused) and refusal.code == 78
        assert "accessible by group or others" in refusal.message
        assert key.read_text() not in refusal.message
    finally:
        sink.close()
    with pytest.raises(audit.KeyRefused):
        trail.preflight(settings)       # check: the same refusal, 78


# -- transport URL query arguments ---------------------------------------------------

class _Known:
    """The two LazyValues methods the rule uses, over a tiny table."""
    TYPES = {"ssl": lambda v: {"true": True, "false": False}[v] if v in ("true", "false")
             else (_ for _ in ()).throw(ValueError("Unexpected boolean value %r" % v)),
             "heartbeat_timeout_threshold": int}

    def entry(self, group, name):
        return ["x", ""] if group == "oslo_messaging_rabbit" and name in self.TYPES else None

    def type_of(self, group, name):
        return self.TYPES[name]


@pytest.mark.parametrize("query, rule", [
    ("heartbeat=x", r"'heartbeat' is not an option of \[oslo_messaging_rabbit\]"),
    ("ssl=maybe", r"'ssl': Unexpected boolean value 'maybe'"),
    ("heartbeat_timeout_threshold=abc", r"invalid literal"),
])
def test_a_transport_url_query_the_driver_refuses(query, rule):
    refused("rabbit://nova:%s@mq:5672/?" + query, rule, "nova:***@mq:5672", _Known())


@pytest.mark.parametrize("url", ["rabbit://nova:pw@mq/?ssl=true&heartbeat_timeout_threshold=30",
                                 "rabbit://nova:pw@mq/", "fake:/?anything=1"])
def test_transport_url_queries_the_driver_accepts(url):
    assert requirements.transport_query_problem(url, _Known()) is None
