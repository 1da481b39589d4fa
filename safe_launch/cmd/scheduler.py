"""nova-scheduler-safe: the drop-in for nova's nova-scheduler console script."""

from safe_launch.cmd import launch


def main():
    launch("NOVA_SCHEDULER", "nova-scheduler-safe")


if __name__ == "__main__":
    main()
