"""The editor's sound-effects library: an index of their own recordings (and the starter
library), searched by text, and a render mode that places real recordings on a segment's
markers instead of generating audio with the model."""
