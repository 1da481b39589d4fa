"""cinder-scheduler-safe: the drop-in for cinder's cinder-scheduler console script."""

from safe_launch.cmd import launch


def main():
    launch("CINDER_SCHEDULER", "cinder-scheduler-safe")


if __name__ == "__main__":
    main()
