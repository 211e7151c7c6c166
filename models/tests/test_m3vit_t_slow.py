"""The full-size M3ViT-T (Edge-MoE workload) from the seed: routing diversity, ORT vs reference.
Slow (exports ~90 MB and runs the float64 reference heads): only with M3RT_SLOW=1."""

import time
import unittest

from .helpers import SLOW, ExportChecks, exported, seeded_params


@unittest.skipUnless(SLOW, "set M3RT_SLOW=1 to export and check m3vit-t")
class M3vitTTest(unittest.TestCase, ExportChecks):
    def test_m3vit_t(self):
        res = exported("m3vit-t")
        start = time.time()
        used, diff = self.check_export(res["model_path"].parent, seeded_params("m3vit-t"), min_used=10)
        self.assertLess(res["model_bytes"], 100_000_000)
        print(f"\nm3vit-t: exported in {res['seconds']:.1f} s ({res['model_bytes'] / 1e6:.1f} MB, redraws "
              f"{res['redraws']}), checked in {time.time() - start:.1f} s; experts used {used}, "
              f"task difference {diff}")


if __name__ == "__main__":
    unittest.main()
