#!/bin/sh
# Foley Desktop launcher: runs the bundled binary next to this script (following a symlink,
# so ~/.local/bin/foley-desktop -> <bundle>/foley-desktop.sh works). The same arguments as
# the binary: no argument or a clip opens the window, a subcommand runs the CLI.
self=$(readlink -f "$0")
exec "$(dirname "$self")/foley-desktop" "$@"
