import sys

from foley_desktop.cli import main

sys.exit(main())
