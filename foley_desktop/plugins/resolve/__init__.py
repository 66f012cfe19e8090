"""DaVinci Resolve script (Workspace ▸ Scripts): see foley_desktop_resolve.py. Untested here."""
