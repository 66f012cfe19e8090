"""The application layer: what the window and the commands do, without Qt.

`ui/` (widgets) and `commands/` (the CLI) sit above it; `project/` (the document model),
`engine/`, `library/`, `spotting/`, `media/` and `export/` below. Nothing here imports Qt.

- `params`: the generation parameters of a segment resolved once (preferences -> segment ->
  model package) into one frozen `GenParams`, shared by the request, the take's record and the
  decision of what is still to generate (`GenParams.key`).
- `preferences`: the typed preferences (`Preferences`) the window stores and the CLI builds
  from its flags.
- `engines`: a bounded, thread-safe cache of loaded engines.
- `generate`: the generate job for a project's segments (the GUI's and `generate --project`'s)
  and for a bare clip (`generate CLIP`).
"""
