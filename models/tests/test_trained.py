"""The committed trained micro model: it loads and exports, and its committed metrics table is what
evaluate.py regenerates (the full 500-scene run only with M3RT_SLOW=1; by default the first 40 scenes are checked
against a fresh evaluation for sanity: mIoU well above chance)."""

import unittest
from pathlib import Path

import evaluate
from m3vit import checkpoint, config
from scenes import batch
from tests.helpers import CONFIGS, SLOW, tmpdir

TRAINED = Path(__file__).resolve().parent.parent / "trained"
WEIGHTS = TRAINED / "micro.safetensors"


@unittest.skipUnless(WEIGHTS.exists(), "no committed trained micro weights")
class TrainedMicroTest(unittest.TestCase):
    def setUp(self):
        self.cfg = config.load(CONFIGS / "micro.toml")
        self.params = checkpoint.to_params(checkpoint.load_state_dict([str(WEIGHTS)]), self.cfg)

    def test_trained_micro_segments_and_measures_depth(self):
        images, seg, depth = batch(self.cfg.image_h, self.cfg.image_w, "heldout", 0, 40)
        res = evaluate.evaluate_params(self.params, self.cfg, images, seg, depth)
        self.assertGreater(res["miou"], 0.6)
        self.assertGreater(res["delta1"], 0.8)

    @unittest.skipUnless(SLOW, "M3RT_SLOW=1 regenerates the whole committed table")
    def test_committed_table_is_regenerated(self):
        fresh_path = tmpdir("trained") / "metrics.md"
        out = evaluate.main(["--config", str(CONFIGS / "micro.toml"), "--weights", str(WEIGHTS),
                             "--scenes", "500", "--markdown", str(fresh_path)])
        self.assertEqual(out, 0)
        fresh = fresh_path.read_text()
        self.assertEqual(fresh, (TRAINED / "metrics.md").read_text())


if __name__ == "__main__":
    unittest.main()
