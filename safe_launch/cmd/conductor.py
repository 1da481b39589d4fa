"""nova-conductor-safe: the drop-in for nova's nova-conductor console script."""

from safe_launch.cmd import launch


def main():
    launch("NOVA_CONDUCTOR")


if __name__ == "__main__":
    main()
