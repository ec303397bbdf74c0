#!/usr/bin/env python3
"""Check ONNX files with onnx's full checker and run them in onnxruntime.

Usage: check_onnx.py MODEL.onnx [...]
Prints one line per model; exits 1 if any model fails, 3 if onnx/onnxruntime are missing.
"""
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # the caller skips cleanly
    print(f"skip: {e}")
    sys.exit(3)

failed = 0
for path in sys.argv[1:]:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).random(inp.shape, dtype=np.float32)
        (y,) = sess.run(None, {inp.name: x})
        assert np.isfinite(y).all(), "non-finite output"
        print(f"ok {path} ir={model.ir_version} opset={model.opset_import[0].version} out={list(y.shape)}")
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL {path}: {e}")
sys.exit(1 if failed else 0)
