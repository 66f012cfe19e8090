"""quantize layer (see shared DESIGN.md): FP16 / INT8 dynamic / INT8 static (calibrated through
the real pipeline) / mixed per-op recipes written as new variants into a model package, and the
bench that measures every variant (speed, memory, size, quality against FP32).

Modules: variants (atomic manifest edits), calibrate (denoiser inputs captured at every sampler
step), fp16, dynamic, static, mixed, measure (graph error and timing), job (the quantize job),
report (quality metrics, tables), bench + bench_worker (the benchmark; what it found fastest is
kept by engine/bench.py for `--precision auto`), devpkg (DiT-like development packages).
QAT: see docs/quantization.md (not implemented).
"""
