"""nova-scheduler-safe: the drop-in for nova's nova-scheduler console script."""

import sys

from safe_launch import NOVA_SCHEDULER, safe_main


def main():
    sys.exit(safe_main(NOVA_SCHEDULER))
