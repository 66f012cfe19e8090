"""Training and export of the embedded default model `foley-tiny`.

The only place in the project that imports torch (install with `pip install .[train]`).
Pipeline: `scenes` (real recordings + procedurally drawn video with known event times) ->
`dataset` (shards of latents + frames) -> `train` (rectified flow) -> `export` (ONNX package).
"""
