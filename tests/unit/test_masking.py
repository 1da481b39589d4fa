import io
import json
import os
import re
import secrets
import shutil
import socket
import string
import tempfile
import textwrap
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg
import pytest

from safe_launch import argv
from safe_launch import audit
from safe_launch import events
from safe_launch import journal
from safe_launch import masking
from safe_launch.masking import MASK
from safe_launch.spec import NOVA_SCHEDULER
from safe_launch import validate

# (text, secrets that must not survive, text that must survive).  The first
# block is every row of audit.md section 2 (oslo.utils' mask_password leaks
# or masks them).
CORPUS = [
    ("connection=mysql+pymysql://nova:S3cretDb@db/nova", ["S3cretDb"], ["connection="]),
    ("transport_url=rabbit://u:Rabb1tPw@h:5672/", ["Rabb1tPw"],
     ["transport_url=rabbit://u:", "@h:5672/"]),
    ("backend_argument = url:redis://:Red1sPw@cache:6379", ["Red1sPw"], ["@cache:6379"]),
    ("--os-password OsPw0001", ["OsPw0001"], ["--os-password "]),
    ("--os-token OsTok001", ["OsTok001"], ["--os-token "]),
    ("X-Auth-Token: gAAAAABxTok", ["gAAAAABxTok"], ["X-Auth-Token: "]),
    ("token: Tok00002", ["Tok00002"], ["token: "]),
    ("secret Sec00001", ["Sec00001"], ["secret "]),
    ("--memcache_secret_key=Mck00001", ["Mck00001"], ["--memcache_secret_key="]),
    ("--fixed_key=Fk000001", ["Fk000001"], ["--fixed_key="]),
    ("--db-pass=Dbp00001", ["Dbp00001"], ["--db-pass="]),
    ("--passwd=Pwd00001", ["Pwd00001"], ["--passwd="]),
    ("pwd=Pwd00002", ["Pwd00002"], ["pwd="]),
    ("api_key=Api00001", ["Api00001"], ["api_key="]),
    ("credential=Cred0001", ["Cred0001"], ["credential="]),
    ("--password=Pw000001", ["Pw000001"], ["--password="]),
    ("--password Pw000002", ["Pw000002"], ["--password "]),
    ("--os-password=Pw000003", ["Pw000003"], ["--os-password="]),
    ("OS_PASSWORD=Pw000004", ["Pw000004"], ["OS_PASSWORD="]),
    ('"password": "Pw000005"', ["Pw000005"], ['"password": "']),
    # URLs beyond the table.
    ("rabbit://u:Pa@ssw0rd@host:5672/", ["Pa@ssw0rd", "ssw0rd"], ["rabbit://u:", "@host:5672/"]),
    ("rabbit://u1:Mh0001pw@h1:5672,u2:Mh0002pw@h2:5672/nova", ["Mh0001pw", "Mh0002pw"],
     ["u1:", "@h1:5672,u2:", "@h2:5672/nova"]),
    ("rabbit://u:Sl/ash,pw1@h/", ["Sl/ash,pw1", "ash,pw1"], ["@h/"]),
    ("amqp://u:V6pw0001@[::1]:5672/", ["V6pw0001"], ["@[::1]:5672/"]),
    ("sql_connection=postgresql://nova:PgPw0001@db/nova?sslmode=require", ["PgPw0001"], []),
    ("failed: https://admin:Https001@keystone:5000/v3 and then more text", ["Https001"],
     ["@keystone:5000/v3 and then more text"]),
    ("memcached://mc:Mc000001@mc1:11211 down", ["Mc000001"], ["@mc1:11211 down"]),
    # key=value / key: value forms.
    ("{'password': 'Pw sp 01', 'user': 'bob'}", ["Pw sp 01", "sp 01"], ["'user': 'bob'"]),
    ("Authorization: Bearer Abc123tok", ["Abc123tok"], ["Authorization: "]),
    ("user=bob:password=Pw000006", ["Pw000006"], ["user=bob:"]),
    ("args: ['--password=Pw000007', '--debug']", ["Pw000007"], ["'--debug'"]),
    ("admin_password = Pw 000 8", ["Pw 000 8", "000 8"], ["admin_password = "]),
    ("db_password:Pw000009", ["Pw000009"], ["db_password:"]),
    ("OS_AUTH_TOKEN=Tok00003", ["Tok00003"], ["OS_AUTH_TOKEN="]),
    ("--vault-root-token-id=Vt000001 --debug", ["Vt000001"], [" --debug"]),
    ("metadata_proxy_shared_secret = Mps00001", ["Mps00001"], []),
    ("approle_secret_id=Ars00001", ["Ars00001"], []),
    ("host_password=Hpw00001", ["Hpw00001"], []),
    ('{"auth": {"token": "Tok00005", "user": "nova"}}', ["Tok00005"], ['"user": "nova"']),
]

# Non-secrets: must come out unchanged.
UNCHANGED = [
    "nova-scheduler --config-file /etc/nova/nova.conf --debug",
    "connection_recycle_time=3600",
    "www_authenticate_uri=http://keystone:5000/v3",
    "transport_url=rabbit://rabbit-host:5672/",
    "http://host/a@b/c",
    "workers=4 (bounded from 16)",
    "keystone_authtoken: auth_type=password",
    "[key_manager] backend=barbican",
    # A path is where a secret is, not the secret.
    "--password-file /etc/nova/pwfile",
    "private_key_file=/etc/nova/k.pem",
    "audit key file /etc/safe_launch/audit.key cannot be read",
    "[safe_launch] audit_key_file = /etc/safe_launch/audit.key",
    '{"ssl_key_dir": "/etc/ssl/private"}',
]


@pytest.mark.parametrize("text,secrets,kept", CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_corpus_secrets_are_masked_and_the_rest_survives(text, secrets, kept):
    masked = masking.mask(text)
    assert MASK in masked
    for secret in secrets:
        assert secret not in masked
    for part in kept:
        assert part in masked


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("text,masked", [
    ('password: "unterminated', 'password: "***'),
    ("cmd '--os-password=a b' next", "cmd '--os-password=***' next"),
    ('--os-password "a b" --debug', '--os-password "***" --debug'),
    ("password = a b\nnext = 1", "password = ***\nnext = 1"),
])
def test_exact_forms(text, masked):
    assert masking.mask(text) == masked


@pytest.mark.parametrize("text", UNCHANGED)
def test_non_secrets_are_unchanged(text):
    assert masking.mask(text) == text


def test_argv_lists_mask_the_element_after_a_secret_flag():
    argv = ["--config-file", "/etc/nova/nova.conf", "--os-password", "Pw000010",
            "--token", "Tok00006", "--db-pass=Dbp00002", "--debug", "--password", "--verbose"]
    assert masking.mask(argv) == [
        "--config-file", "/etc/nova/nova.conf", "--os-password", MASK,
        "--token", MASK, "--db-pass=" + MASK, "--debug", "--password", "--verbose"]
    assert masking.mask(tuple(argv))[3] == MASK


def test_dicts_mask_secret_keys_and_recurse():
    data = {"password": "Pw000011", "api_key": 12345, "key": None, "debug": True,
            "os_token": ["Tok00008", ("Tok00009", None)], "key_manager": {"backend": "x"},
            "argv": ["--os-token", "Tok00007"],
            "url": "rabbit://u:Rp000001@h/", "nested": {"db_password": "Pw000012"}}
    assert masking.mask(data) == {
        "password": MASK, "api_key": MASK, "key": None, "debug": True,
        "os_token": [MASK, [MASK, None]], "key_manager": {"backend": "x"},
        "argv": ["--os-token", MASK], "url": "rabbit://u:%s@h/" % MASK,
        "nested": {"db_password": MASK}}
    assert data["password"] == "Pw000011"       # the input is not changed


@pytest.mark.parametrize("name,secret", [
    ("password", True), ("os_password", True), ("X-Auth-Token", True), ("fixed_key", True),
    ("memcache_secret_key", True), ("--db-pass", True), ("api_key", True), ("pwd", True),
    ("slave_connection", True), ("OS_DATABASE__CONNECTION", True), ("adminPass", True),
    ("keystone", False), ("connection_recycle_time", False), ("workers", False),
    ("host", False), ("passthrough", False), ("monkey_patch_allowlist", False),
    ("audit_key_file", False), ("password_file", False), ("--password-file", False),
    ("ssl_key_dir", False), ("token_path", False), ("key_files", False),
    ("audit_key", True), ("key_file_password", True), ("passwordfile", True),
])
def test_is_secret_name(name, secret):
    assert masking.is_secret_name(name) is secret


def test_registered_values_are_masked_anywhere_also_url_encoded():
    masker = masking.Masker()
    masker.add_secret("hunter22")
    masker.add_secret("p@ss word")
    masker.add_secret("abc")                    # too short: ignored
    masked = masker({"note": "hunter22 in prose", "hunter22": ["x hunter22 y"],
                     "enc": "p%40ss%20word and p@ss word", "short": "abc"})
    assert "hunter22" not in repr(masked) and "ss word" not in repr(masked)
    assert "ss%20word" not in repr(masked)
    assert masked["short"] == "abc" and masked["note"] == MASK + " in prose"


def test_the_emitter_masks_every_sink_input():
    sink, masker = events.Collector(), masking.Masker()
    masker.add_secret("FromConf01")
    emitter = events.Emitter([sink], mask=masker)
    emitter.emit(events.LAUNCH_STARTED, summary="launch with --os-password OsPw0002",
                 argv=["--os-password", "OsPw0003", "--fixed_key=Fk000002"],
                 error="cannot connect to rabbit://u:Rp000002@h/: FromConf01 refused")
    text = repr(sink.events)
    for secret in ("OsPw0002", "OsPw0003", "Fk000002", "Rp000002", "FromConf01"):
        assert secret not in text


def test_secret_values_from_conf(tmp_path):
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("transport_url"), cfg.IntOpt("workers"),
                        cfg.StrOpt("host")])
    conf.register_opts([cfg.StrOpt("connection", secret=True),
                        cfg.IntOpt("max_pool_size")], group="database")
    conf.register_opts([cfg.StrOpt("fixed_key", secret=True),
                        cfg.ListOpt("backend_argument", secret=True)], group="secrets")
    conf.register_opts([cfg.StrOpt("plain")], group="other")
    path = tmp_path / "nova.conf"
    path.write_text(
        "[DEFAULT]\ntransport_url = rabbit://u:Tp000001@h1,u:Tp000002@h2/\nworkers = many\n"
        "host = compute1\n"
        "[database]\nconnection = mysql+pymysql://nova:Db%40pw01@db/nova\n"
        "max_pool_size = x\n"
        "[secrets]\nfixed_key = Fk000003\nbackend_argument = a:Ba000001,b:Ba000002\n"
        "[other]\nplain = visible\n")
    conf(["--config-file", str(path)])
    found = masking.secret_values_from_conf(conf)
    assert {"Tp000001", "Tp000002", "Db%40pw01", "Db@pw01", "Fk000003",
            "a:Ba000001", "b:Ba000002",
            "mysql+pymysql://nova:Db%40pw01@db/nova"} <= found
    assert not {"visible", "compute1"} & found
    # The validate phase reads each value once and hands it to the masker: the
    # same secrets, with the invalid values (workers, max_pool_size) reported.
    values = []
    report = validate.eager_check(conf, [str(path)], values=values)
    assert ("fixed_key", "Fk000003") in [(o.dest, v) for o, v in values]
    assert {p.option for p in report.errors} == {"workers", "max_pool_size"}
    assert masking.secret_values_of(values) == found


def test_secret_values_from_argv():
    assert masking.secret_values_from_argv([
        "nova-scheduler", "--os-password", "ArgPw004", "--token=ArgTok03", "--debug",
        "--db-pass", "--verbose", "--url", "amqp://u:ArgUrl02@h/", "--config-file", "x.conf",
        "--password-file", "/etc/pw"]) == {"ArgPw004", "ArgTok03", "ArgUrl02"}


def test_secret_values_from_env():
    found = masking.secret_values_from_env({
        "OS_PASSWORD": "EnvPw001", "OS_DATABASE__CONNECTION": "sqlite:///x.db",
        "OS_AUTH_URL": "https://admin:EnvPw002@keystone/v3", "OS_USERNAME": "nova",
        "OS_REGION_NAME": "RegionOne", "OS_DEFAULT__DEBUG": "true", "HOME": "/root",
        "PASSWORD": "NotOsEnv"})
    assert found == {"EnvPw001", "sqlite:///x.db", "EnvPw002"}


_PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation.replace(
    ",", ""), min_size=1, max_size=24)


@given(_PASSWORDS)
def test_any_url_password_is_masked(password):
    url = "rabbit://nova:%s@rabbit1:5672/vhost" % password
    assert masking.mask("url " + url) == "url rabbit://nova:%s@rabbit1:5672/vhost" % MASK


@given(st.text(alphabet=string.ascii_letters + string.digits + "!#$%&()*+./;<>?@[]^_{|}~",
               min_size=1, max_size=24).filter(lambda s: not s.startswith("--")))
def test_any_secret_flag_value_is_masked(value):
    assert masking.mask(["--os-password", value]) == ["--os-password", MASK]
    assert masking.mask("--os-password " + value) == "--os-password " + MASK
    assert masking.mask("--os-password=" + value) == "--os-password=" + MASK


def test_thirty_secrets_from_argv_config_and_env_reach_no_sink(tmp_path):
    conf_secrets = ["DbConn01", "ApiDb001", "Rabbit01", "Rabbit02", "FixedK01", "Shared01",
                    "VaultT01", "Redis001", "Memc0001", "VmHost01", "VaultA01"]
    env_secrets = ["EnvPass1", "EnvTok01", "EnvRab01", "EnvFix01", "EnvMck01", "EnvApr01"]
    argv_secrets = ["ArgPw001", "ArgTok01", "ArgDbp01", "ArgMck01", "ArgVlt01", "ArgKey01",
                    "ArgPw002", "ArgCred1", "ArgUrl01", "ArgSec01", "ArgPwd01", "ArgAuth1",
                    "ArgTok02", "ArgPw003"]
    secrets = conf_secrets + env_secrets + argv_secrets
    assert len(secrets) >= 30
    path = tmp_path / "nova.conf"
    path.write_text(textwrap.dedent("""
        [DEFAULT]
        transport_url = rabbit://nova:Rabbit01@r1:5672,nova:Rabbit02@r2:5672/
        metadata_proxy_shared_secret = Shared01
        [database]
        connection = mysql+pymysql://nova:DbConn01@db/nova
        [api_database]
        connection = mysql+pymysql://nova_api:ApiDb001@db/nova_api
        [key_manager]
        fixed_key = FixedK01
        [vault]
        root_token_id = VaultT01
        approle_secret_id = VaultA01
        [cache]
        backend_argument = url:redis://:Redis001@cache:6379
        memcache_secret_key = Memc0001
        [vmware]
        host_password = VmHost01
        """))
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("transport_url"),
                        cfg.StrOpt("metadata_proxy_shared_secret", secret=True)])
    for group, opts in (("database", [cfg.StrOpt("connection", secret=True)]),
                        ("api_database", [cfg.StrOpt("connection", secret=True)]),
                        ("key_manager", [cfg.StrOpt("fixed_key", secret=True)]),
                        ("vault", [cfg.StrOpt("root_token_id", secret=True),
                                   cfg.StrOpt("approle_secret_id", secret=True)]),
                        ("cache", [cfg.MultiStrOpt("backend_argument", secret=True),
                                   cfg.StrOpt("memcache_secret_key", secret=True)]),
                        ("vmware", [cfg.StrOpt("host_password", secret=True)])):
        conf.register_opts(opts, group=group)
    conf(["--config-file", str(path)])
    environ = {"OS_PASSWORD": "EnvPass1", "OS_AUTH_TOKEN": "EnvTok01",
               "OS_DEFAULT__TRANSPORT_URL": "rabbit://u:EnvRab01@r/",
               "OS_KEY_MANAGER__FIXED_KEY": "EnvFix01",
               "OS_CACHE__MEMCACHE_SECRET_KEY": "EnvMck01",
               "OS_VAULT__APPROLE_SECRET_ID": "EnvApr01"}
    argv = ["nova-scheduler", "--config-file", str(path), "--os-password", "ArgPw001",
            "--os-token=ArgTok01", "--db-pass", "ArgDbp01", "--memcache_secret_key=ArgMck01",
            "--vault-token", "ArgVlt01", "--api_key", "ArgKey01", "--password=ArgPw002",
            "--credential", "ArgCred1", "--url", "https://u:ArgUrl01@h/", "--secret=ArgSec01",
            "--pwd", "ArgPwd01", "--auth-key", "ArgAuth1", "--os-auth-token", "ArgTok02",
            "--admin_password=ArgPw003", "--debug"]

    masker = masking.Masker()
    for value in (masking.secret_values_from_conf(conf) | masking.secret_values_from_env(environ)
                  | masking.secret_values_from_argv(argv)):
        masker.add_secret(value)
    console = io.StringIO()
    sockdir = tempfile.mkdtemp(prefix="sl-", dir="/tmp")
    try:
        jpath = os.path.join(sockdir, "journal")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(jpath)
        emitter = events.Emitter([events.ConsoleSink("nova-scheduler", stream=console),
                                  audit.AuditFile(tmp_path / "audit.jsonl").open(),
                                  journal.JournalSink(journal_socket=jpath)], mask=masker)
        emitter.emit(events.LAUNCH_STARTED, outcome="pending", summary=" ".join(argv),
                     argv=argv, environ=environ)
        emitter.emit(events.CONFIG_PARSED, summary="parsed", config=path.read_text())
        emitter.emit(events.LAUNCH_FAILED, outcome="failure", exit_code=75,
                     summary="cannot connect: %s" % ", ".join(secrets),
                     error=repr(sorted(secrets)))
        emitter.close()
        server.settimeout(5)
        datagrams = b"".join(server.recv(200000) for _ in range(3))
        server.close()
    finally:
        shutil.rmtree(sockdir)
    outputs = {"audit": (tmp_path / "audit.jsonl").read_bytes(), "journal": datagrams,
               "console": console.getvalue().encode()}
    assert not emitter.sink_failures
    for name, raw in outputs.items():
        assert b"ArgPw001" not in raw and MASK.encode() in raw, name
        leaked = [s for s in secrets if s.encode() in raw]
        assert leaked == [], name
    assert audit.verify(tmp_path / "audit.jsonl").records == 3


# -- secrets registered before anything can print them (register_declared) -----------


def nonce(tail=""):
    return "sl" + secrets.token_hex(8) + tail


def harmless_conf():
    """Options declared secret under names the heuristic does not flag, like nova's."""
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("approle_role_id", secret=True),
                        cfg.StrOpt("plain")], group="vault")
    conf.register_opts([cfg.MultiStrOpt("backend_argument", secret=True)], group="cache")
    conf.register_opts([cfg.StrOpt("role_handle", secret=True, deprecated_name="old_handle",
                                   deprecated_group="legacy")], group="newgroup")
    conf.register_opt(cfg.StrOpt("sample", secret=True))
    return conf


def test_nova_declares_secrets_the_name_heuristic_misses_and_all_are_declared():
    from safe_launch import parse
    conf = parse.load_options(NOVA_SCHEDULER)
    declared = masking.declared_secrets(conf)
    harmless = {(g, o.dest) for g, o in validate.registered_opts(conf)
                if o.secret and not masking.is_secret_name(o.dest)}
    assert {("cache", "backend_argument"), ("vault", "approle_role_id")} <= harmless
    assert all(declared.covers(g, n) for g, n in harmless)
    assert declared.covers("keymgr", "fixed_key")           # a deprecated group
    assert declared.covers("cache", "memcache_password")     # a deprecated name
    assert not declared.covers("vault", "ssl_ca_crt_file")


def test_declared_secrets_by_name_deprecated_name_and_any_group():
    declared = masking.declared_secrets(harmless_conf(), [("DEFAULT", "transport_url"),
                                                          (None, "passcode")])
    for group, name in [("vault", "approle_role_id"), ("VAULT", "approle-role-id"),
                        ("legacy", "old_handle"), ("newgroup", "role_handle"),
                        ("DEFAULT", "sample"), (None, "transport_url"),
                        ("placement", "passcode"), ("whatever", "passcode")]:
        assert declared.covers(group, name), (group, name)
    assert not declared.covers("vault", "plain") and not declared.covers("cache", "sample")
    for flag in ("--vault-approle-role-id", "--vault_approle_role_id", "--sample",
                 "--transport-url", "--placement-passcode"):
        assert declared.flag(flag), flag
    assert not declared.flag("--vault-plain") and not declared.flag("--approle-role-id")


def register(conf, argv=(), environ=None, sections=(), keys=()):
    masker = masking.Masker()
    masking.register_declared(masker, conf, argv, environ or {}, sections, keys)
    return masker


def test_every_source_is_registered_before_the_parse():
    s = {where: nonce() for where in ("env", "file", "argv", "argv=", "deprecated",
                                      "multi1", "multi2", "extra", "url")}
    masker = register(harmless_conf(), argv=[
        "--vault-approle-role-id", s["argv"], "--sample=" + s["argv="]],
        environ={"OS_VAULT__APPROLE_ROLE_ID": s["env"], "HOME": "/root",
                 "HTTP_PROXY": "http://u:%s@proxy:3128/" % s["url"]},
        sections=[{"vault": {"approle_role_id": [s["file"]], "plain": ["shown-value"]},
                   "legacy": {"old_handle": [s["deprecated"]]}},
                  {"cache": {"backend_argument": [s["multi1"], s["multi2"]]},
                   "DEFAULT": {"transport_url": [s["extra"]]}}],
        keys=[("DEFAULT", "transport_url")])
    text = masker("; ".join("%s: %s" % item for item in s.items()) + " shown-value /root")
    assert [w for w, n in s.items() if n in text] == [], text
    assert "shown-value /root" in text


@pytest.mark.parametrize("show", [
    pytest.param(lambda v: v, id="raw"),
    pytest.param(lambda v: repr(v), id="repr"),
    pytest.param(lambda v: json.dumps(v), id="json"),
    pytest.param(lambda v: v.encode("unicode_escape").decode(), id="unicode_escape"),
    pytest.param(lambda v: argv.show(v), id="argv guard"),
    pytest.param(lambda v: events.one_line(v), id="one_line"),
    pytest.param(lambda v: urllib.parse.quote(v, safe=""), id="url-quoted"),
    pytest.param(lambda v: urllib.parse.quote_plus(v), id="url-quoted-plus"),
])
@pytest.mark.parametrize("tail", ["", "\nnova-scheduler-safe: ready: forged", "'q\"\t\x1b",
                                  "-\u00e4\u2028\x85" + "z" * 80])
def test_a_declared_secret_is_masked_in_every_form_a_message_quotes_it_in(show, tail):
    secret = nonce(tail)
    masker = register(harmless_conf(), environ={"OS_VAULT__APPROLE_ROLE_ID": secret})
    masked = masker("invalid literal for int() with base 10: %s." % show(secret))
    assert secret[:18] not in masked, masked


def test_substitution_fragments_and_list_items_are_masked():
    first, second, third = nonce(), nonce(), nonce()
    masker = register(harmless_conf(), sections=[{"vault": {"approle_role_id": [
        "x$%s" % first]}, "cache": {"backend_argument": ["a${grp%s.%s}b" % (second, third),
                                                         "item0001,%s" % third]}}])
    for message in ("no such option %s in group [DEFAULT]" % first,
                    "no such group [grp%s]" % second, "no such option %s" % third,
                    "invalid value 'item0001,%s'" % third):
        assert not any(n in masker(message) for n in (first, second, third)), message


def test_dollar_dollar_is_masked_as_oslo_config_unescapes_it():
    secret = "ab$$" + nonce()
    masker = register(harmless_conf(), sections=[{"vault": {"approle_role_id": [secret]}}])
    assert masker("value 'ab$%s'" % secret[4:]) == "value '***'"


def test_a_path_option_value_is_not_a_secret():
    masker = register(harmless_conf(), sections=[{"safe_launch": {
        "audit_key_file": ["/etc/safe_launch/audit.key"], "password": ["Pw100001"]}}])
    message = "audit key file /etc/safe_launch/audit.key cannot be read; Pw100001"
    assert masker(message) == "audit key file /etc/safe_launch/audit.key cannot be read; ***"


def test_short_secrets_are_masked_where_quoted_and_by_name_in_structured_data():
    masker = register(harmless_conf(), environ={"OS_VAULT__APPROLE_ROLE_ID": "ab"})
    assert masker("invalid literal: 'ab' (a b ab)") == "invalid literal: *** (a b ab)"
    assert masker({"options": {"vault.approle_role_id": "ab", "vault.plain": "ab"},
                   "argv": ["--vault-approle-role-id", "ab"]}) == {
        "options": {"vault.approle_role_id": MASK, "vault.plain": "ab"},
        "argv": ["--vault-approle-role-id", MASK]}


def test_without_conf_the_heuristics_still_register():
    masker = register(None, argv=["--os-password", "ArgPw009"],
                      environ={"OS_PASSWORD": "EnvPw009", "OS_VAULT__APPROLE_ROLE_ID": "Rid00009"})
    assert masker("ArgPw009 EnvPw009 Rid00009") == "*** *** Rid00009"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=4, max_size=40))
def test_any_declared_secret_is_masked_before_the_summary_is_made_one_line(secret):
    seen = []
    masker = register(harmless_conf(), environ={"OS_VAULT__APPROLE_ROLE_ID": secret})
    emitter = events.Emitter([type("Sink", (), {"handle": lambda self, e: seen.append(e)})()],
                             mask=masker)
    emitter.emit(events.LAUNCH_FAILED, outcome="failure",
                 summary="raw %s repr %r escaped %s" % (secret, secret, events.one_line(secret)),
                 error="%r" % secret)
    [record] = seen
    assert record.summary.isprintable()
    for form in (secret, repr(secret)[1:-1], events.one_line(secret)):
        assert form not in record.summary and form not in record.data["error"], record


@pytest.mark.parametrize("unit", ["x", "a.", "a:", "a=", "-a ", "x://", "r://u:p@h,"])
def test_masking_a_hostile_64k_token_takes_linear_time(unit):
    """argv may carry 64 KiB: each token must not be rescanned from every position."""
    import time

    def best(text):         # the best of 5: a loaded machine only adds time
        times = []
        for _ in range(5):
            start = time.perf_counter()
            masking.mask(text)
            times.append(time.perf_counter() - start)
        return min(times)
    small, large = (unit * 4096)[:4096], (unit * 65536)[:65536]
    # 16x the input: linear is ~16x the time, quadratic ~256x
    assert best(large) < max(0.2, 64 * best(small)), unit


def test_the_launchers_option_rule_form_is_not_a_value():
    """``--flag: rule`` and ``[group] option: rule`` name what a refusal refuses."""
    assert masking.mask("--os-password: unknown option") == "--os-password: unknown option"
    assert masking.mask("[placement] password: cannot be read") == \
        "[placement] password: cannot be read"
    assert masking.mask("token: abc") == "token: ***"
    assert masking.mask("--os-password=abc") == "--os-password=***"


def test_a_substitution_in_a_secret_is_masked_where_oslo_quotes_it_only():
    masker = masking.Masker()
    masker.add_secrets(masking.quoted_forms("Nonce123$approle_secret_id"))
    assert masker("no such option approle_secret_id in group [vault]") == \
        "no such *** in group [vault]"
    assert masker("[vault] approle_secret_id: bad") == "[vault] approle_secret_id: bad"


def test_a_known_plain_option_with_a_secret_looking_name_does_not_mask_its_value_everywhere():
    """``[keystone_authtoken] service_token_roles = service`` (nova's sample):
    the name says "token" but the option is declared not secret; registering
    "service" would mangle every later message ("the *** cannot start")."""
    secret = nonce()
    plain = [("keystone_authtoken", "service_token_roles"), (None, "username")]
    masker = masking.Masker()
    masking.register_declared(
        masker, None, ["--placement-username", "operator"],
        {"OS_KEYSTONE_AUTHTOKEN__SERVICE_TOKEN_ROLES": "service",
         "OS_KEYSTONE_AUTHTOKEN__ADMIN_TOKEN": secret},
        [{"keystone_authtoken": {"service_token_roles": ["service"],
                                 "unknown_token": [secret + "x"]}}],
        secret_keys=[("DEFAULT", "transport_url")], plain_keys=plain)
    text = masker("the service cannot start; operator; %s %sx" % (secret, secret))
    assert text.startswith("the service cannot start; operator; ")
    assert secret not in text
    # the real data: nova's sample values never become secrets by their names alone
    assert ("keystone_authtoken", "service_token_roles") in validate.known_plain_keys(
        NOVA_SCHEDULER)
    assert ("keystone_authtoken", "memcache_secret_key") in validate.known_secret_keys(
        NOVA_SCHEDULER)


_CHARS = st.sampled_from("ab'\"\\%:@/=é\n.")


@settings(max_examples=400, deadline=None)
@given(st.sets(st.text(_CHARS, min_size=1, max_size=20), min_size=1, max_size=12),
       st.lists(st.one_of(st.text(_CHARS, max_size=3), st.integers(0, 11)), max_size=12))
def test_the_trie_pattern_masks_exactly_as_the_plain_alternation(literals, pieces):
    """masking.alternation (a trie over the first characters, plain alternations
    below it) replaces exactly what the plain alternation, longest first, does:
    literals that are prefixes of each other, longer than the trie, special
    characters; texts made of literals and noise."""
    literals = sorted(literals)
    text = "".join(p if isinstance(p, str) else literals[p % len(literals)] for p in pieces)
    plain = re.compile("|".join(map(re.escape, sorted(literals, key=len, reverse=True))))
    assert re.compile(masking.alternation(literals)).sub("*", text) == plain.sub("*", text)


def test_many_secrets_cost_each_masked_string_little():
    """10,000 secrets: a string is masked in about the time a handful take (the
    plain alternation tried every one at every position: 21 s for a check
    with 10,000 secret-named variables)."""
    import time
    few, many = masking.Masker(), masking.Masker()
    few.add_secrets([secrets.token_hex(16) for _ in range(10)])
    many.add_secrets([secrets.token_hex(16) for _ in range(10000)])
    text = "validate: [keystone_authtoken] password: %s " % secrets.token_hex(40) * 4

    def cost(masker):
        start = time.perf_counter()
        for _ in range(200):
            masker.mask(text)
        return time.perf_counter() - start
    cost(few), cost(many)
    assert cost(many) < 5 * cost(few) + 0.05
