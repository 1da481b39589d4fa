"""safe_launch's version, and the service package's beside it.

From the installed distribution's metadata (pbr writes it from git at
install time), so asking costs no import of nova.
"""

from importlib import metadata


def of(distribution):
    """The installed version of ``distribution``, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_string():
    return of("safe_launch") or "unknown"


def versions_line(package="nova"):
    """``safe_launch 0.1.0, nova 34.0.0`` (the package left out where not installed)."""
    theirs = of(package)
    return "safe_launch %s%s" % (version_string(),
                                 ", %s %s" % (package, theirs) if theirs else "")
