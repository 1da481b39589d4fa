# safe_launch documentation: the HTML guide and the man pages.
#
# The guide's Markdown (README.md, doc/*.md) is included, not copied, so
# GitHub and Sphinx show the same text.  The man pages are committed as
# doc/man/*.8 (an install must not need Sphinx) and installed by pbr under
# share/man/man8; tests/unit/test_man_pages.py rebuilds them and fails when
# the committed ones differ (apart from the build date on the .TH line):
# regenerate with tools/build-man.sh.

project = "safe_launch"
author = "safe_launch developers"
copyright = "safe_launch developers"

# No version anywhere: pbr's version changes with every commit, which would
# make the committed man pages stale at once.
version = release = ""

extensions = ["myst_parser", "reno.sphinxext"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# Links in the Markdown name repository files (../etc/systemd/...), not pages.
myst_all_links_external = True
myst_heading_anchors = 3
exclude_patterns = []
master_doc = "index"

html_theme = "alabaster"
html_title = "safe_launch"

_AUTHORS = ["safe_launch developers"]
man_pages = [
    ("man/nova-scheduler-safe", "nova-scheduler-safe",
     "the nova scheduler, launched hardened (drop-in for nova-scheduler)", _AUTHORS, 8),
    ("man/nova-conductor-safe", "nova-conductor-safe",
     "the nova conductor, launched hardened (drop-in for nova-conductor)", _AUTHORS, 8),
    ("man/cinder-scheduler-safe", "cinder-scheduler-safe",
     "the cinder scheduler, launched hardened (drop-in for cinder-scheduler)", _AUTHORS, 8),
    ("man/safe-launch", "safe-launch",
     "preflight check and audit trail tools for safe_launch", _AUTHORS, 8),
]
man_make_section_directory = False
man_show_urls = False
