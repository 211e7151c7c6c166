"""Exports micro and tiny-light from the seed and checks them against the numpy reference and ORT's routing;
checks that the committed models/micro is what the exporter produces."""

import unittest

import numpy as np
import onnx
from onnx import numpy_helper

from m3vit import config

from .helpers import MODELS, ExportChecks, exported, load_golden, seeded_params


class MicroTest(unittest.TestCase, ExportChecks):
    def test_micro(self):
        res = exported("micro")
        used, diff = self.check_export(res["model_path"].parent, seeded_params("micro"), min_used=3)
        print(f"\nmicro: experts used {used}, task difference {diff}, redraws {res['redraws']}, "
              f"{res['model_bytes'] / 1e6:.2f} MB")

    def test_committed_micro_is_current(self):
        committed = MODELS / "micro"
        fresh = exported("micro")["model_path"].parent
        cfg = config.load(committed / "config.toml")
        self.assertEqual((committed / "config.toml").read_text(), (MODELS / "configs/micro.toml").read_text())
        a, b = onnx.load(str(committed / "model.onnx")), onnx.load(str(fresh / "model.onnx"))
        self.assertEqual([(n.op_type, list(n.input), list(n.output), str(n.attribute)) for n in a.graph.node],
                         [(n.op_type, list(n.input), list(n.output), str(n.attribute)) for n in b.graph.node])
        self.assertEqual({p.key: p.value for p in a.metadata_props}, {p.key: p.value for p in b.metadata_props})
        ia = {i.name: numpy_helper.to_array(i) for i in a.graph.initializer}
        ib = {i.name: numpy_helper.to_array(i) for i in b.graph.initializer}
        self.assertEqual(ia.keys(), ib.keys())
        for name in ia:
            np.testing.assert_array_equal(ia[name], ib[name], name)
        for (xa, oa, ra), (xb, ob, rb) in zip(load_golden(committed, cfg), load_golden(fresh, cfg)):
            np.testing.assert_array_equal(xa, xb)
            for t in cfg.task_names:
                np.testing.assert_array_equal(ra[t], rb[t])
                np.testing.assert_allclose(oa[t], ob[t], rtol=1e-5, atol=1e-5)
        size = sum(p.stat().st_size for p in committed.rglob("*") if p.is_file())
        self.assertLess(size, 2_000_000)


class TinyLightTest(unittest.TestCase, ExportChecks):
    def test_tiny_light(self):
        res = exported("tiny-light")
        used, diff = self.check_export(res["model_path"].parent, seeded_params("tiny-light"), min_used=3)
        print(f"\ntiny-light: experts used {used}, task difference {diff}, redraws {res['redraws']}")


if __name__ == "__main__":
    unittest.main()
