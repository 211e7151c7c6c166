"""The onnxruntime peer of the benchmark report times only the task it is asked for."""

import importlib.util
import pathlib
import unittest

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[2]
MICRO = ROOT / "models" / "micro"


def load_bench():
    spec = importlib.util.spec_from_file_location("ort_bench", ROOT / "benches" / "ort_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PrunedSessions(unittest.TestCase):
    def setUp(self):
        self.bench = load_bench()
        self.model = onnx.load(str(MICRO / "model.onnx"))
        self.x = np.load(MICRO / "golden" / "input_0.npy").astype(np.float32)

    def test_one_task_graph_holds_only_its_nodes_and_matches_the_golden(self):
        tasks = [o.name for o in self.model.graph.output]
        self.assertGreaterEqual(len(tasks), 2)
        for task in tasks:
            pruned = onnx.ModelProto()
            pruned.ParseFromString(self.bench.with_outputs(self.model, [task]))
            self.assertLess(len(pruned.graph.node), len(self.model.graph.node), task)
            sess = ort.InferenceSession(pruned.SerializeToString(), providers=["CPUExecutionProvider"])
            (out,) = sess.run(None, {sess.get_inputs()[0].name: self.x})
            golden = np.load(MICRO / "golden" / f"{task}_0.npy")
            np.testing.assert_allclose(out, golden, rtol=0, atol=1e-5)
            # No node of another task's head survives: their initializers are gone too.
            names = {t.name for t in pruned.graph.initializer}
            self.assertTrue(names <= {t.name for t in self.model.graph.initializer})
            self.assertLess(len(names), len(self.model.graph.initializer), task)

    def test_encoder_cut_is_an_intermediate_output(self):
        enc = self.bench.encoder_outputs(self.model)
        for task, (tensor, _) in enc.items():
            pruned = onnx.ModelProto()
            pruned.ParseFromString(self.bench.with_outputs(self.model, [tensor]))
            sess = ort.InferenceSession(pruned.SerializeToString(), providers=["CPUExecutionProvider"])
            (out,) = sess.run(None, {sess.get_inputs()[0].name: self.x})
            self.assertEqual(out.ndim, 3, task)


if __name__ == "__main__":
    unittest.main()
