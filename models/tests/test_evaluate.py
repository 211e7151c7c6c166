"""evaluate.py on the seeded micro model: metrics agree with metrics.py on the reference outputs, and the
expert counts add up to tokens x top-k per scene."""

import unittest

import numpy as np

import evaluate
import metrics
from m3vit import config, reference
from scenes import CLASSES, batch
from tests.helpers import CONFIGS, seeded_params


class EvaluateTest(unittest.TestCase):
    def test_seeded_micro_on_three_scenes(self):
        cfg = config.load(CONFIGS / "micro.toml")
        params = seeded_params("micro")
        images, seg, depth = batch(cfg.image_h, cfg.image_w, "heldout", 0, 3)
        res = evaluate.evaluate_params(params, cfg, images, seg, depth)
        conf = np.zeros((7, 7), np.int64)
        dpred = []
        for i in range(3):
            out = reference.forward(params, cfg, images[i:i + 1]).outputs
            conf += metrics.confusion(out["semseg"][0].argmax(0), seg[i], len(CLASSES))
            dpred.append(out["depth"][0, 0])
        # float32 onnxruntime vs float64 reference: an argmax near-tie may flip a pixel
        self.assertAlmostEqual(res["miou"], metrics.miou(conf), delta=0.01)
        self.assertAlmostEqual(res["rmse"], metrics.depth_metrics(np.stack(dpred), depth)["rmse"], delta=1e-3)
        for t in cfg.task_names:
            np.testing.assert_array_equal(res["counts"][t].sum(1), 3 * cfg.tokens * cfg.top_k)
        md = evaluate.markdown(cfg, 3, {"f32": res})
        self.assertIn("| f32 |", md)
        self.assertIn("| depth | 3 |", md)


if __name__ == "__main__":
    unittest.main()
