"""metrics.py against hand-worked cases."""

import math
import unittest

import numpy as np

import metrics


class MetricsTest(unittest.TestCase):
    def test_miou_hand_worked(self):
        # gt:   0 0 1 1 2 2      pred: 0 1 1 1 2 0
        # class 0: TP 1, FP 1 (last pixel), FN 1 (second pixel) -> 1/3
        # class 1: TP 2, FP 1, FN 0 -> 2/3 ; class 2: TP 1, FP 0, FN 1 -> 1/2 ; class 3 absent -> nan, skipped
        gt = np.array([[0, 0, 1], [1, 2, 2]])
        pred = np.array([[0, 1, 1], [1, 2, 0]])
        conf = metrics.confusion(pred, gt, 4)
        self.assertEqual(conf.tolist(), [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
        iou = metrics.iou_per_class(conf)
        np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
        self.assertTrue(math.isnan(iou[3]))
        self.assertAlmostEqual(metrics.miou(conf), (1 / 3 + 2 / 3 + 1 / 2) / 3)

    def test_perfect_and_disjoint(self):
        gt = np.array([0, 1, 2, 2])
        self.assertEqual(metrics.miou(metrics.confusion(gt, gt, 3)), 1.0)
        self.assertEqual(metrics.miou(metrics.confusion(np.array([1, 2, 0, 0]), gt, 3)), 0.0)

    def test_depth_hand_worked(self):
        gt = np.array([1.0, 2.0, 4.0, 10.0])
        pred = np.array([1.2, 2.0, 3.0, -1.0])
        m = metrics.depth_metrics(pred, gt)
        # errors 0.2, 0, -1, -11: mse = (0.04 + 0 + 1 + 121) / 4
        self.assertAlmostEqual(m["rmse"], math.sqrt(122.04 / 4))
        # ratios 1.2 (<1.25), 1, 4/3 (no), 10/0.001 (no) -> 2/4
        self.assertAlmostEqual(m["delta1"], 0.5)
        self.assertAlmostEqual(m["absrel"], (0.2 + 0 + 0.25 + 1.1) / 4)

    def test_bad_inputs(self):
        with self.assertRaises(ValueError):
            metrics.confusion(np.array([0, 3]), np.array([0, 1]), 3)
        with self.assertRaises(ValueError):
            metrics.depth_metrics(np.array([1.0]), np.array([0.0]))


if __name__ == "__main__":
    unittest.main()
