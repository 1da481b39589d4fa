"""nova-conductor-safe: the drop-in for nova's nova-conductor console script."""

from safe_launch.cmd import launch


def main():
    launch("NOVA_CONDUCTOR", "nova-conductor-safe")


if __name__ == "__main__":
    main()
