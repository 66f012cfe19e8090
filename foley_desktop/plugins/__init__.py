"""Add-ons and scripts that run inside NLEs (Blender's VSE, Resolve, Premiere) and drive the
`foley-desktop` command line in a separate process; nothing here is imported by the app."""
