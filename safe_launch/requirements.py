"""What a service cannot start without, checked before it starts.

A service spec lists what its service needs (nova-scheduler: both databases
and a message bus; cinder-scheduler: its database and a bus).  Without these
checks a missing ``[database] connection``, an unparseable database URL or
a transport URL naming no installed driver surface only when the service
is created, as library exceptions; here each is one configuration error
(78) naming the option, the URL shown with its password replaced.

The rules are data (``ServiceSpec.requirements``): a service spec varies them.  The
URL rules are those of the code that will read the URL (sqlalchemy's
``make_url`` and oslo.messaging's ``TransportURL.parse``), reimplemented
here because importing either costs more than the whole launch budget
(sqlalchemy: 0.4 s) or picks a concurrency backend (oslo.messaging).
"""

import collections
import functools
import importlib.metadata
import importlib.util
import re
import sys
from urllib import parse as urlparse


# kind: "database" or "transport".  required: the service cannot start
# without a value.  unset: the values that mean "not set" (oslo.messaging
# takes an empty notifications transport_url for the [DEFAULT] one, but
# fails on an empty [DEFAULT] transport_url).  A namedtuple, not a
# dataclass: this module is imported on the launch path.
Requirement = collections.namedtuple("Requirement", "group option kind required unset",
                                     defaults=(True, (None, "")))


# What every database-backed RPC service needs; a spec adds its own.
DATABASES_AND_BUS = (
    Requirement("database", "connection", "database"),
    Requirement("DEFAULT", "transport_url", "transport", required=False, unset=(None,)),
    Requirement("oslo_messaging_notifications", "transport_url", "transport", required=False),
)


def check(values, requirements):
    """Problems of ``requirements``; ``values`` is a :class:`validate.LazyValues`."""
    from safe_launch import validate
    found = []
    for req in requirements:
        try:
            value = values.value(req.group, req.option)
        except Exception:       # unresolvable or invalid: reported by the type checks
            continue
        value = value.strip() if isinstance(value, str) else value
        if value in req.unset:
            if req.required:
                # source "not set": "connection: <text>" would be masked as a secret
                found.append(validate.Problem(req.group, req.option, "required: the service "
                                              "cannot start without it", "not set"))
            continue
        problem = CHECKS[req.kind](value) or (
            transport_query_problem(value, values) if req.kind == "transport" else None)
        if problem:
            found.append(validate.Problem(req.group, req.option, problem,
                                          values.source(req.group, req.option)))
    return found


# keystonemiddleware's: loaded by API services only, so a shared nova.conf may name a
# plugin installed on the API hosts alone.
NOT_LOADED_AUTH_GROUPS = frozenset({"keystone_authtoken"})


def auth_plugin_problems(values):
    """An ``auth_type`` naming no installed keystoneauth plugin (``[placement]
    auth_type = nosuch``): keystoneauth's loader finds plugins by the entry
    points of ``keystoneauth1.plugin``; unjudged, ``check`` said 0 and the
    create step failed with NoMatchingPlugin."""
    from safe_launch import validate
    found = []
    for group in sorted(values.auth_groups - NOT_LOADED_AUTH_GROUPS):
        try:
            name = values.value(group, "auth_type")
        except Exception:       # unknown or unresolvable: reported elsewhere
            continue
        name = name.strip() if isinstance(name, str) else name
        if name and not _auth_plugin_loads(name):
            found.append(validate.Problem(
                group, "auth_type", "keystoneauth has no plugin %r (installed: %s)" % (
                    name, ", ".join(sorted(_auth_plugins()))),
                values.source(group, "auth_type")))
    return found


def _auth_plugin_loads(name):
    """keystoneauth's own lookup, the one the create step makes: stevedore's cached
    entry points, not a scan of every installed distribution (15 ms a launch)."""
    from keystoneauth1 import exceptions
    from keystoneauth1 import loading

    from safe_launch import masking
    try:
        # stevedore logs the miss raw on stderr; the problem says it
        with masking.quiet_reads(("stevedore.named", "stevedore.extension")):
            loading.get_plugin_loader(name)
    except exceptions.NoMatchingPlugin:
        return False
    return True


def _auth_plugins():
    return {ep.name for ep in importlib.metadata.entry_points(group="keystoneauth1.plugin")}


# -- database URLs: sqlalchemy.engine.url._parse_url's pattern -----------------------

_DB_URL = re.compile(r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """, re.X)

# dialect -> (default driver, {driver: DBAPI module}); sqlalchemy 2's own dialects
_MYSQL = ("mysqldb", {"mysqldb": "MySQLdb", "pymysql": "pymysql", "mysqlconnector":
                      "mysql.connector", "mariadbconnector": "mariadb", "cymysql": "cymysql",
                      "pyodbc": "pyodbc", "aiomysql": "aiomysql", "asyncmy": "asyncmy"})
DIALECTS = {
    "sqlite": ("pysqlite", {"pysqlite": "sqlite3", "aiosqlite": "aiosqlite",
                            "pysqlcipher": "sqlcipher3"}),
    "mysql": _MYSQL, "mariadb": _MYSQL,
    "postgresql": ("psycopg2", {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000",
                                "asyncpg": "asyncpg", "psycopg2cffi": "psycopg2cffi"}),
    "oracle": ("cx_oracle", {"cx_oracle": "cx_Oracle", "oracledb": "oracledb"}),
    "mssql": ("pyodbc", {"pyodbc": "pyodbc", "pymssql": "pymssql", "aioodbc": "aioodbc"}),
}


def parse_db_url(url):
    """The components make_url() would find; ValueError where it would raise."""
    m = _DB_URL.match(url)
    if m is None:
        raise ValueError("expected dialect+driver://host/database")
    parts = m.groupdict()
    if parts["port"]:
        try:
            int(parts["port"])              # as make_url does
        except ValueError:
            raise ValueError("the port is not a number")
    return parts


_HOST = re.compile(r"^[A-Za-z0-9._-]*$|^[0-9A-Fa-f:.]+$")


def _shown_host(host):
    """A host as shown: only host names and addresses, never what a misplaced
    ``@`` in a password left in the host part."""
    if not _HOST.match(host):
        return "<host not shown>"
    return "[%s]" % host if ":" in host else host


def render_db_url(parts):
    """The URL as an operator recognises it, the password replaced, no query."""
    user = parts["username"]
    creds = "%s%s@" % (user, ":***" if parts["password"] is not None else "") \
        if user is not None else ""
    host = _shown_host(parts["ipv6host"] or parts["ipv4host"] or "")
    port = ":%s" % parts["port"] if parts["port"] else ""
    return "%s://%s%s%s/%s" % (parts["name"], creds, host, port, parts["database"] or "")


def database_problem(url):
    try:
        parts = parse_db_url(url)
    except ValueError as exc:
        return "cannot be parsed as a database URL: %s (value not shown)" % exc
    dialect, _, driver = parts["name"].partition("+")
    shown = render_db_url(parts)
    if dialect not in DIALECTS:
        if _entry_point("sqlalchemy.dialects", parts["name"].replace("+", ".")):
            return None
        return "%s: sqlalchemy has no database dialect %r" % (shown, dialect)
    default, drivers = DIALECTS[dialect]
    module = drivers.get(driver or default)
    if module is None:
        if _entry_point("sqlalchemy.dialects", "%s.%s" % (dialect, driver)):
            return None
        return "%s: sqlalchemy's %s dialect has no driver %r (known: %s)" % (
            shown, dialect, driver, ", ".join(sorted(drivers)))
    if not _installed(module):
        return "%s: the %s+%s driver needs the Python module %s, which is not installed" % (
            shown, dialect, driver or default, module)
    if parts["query"]:
        return query_problem(url, parts, shown)
    return None


# DBAPI modules whose connection object can be built without connecting, so each
# argument the URL's query gives is judged by the driver's own constructor.
def _pymysql(module, args, kwargs):
    charset = kwargs.get("charset")
    if charset is not None:     # pymysql would fail on None.encoding
        from pymysql import charset as charsets
        if charsets.charset_by_name(charset) is None:
            raise ValueError("unknown charset %r" % (charset,))
    return module.connect(*args, **dict(kwargs, defer_connect=True))


_DEFERRED_CONNECT = {"pymysql": _pymysql}


def query_problem(url, parts, shown):
    """What the URL's query arguments (``?port=abc``, ``?charset=bogus``,
    ``?connect_timeout=x``) make the dialect or its driver refuse.

    Otherwise the launch was accepted (``check`` said 0) and every worker
    failed at its first connection, a crash loop ending in 75.  The rule is
    the code's that reads them: sqlalchemy's ``make_url``, the dialect's own
    ``create_connect_args`` (as ``create_engine`` calls it, its ``plugin``
    arguments aside), then, for a driver that can build a connection without
    connecting (pymysql's ``defer_connect``), the driver's constructor.  Only
    a URL with a query pays for importing sqlalchemy here (about 0.5 s, which
    the create step pays anyway when it imports the project's database API).
    The password is never shown, even where an error would quote it.
    """
    try:
        from sqlalchemy.engine import url as sa_url
        parsed = sa_url.make_url(url).difference_update_query(["plugin"])
        dialect = parsed.get_dialect()()
        args, kwargs = dialect.create_connect_args(parsed)
        module = DIALECTS.get(parts["name"].partition("+")[0], (None, {}))[1].get(
            parts["name"].partition("+")[2])
        if module in _DEFERRED_CONNECT:
            connection = _DEFERRED_CONNECT[module](importlib.import_module(module), args,
                                                   kwargs)
            connection.close() if getattr(connection, "open", False) else None
    except Exception as exc:
        text = "%s: %s" % (type(exc).__name__, exc)
        if parts["password"]:
            text = text.replace(parts["password"], "***")
            text = text.replace(urlparse.unquote(parts["password"]), "***")
        return "%s: a query argument is refused by the %s driver: %s" % (
            shown, parts["name"], text[:200])
    return None


def _installed(module):
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):    # a parent package missing
        return False


def _entry_point(group, name):
    """Whether some installed distribution declares ``name`` in ``group`` (slow: rare path)."""
    return any(ep.name == name for ep in importlib.metadata.entry_points(group=group))


# -- transport URLs: oslo_messaging.TransportURL.parse --------------------------------

def parse_transport_url(url):
    """(scheme, [(username, password, host, port)]) as TransportURL.parse finds them."""
    try:
        parsed = urlparse.urlparse(url)
    except ValueError as exc:
        raise ValueError(str(exc))
    if not parsed.scheme:
        raise ValueError("no scheme (driver) specified")
    hosts = []
    for host in parsed.netloc.split(","):
        if not host:
            continue
        username = password = None
        if "@" in host:
            username, host = host.rsplit("@", 1)
            if ":" in username:
                username, password = username.split(":", 1)
        hosts.append((username, password) + _host_port(host))
    return parsed.scheme, hosts


def _host_port(address):
    """oslo_utils.netutils.parse_host_port(address) and the errors it raises."""
    if not address:
        return "", None
    if address[0] == "[":
        inside, sep, rest = address[1:].partition("]")
        if not sep or "]" in rest:
            raise ValueError("a bracketed host is not closed")
        host, port = inside, rest.split(":")[1] if ":" in rest else None
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, None
    if port is not None:
        try:
            int(port)
        except ValueError:
            raise ValueError("a port is not a number")
    return host, port


def render_transport_url(scheme, hosts):
    shown = []
    for username, password, host, port in hosts:
        creds = "%s%s@" % (username, ":***" if password is not None else "") \
            if username is not None else ""
        shown.append("%s%s%s" % (creds, _shown_host(host), ":%s" % port if port else ""))
    return "%s://%s/" % (scheme, ",".join(shown))


@functools.lru_cache(maxsize=1)
def messaging_drivers():
    """Driver names oslo.messaging can load (its own entry points: one file read)."""
    try:
        dist = importlib.metadata.distribution("oslo.messaging")
    except importlib.metadata.PackageNotFoundError:
        return set()
    return {ep.name for ep in dist.entry_points if ep.group == "oslo.messaging.drivers"}


def transport_problem(url):
    try:
        scheme, hosts = parse_transport_url(url)
    except ValueError as exc:
        return "cannot be parsed as a transport URL: %s (value not shown)" % exc
    driver = scheme.split("+")[0]
    if driver in messaging_drivers() or _entry_point("oslo.messaging.drivers", driver):
        return None
    return "%s: oslo.messaging has no driver %r (installed: %s)" % (
        render_transport_url(scheme, hosts), driver, ", ".join(sorted(messaging_drivers())))


# The drivers that read the transport URL's query as options of their group
# (oslo_messaging._drivers.common.ConfigOptsProxy).
TRANSPORT_QUERY_GROUPS = {"rabbit": "oslo_messaging_rabbit", "kafka": "oslo_messaging_kafka"}


def transport_query_problem(url, values):
    """What the driver refuses in the transport URL's query (``?heartbeat=x``, ``?ssl=maybe``).

    rabbit and kafka read each query argument as the option of that name in
    their group, converted by the option's type, when the transport is
    created: an unknown name was NoSuchOptError (78) and a bad value a
    ValueError (70) in the create step while ``check`` said 0.  Same rule
    here, from the known options (``values``: a :class:`validate.LazyValues`).
    """
    try:
        parsed = urlparse.urlparse(url)
        scheme, hosts = parse_transport_url(url)
    except ValueError:
        return None             # transport_problem says why
    group = TRANSPORT_QUERY_GROUPS.get(scheme.split("+")[0])
    if not parsed.query or group is None:
        return None
    shown = render_transport_url(scheme, hosts)
    for key, given in urlparse.parse_qs(parsed.query).items():
        if values.entry(group, key) is None:
            return "%s: query argument %r is not an option of [%s], as the %s driver reads " \
                "it" % (shown, key, group, scheme)
        try:
            values.type_of(group, key)(",".join(given))
        except ValueError as exc:
            return "%s: query argument %r: %s (an option of [%s])" % (shown, key, exc, group)
    return None


CHECKS = {"database": database_problem, "transport": transport_problem}
