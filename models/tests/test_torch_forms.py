"""The PyTorch-exporter forms of `--onnx-form` (m3vit/onnx_torch_forms.py): each is a valid ONNX that
onnxruntime runs to the float64 numpy reference's outputs, and each writes the ops that make it that form."""

import unittest
from collections import Counter

import numpy as np
import onnx

from m3vit import config, golden, onnx_graph, reference

from .helpers import CONFIGS, seeded_params


class TorchFormsTest(unittest.TestCase):
    def check(self, name: str, form: str) -> Counter:
        cfg = config.load(CONFIGS / f"{name}.toml")
        params = seeded_params(name)
        model, _ = onnx_graph.build(params, cfg, form=form)
        onnx.checker.check_model(model)
        sess = golden.session(model)
        image = np.random.default_rng(7).random((1, 3, cfg.image_h, cfg.image_w), dtype=np.float32)
        ref = reference.forward(params, cfg, image)
        # Routing margins: a near-tie could route differently in float32; the golden draws avoid them, this
        # image is checked instead.
        margin = min(float(np.min(m)) for m in ref.margins.values())
        self.assertGreater(margin, 1e-5, f"{name}: pick another image, the top-k margin is {margin}")
        for task, out in zip(cfg.task_names, sess.run(cfg.task_names, {"image": image})):
            r = ref.outputs[task]
            err = float(np.max(np.abs(out - r) / np.maximum(1.0, np.abs(r))))
            self.assertLess(err, 1e-4, f"{name} {form} {task}: {err}")
        return Counter(n.op_type for n in model.graph.node)

    def test_torch_cat_on_micro_and_tiny_light(self):
        for name in ("micro", "tiny-light"):
            ops = self.check(name, "torch-cat")
            cfg = config.load(CONFIGS / f"{name}.toml")
            moe_layers = len(cfg.moe_blocks) * len(cfg.tasks)
            self.assertEqual(ops["GreaterOrEqual"], moe_layers)
            self.assertEqual(ops["ScatterElements"], 0)
            self.assertEqual(ops["Shape"], 1 + len(cfg.tasks))

    def test_torch_loop_on_micro_and_tiny_light(self):
        for name in ("micro", "tiny-light"):
            ops = self.check(name, "torch-loop")
            cfg = config.load(CONFIGS / f"{name}.toml")
            moe_layers = len(cfg.moe_blocks) * len(cfg.tasks)
            self.assertEqual(ops["ScatterElements"], moe_layers)
            self.assertEqual(ops["Slice"], moe_layers * cfg.experts + 1 + 2 * len(cfg.tasks))

    def test_an_unknown_form_is_refused(self):
        cfg = config.load(CONFIGS / "micro.toml")
        with self.assertRaises(ValueError):
            onnx_graph.build(seeded_params("micro"), cfg, form="torch-scan")


if __name__ == "__main__":
    unittest.main()
