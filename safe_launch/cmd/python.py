"""safe-launch-python: the console_scripts entry whose shebang names the interpreter.

pip writes the interpreter it installs for into this script's first line;
the /bin/sh trampolines (``safe-launch-exec``) read it from there and run
the real entry points with ``-I``.  Run by itself, it says so.
"""

import sys


def main():
    sys.stderr.write("safe-launch-python: not a command; the safe_launch console scripts "
                     "read the interpreter from this script's first line (%s)\n"
                     % sys.executable)
    sys.exit(64)
