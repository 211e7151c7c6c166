"""Checkpoint import: safetensors and torch .pth (read without torch), module. prefix, rank split, errors."""

import collections
import pickle
import unittest

import numpy as np
import onnx
from onnx import numpy_helper

from m3vit import checkpoint, config, init
from m3vit.pipeline import export
from m3vit.pth import CheckpointError, load_pth

from .helpers import CONFIGS, exported, load_golden, tmpdir
from .pth_writer import Raw, View, write_pth


def micro():
    cfg = config.load(CONFIGS / "micro.toml")
    return cfg, init.seeded_state_dict(cfg)


def assert_same_state(test, got: dict, want: dict):
    test.assertEqual(sorted(got), sorted(want))
    for k in want:
        test.assertEqual((got[k].dtype, got[k].shape), (want[k].dtype, want[k].shape), k)
        np.testing.assert_array_equal(got[k], want[k], k)


class CheckpointTest(unittest.TestCase):
    def assert_same_export(self, out):
        seed = exported("micro")["model_path"].parent
        cfg = config.load(CONFIGS / "micro.toml")
        a, b = onnx.load(str(seed / "model.onnx")), onnx.load(str(out / "model.onnx"))
        for x, y in zip(a.graph.initializer, b.graph.initializer):
            np.testing.assert_array_equal(numpy_helper.to_array(x), numpy_helper.to_array(y), x.name)
        for (xa, oa, ra), (xb, ob, rb) in zip(load_golden(seed, cfg), load_golden(out, cfg)):
            np.testing.assert_array_equal(xa, xb)
            for t in cfg.task_names:
                np.testing.assert_array_equal(oa[t], ob[t])
                np.testing.assert_array_equal(ra[t], rb[t])

    def test_safetensors_export_equals_seed_export(self):
        cfg, state = micro()
        path = tmpdir("st") / "micro.safetensors"
        checkpoint.save_safetensors(state, path)
        assert_same_state(self, checkpoint.load_state_dict([str(path)]), state)
        out = tmpdir("st") / "out"
        export(CONFIGS / "micro.toml", out, [str(path)], log=lambda s: None)
        self.assert_same_export(out)

    def test_pth_module_prefix_and_state_dict_entry(self):
        cfg, state = micro()
        path = tmpdir("pth") / "ckpt.pth"
        sd = collections.OrderedDict(("module." + k, v) for k, v in state.items())
        sd._metadata = collections.OrderedDict([("", {"version": 1}), ("backbone", {"version": 1})])
        write_pth(path, {"epoch": 12, "best": 0.5, "state_dict": sd, "optimizer": {"lr": 1e-4}})
        assert_same_state(self, checkpoint.load_state_dict([str(path)]), state)
        out = tmpdir("pth") / "out"
        export(CONFIGS / "micro.toml", out, [str(path)], log=lambda s: None)
        self.assert_same_export(out)

    def test_pth_two_rank_split(self):
        cfg, state = micro()
        half = cfg.experts // 2
        rank0, rank1 = collections.OrderedDict(), collections.OrderedDict()
        for k, v in state.items():
            if k.endswith(checkpoint.EXPERT_KEYS):
                rank0["module." + k], rank1["module." + k] = v[:half], v[half:]
            else:
                rank0["module." + k] = v
        p0, p1 = tmpdir("ranks") / "rank0.pth", tmpdir("ranks") / "rank1.pth"
        write_pth(p0, {"state_dict": rank0})
        write_pth(p1, {"state_dict": rank1}, prefix="rank1")
        assert_same_state(self, checkpoint.load_state_dict([str(p0), str(p1)]), state)
        with self.assertRaisesRegex(CheckpointError, "non-expert tensor"):
            write_pth(p1, {"state_dict": {"module.backbone.cls_token": state["backbone.cls_token"]}})
            checkpoint.load_state_dict([str(p0), str(p1)])

    def test_pth_views_dtypes_and_int64(self):
        base = np.arange(24, dtype=np.float32)
        path = tmpdir("views") / "v.pth"
        write_pth(path, collections.OrderedDict(
            t=View(base, 2, (3, 4), (1, 3)),          # a transposed view with an offset
            h=np.array([[1.5, -2.0]], np.float16), n=np.array(7, np.int64), e=np.zeros((0, 3), np.float32)))
        got = load_pth(str(path))
        np.testing.assert_array_equal(got["t"], base[2:14].reshape(4, 3).T)
        self.assertEqual((got["h"].dtype, got["h"].tolist()), (np.float16, [[1.5, -2.0]]))
        self.assertEqual((got["n"].dtype, int(got["n"])), (np.int64, 7))
        self.assertEqual(got["e"].shape, (0, 3))
        bad = tmpdir("views") / "bad.pth"
        write_pth(bad, {"t": View(base, 20, (3, 4), (1, 3))})
        with self.assertRaisesRegex(CheckpointError, "exceeds its storage"):
            load_pth(str(bad))

    def test_hostile_pickle_is_not_executed(self):
        marker = tmpdir("hostile") / "pwned"
        path = tmpdir("hostile") / "h.pth"
        write_pth(path, {"x": Raw("os", "system", (f"touch {marker}",)), "w": np.ones(2, np.float32)})
        got = load_pth(str(path))
        self.assertFalse(marker.exists())
        self.assertNotIsInstance(got["x"], int)
        with self.assertRaisesRegex(CheckpointError, "not a tensor"):
            checkpoint.load_state_dict([str(path)])

    def test_errors(self):
        cfg, state = micro()
        missing = dict(state)
        del missing["decoders.depth.conv_2.weight"]
        with self.assertRaisesRegex(CheckpointError, "missing decoders.depth.conv_2.weight"):
            checkpoint.to_params(missing, cfg)
        wrong = dict(state)
        wrong["backbone.blocks.1.mlp.experts.htoh4.weight"] = np.zeros((8, 128, 64), np.float32)
        with self.assertRaisesRegex(CheckpointError, r"shape \[8, 128, 64\], config expects \[4, 128, 64\]"):
            checkpoint.to_params(wrong, cfg)
        not_zip = tmpdir("errors") / "legacy.pth"
        not_zip.write_bytes(pickle.dumps({"a": 1}, protocol=2))
        with self.assertRaisesRegex(CheckpointError, "legacy"):
            checkpoint.load_state_dict([str(not_zip)])
        with self.assertRaisesRegex(CheckpointError, "does not exist"):
            checkpoint.load_state_dict([str(tmpdir("errors") / "nope.safetensors")])

    def test_bn_folding(self):
        cfg, state = micro()
        params = checkpoint.to_params(state, cfg)
        pre = "decoders.semseg."
        g, b = state[pre + "syncbn_fc_1.weight"], state[pre + "syncbn_fc_1.bias"]
        mu, var = state[pre + "syncbn_fc_1.running_mean"], state[pre + "syncbn_fc_1.running_var"]
        x = np.random.default_rng(0).standard_normal((16, 3, 3))
        conv = np.einsum("ocij,cij->o", state[pre + "conv_1.weight"].astype(np.float64), x) + state[pre + "conv_1.bias"]
        bn = (conv - mu) / np.sqrt(var + 1e-5) * g + b
        folded = np.einsum("ocij,cij->o", params["head.semseg.conv1_w"].astype(np.float64), x) + \
            params["head.semseg.conv1_b"]
        np.testing.assert_allclose(folded, bn, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    unittest.main()
