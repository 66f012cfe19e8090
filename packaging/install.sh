#!/bin/sh
# Install this Foley Desktop folder for the current user (no root, no Python needed):
#   ./install.sh            copies it to ~/.local/opt/foley-desktop, links the launcher into
#                           ~/.local/bin and adds the menu entry and icon
#   ./install.sh --uninstall
set -eu
here=$(dirname "$(readlink -f "$0")")
data=${XDG_DATA_HOME:-$HOME/.local/share}
dest=$HOME/.local/opt/foley-desktop
bin=$HOME/.local/bin
if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$dest" "$bin/foley-desktop" "$data/applications/foley-desktop.desktop" \
        "$data/icons/hicolor/scalable/apps/foley-desktop.svg"
    echo "Removed Foley Desktop (your model packages and settings are kept)."
    exit 0
fi
if [ "$here" != "$dest" ]; then
    rm -rf "$dest.new"
    mkdir -p "$(dirname "$dest")"
    cp -a "$here" "$dest.new"
    rm -rf "$dest"
    mv "$dest.new" "$dest"
fi
mkdir -p "$bin" "$data/applications" "$data/icons/hicolor/scalable/apps"
ln -sf "$dest/foley-desktop.sh" "$bin/foley-desktop"
cp "$dest/foley-desktop.svg" "$data/icons/hicolor/scalable/apps/foley-desktop.svg"
# The menu entry names the launcher by absolute path: ~/.local/bin is not on every PATH.
sed -e "s|^Exec=foley-desktop|Exec=$dest/foley-desktop.sh|" \
    -e "s|^TryExec=foley-desktop|TryExec=$dest/foley-desktop.sh|" \
    "$dest/foley-desktop.desktop" > "$data/applications/foley-desktop.desktop"
command -v update-desktop-database >/dev/null 2>&1 && \
    update-desktop-database -q "$data/applications" || true
echo "Installed Foley Desktop in $dest"
echo "Run it from the application menu, or: $bin/foley-desktop [CLIP]"
