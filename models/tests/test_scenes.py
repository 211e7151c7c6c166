"""The procedural scenes: determinism from the seed, label/depth consistency, occlusion order, value ranges."""

import unittest

import numpy as np

from scenes import CLASSES, MAX_DEPTH, batch, scene, split_seed
from scenes.generate import CAM_HEIGHT


class ScenesTest(unittest.TestCase):
    def test_same_seed_same_scene_other_seed_other_scene(self):
        a, b = scene(32, 64, split_seed("train", 3)), scene(32, 64, split_seed("train", 3))
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.seg, b.seg)
        np.testing.assert_array_equal(a.depth, b.depth)
        c = scene(32, 64, split_seed("heldout", 3))
        self.assertFalse(np.array_equal(a.image, c.image))
        x1, s1, d1 = batch(32, 64, "train", 5, 3)
        np.testing.assert_array_equal(x1[1], scene(32, 64, split_seed("train", 6)).image)

    def test_ranges_and_shapes(self):
        x, s, d = batch(64, 128, "heldout", 0, 20)
        self.assertEqual(x.shape, (20, 3, 64, 128))
        self.assertEqual(x.dtype, np.float32)
        self.assertTrue(0.0 <= x.min() and x.max() <= 1.0)
        self.assertTrue(s.min() >= 0 and s.max() < len(CLASSES))
        self.assertTrue(d.min() > 0 and d.max() <= MAX_DEPTH)
        self.assertGreater(len(np.unique(s)), 3, "several classes appear over 20 scenes")

    def test_object_pixels_carry_class_and_depth_nearest_wins(self):
        for i in range(10):
            sc = scene(32, 64, split_seed("train", i))
            zs = [z for _, z, _ in sc.objects]
            self.assertEqual(zs, sorted(zs, reverse=True), "painted far to near")
            covered = np.zeros(sc.seg.shape, bool)
            for cls, z, mask in reversed(sc.objects):          # nearest first
                visible = mask & ~covered
                np.testing.assert_array_equal(sc.seg[visible], cls)
                np.testing.assert_allclose(sc.depth[visible], z, rtol=1e-6)
                covered |= mask
            self.assertTrue((sc.seg[~covered] == 0).all(), "uncovered pixels are background")

    def test_ground_depth_follows_the_perspective_formula(self):
        sc = scene(64, 128, split_seed("heldout", 1))
        covered = np.zeros(sc.seg.shape, bool)
        for _, _, m in sc.objects:
            covered |= m
        bg = sc.depth.copy()
        col = [c for c in range(128) if not covered[:, c].any()][0]
        ground = bg[:, col]
        rows = np.nonzero(ground < MAX_DEPTH)[0]
        # depth = CAM_HEIGHT * f / (y + 0.5 - horizon): 1/depth is linear in the row with slope 1/(CAM_HEIGHT f)
        inv = 1.0 / ground[rows].astype(np.float64)
        slope = np.polyfit(rows, inv, 1)[0]
        self.assertAlmostEqual(slope, 1.0 / (CAM_HEIGHT * 0.9 * 64), places=6)
        self.assertTrue(np.all(np.diff(ground[rows]) < 0), "depth decreases downward, grows toward the horizon")
        self.assertEqual(ground[0], MAX_DEPTH, "the top row is sky")

    def test_bad_split(self):
        with self.assertRaises(ValueError):
            split_seed("test", 0)


if __name__ == "__main__":
    unittest.main()
