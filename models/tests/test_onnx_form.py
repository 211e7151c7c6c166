"""The graph is exactly the form of docs/onnx-form.md: op sequence, attributes, shared initializers."""

import tomllib
import unittest

import numpy as np
import onnx
from onnx import numpy_helper

from m3vit import checkpoint, config, golden, init, onnx_graph, reference

from .helpers import CONFIGS, exported

GELU = ["Div", "Erf", "Mul", "Add", "Mul"]
ATTN = ["LayerNormalization", "MatMul", "Add", "Reshape", "Transpose", "Gather", "Gather", "Gather", "Transpose",
        "MatMul", "Mul", "Softmax", "MatMul", "Transpose", "Reshape", "MatMul", "Add", "Add", "LayerNormalization"]
DENSE = ["MatMul", "Add"] + GELU + ["MatMul", "Add", "Add"]
MOE = ["MatMul", "Softmax", "TopK", "ScatterElements", "Transpose", "MatMul", "Add"] + GELU + \
      ["MatMul", "Add", "Mul", "ReduceSum", "Reshape", "Add"]
HEAD_IN = ["Slice", "LayerNormalization", "Transpose", "Reshape"]
PUP = HEAD_IN + ["Conv", "Relu", "Resize"] * 3 + ["Conv", "Relu", "Conv", "Resize"]
LIGHT = HEAD_IN + ["Conv", "Relu", "Conv", "Resize"]


def expected_ops(cfg: config.Config) -> list[str]:
    ops = (["Sub", "Div"] if cfg.mean is not None else []) + ["Conv", "Reshape", "Transpose", "Concat", "Add"]
    first = cfg.moe_blocks[0] if cfg.moe_blocks else cfg.depth
    for i in range(cfg.depth if not cfg.moe_blocks else first + 1):
        ops += ATTN + (DENSE if i < first else [])
    for _ in cfg.tasks:
        for i in range(first, cfg.depth):
            ops += ([] if i == first else ATTN) + (MOE if cfg.is_moe(i) else DENSE)
        ops += PUP if cfg.head == "pup" else LIGHT
    return ops


def attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxFormTest(unittest.TestCase):
    def test_op_sequence(self):
        for name in ("micro", "tiny-light"):
            model = onnx.load(str(exported(name)["model_path"]))
            cfg = config.load(CONFIGS / f"{name}.toml")
            self.assertEqual([n.op_type for n in model.graph.node], expected_ops(cfg), name)
            self.assertEqual(model.graph.node[-1].output[0], cfg.task_names[-1])

    def test_post_processing_metadata(self):
        for name in ("micro", "tiny-light"):
            model = onnx.load(str(exported(name)["model_path"]))
            cfg = config.load(CONFIGS / f"{name}.toml")
            props = {p.key: p.value for p in model.metadata_props}
            self.assertEqual(props, {f"m3rt.post.{t.name}": t.post for t in cfg.tasks}, name)

    def test_attributes_and_constants(self):
        model = onnx.load(str(exported("micro")["model_path"]))
        cfg = config.load(CONFIGS / "micro.toml")
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        for i in model.graph.initializer:
            self.assertIn(i.data_type, (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64))
        nodes = model.graph.node
        np.testing.assert_allclose(inits[nodes[0].input[1]].ravel(), cfg.mean, rtol=1e-6)
        self.assertEqual(inits[nodes[0].input[1]].shape, (1, 3, 1, 1))
        patch = nodes[2]
        self.assertEqual((attrs(patch)["kernel_shape"], attrs(patch)["strides"]), ([16, 16], [16, 16]))
        self.assertEqual(inits[patch.input[1]].shape, (64, 3, 16, 16))
        for n in nodes:
            a = attrs(n)
            if n.op_type == "LayerNormalization":
                self.assertEqual(a["axis"], -1)
                self.assertAlmostEqual(a["epsilon"], 1e-6)
            elif n.op_type == "Resize":
                self.assertEqual((a["mode"], a["coordinate_transformation_mode"]), (b"linear", b"half_pixel"))
                self.assertEqual(inits[n.input[1]].shape, (0,))
                np.testing.assert_array_equal(inits[n.input[2]], [1, 1, 2, 2])
            elif n.op_type == "TopK":
                self.assertEqual((a["axis"], a["largest"], a["sorted"]), (-1, 1, 1))
                np.testing.assert_array_equal(inits[n.input[1]], [2])
            elif n.op_type == "ScatterElements":
                self.assertEqual(a["axis"], -1)
                self.assertFalse(inits[n.input[0]].any())
                self.assertEqual(inits[n.input[0]].shape, (1, 9, 4))
            elif n.op_type == "ReduceSum":
                self.assertEqual(a["keepdims"], 0)
                np.testing.assert_array_equal(inits[n.input[1]], [0])
            elif n.op_type == "Gather":
                self.assertEqual((a["axis"], inits[n.input[1]].shape), (0, ()))
            elif n.op_type == "Conv" and n is not patch:
                k = a["kernel_shape"][0]
                self.assertEqual(a.get("pads", [0] * 4), [k // 2] * 4)

    def test_shared_and_per_task_initializers(self):
        model = onnx.load(str(exported("micro")["model_path"]))
        consumers: dict[str, int] = {}
        for n in model.graph.node:
            for i in n.input:
                consumers[i] = consumers.get(i, 0) + 1
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        experts = [k for k, v in inits.items() if v.shape == (4, 64, 128)]
        gates = [k for k, v in inits.items() if v.shape == (64, 4)]
        self.assertEqual((len(experts), len(gates)), (2, 4))      # 2 MoE layers; 2 tasks x 2 layers of gates
        self.assertTrue(all(consumers[k] == 2 for k in experts))   # shared by both task chains
        self.assertTrue(all(consumers[k] == 1 for k in gates))
        self.assertTrue(all(consumers.get(k, 0) >= 1 for k in inits))
        big = [v.tobytes() for v in inits.values() if v.size > 256]
        self.assertEqual(len(big), len(set(big)), "a weight is stored twice")

    def test_variants_match_reference(self):
        """Edge cases of the graph builder: MoE first, no MoE, top-1, top-k = E, several moe layers in a row."""
        variants = [dict(moe_blocks=[0], depth=2), dict(moe_blocks=[], depth=2), dict(top_k=1),
                    dict(top_k=4), dict(moe_blocks=[0, 1, 2, 3], head="light")]
        for change in variants:
            table = tomllib.loads((CONFIGS / "micro.toml").read_text())
            table.update(change)
            cfg = config.parse(table, str(change))
            params = checkpoint.to_params(init.seeded_state_dict(cfg), cfg)
            model, _ = onnx_graph.build(params, cfg)
            self.assertEqual([n.op_type for n in model.graph.node], expected_ops(cfg), str(change))
            image = np.random.default_rng(7).random((1, 3, 32, 64)).astype(np.float32)
            outs = golden.session(model).run(cfg.task_names, {"image": image})
            ref = reference.forward(params, cfg, image)
            for task, out in zip(cfg.task_names, outs):
                want = ref.outputs[task]
                err = np.abs(out - want) / np.maximum(1.0, np.abs(want))
                self.assertLess(float(err.max()), 1e-4, f"{change} {task}")


if __name__ == "__main__":
    unittest.main()
