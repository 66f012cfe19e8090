"""The frozen app's entry point: the same `foley-desktop` CLI/GUI as the installed script."""

import sys

from foley_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
