"""onnxruntime and numpy peers for `cargo xtask bench-report`.

Times the same ONNX on the same input as the Rust benches: per task output, end to end and encoder only
(the tokens entering the task head's LayerNorm), with intra_op_num_threads=1 and 2, warm-up then median of N.
Also times numpy's SGEMM (OpenBLAS, OPENBLAS_NUM_THREADS=1, set before numpy is imported) on the report's
shapes. Writes one JSON file. `--once TASK` runs one inference and exits (for the peak-memory measurement).
`--encoder-nodes` prints, per task, the ONNX node whose output is the encoder output (for tract).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def encoder_outputs(model):
    """Per graph output: (tensor, producing node name) of the input of the nearest LayerNormalization upstream."""
    producer = {o: n for n in model.graph.node for o in n.output}
    found = {}
    for out in model.graph.output:
        frontier, seen = [out.name], set()
        while frontier:
            name = frontier.pop(0)
            node = producer.get(name)
            if node is None or name in seen:
                continue
            seen.add(name)
            if node.op_type == "LayerNormalization":
                found[out.name] = (node.input[0], producer[node.input[0]].name)
                break
            frontier.extend(node.input)
    return found


def session(model_bytes, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def median_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def with_outputs(model, names):
    """A copy of the model whose graph outputs are exactly `names` (intermediate tensors allowed), pruned to
    the nodes those outputs depend on. onnxruntime runs every node of a graph whatever outputs are fetched,
    so without the pruning a one-task session would also compute the other tasks' heads."""
    import onnx

    producer = {o: n for n in model.graph.node for o in n.output}
    needed, frontier, keep = set(), list(names), set()
    while frontier:
        name = frontier.pop()
        if name in needed:
            continue
        needed.add(name)
        node = producer.get(name)
        if node is not None and id(node) not in keep:
            keep.add(id(node))
            frontier.extend(i for i in node.input if i)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = [n for n in model.graph.node if id(n) in keep]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    inits = [t for t in model.graph.initializer if t.name in needed]
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    del m.graph.output[:]
    for name in names:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return m.SerializeToString()


def time_model(path, input_path, runs, warmup):
    import onnx

    model = onnx.load(path)
    x = np.load(input_path).astype(np.float32)
    feed = {model.graph.input[0].name: x}
    enc = encoder_outputs(model)
    out = {}
    for task in [o.name for o in model.graph.output]:
        for threads in (1, 2):
            sess = session(with_outputs(model, [task]), threads)
            out[f"{task}/e2e/t{threads}"] = median_ms(lambda: sess.run(None, feed), warmup, runs)
            if task in enc:
                sess = session(with_outputs(model, [enc[task][0]]), threads)
                out[f"{task}/encoder/t{threads}"] = median_ms(lambda: sess.run(None, feed), warmup, runs)
    return out


def sgemm(shapes, runs):
    out = {}
    rng = np.random.default_rng(7)
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        ms = median_ms(lambda: np.matmul(a, b, out=c), 2, runs)
        out[f"{m}x{k}x{n}"] = {"ms": ms, "gflops": 2.0 * m * k * n / (ms * 1e6)}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", action="append", default=[], help="NAME=ONNX:INPUT_NPY (repeatable)")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--gemm", action="append", default=[], help="MxKxN (repeatable)")
    p.add_argument("--out", help="JSON file to write")
    p.add_argument("--once", metavar="TASK", help="run one inference of TASK of the first --model and exit")
    p.add_argument("--encoder-nodes", metavar="ONNX", help="print the encoder output node per task as JSON")
    args = p.parse_args()
    if args.encoder_nodes:
        import onnx

        enc = encoder_outputs(onnx.load(args.encoder_nodes))
        print(json.dumps({task: node for task, (_, node) in enc.items()}))
        return 0
    models = [(spec.split("=", 1)[0], *spec.split("=", 1)[1].split(":", 1)) for spec in args.model]
    if args.once:
        import onnx

        _, onnx_path, input_path = models[0]
        sess = session(with_outputs(onnx.load(onnx_path), [args.once]), 1)
        x = np.load(input_path).astype(np.float32)
        sess.run(None, {sess.get_inputs()[0].name: x})
        return 0
    import onnxruntime

    report = {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "models": {}}
    for name, onnx_path, input_path in models:
        report["models"][name] = time_model(onnx_path, input_path, args.runs, args.warmup)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.gemm]
    report["sgemm"] = sgemm(shapes, max(3, args.runs // 2))
    cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    try:
        report["blas"] = cfg["Build Dependencies"]["blas"]["name"]
    except (KeyError, TypeError):
        report["blas"] = "unknown"
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
