import subprocess
import sys
import tomllib
import unittest

from m3vit.config import ConfigError, load, parse

from .helpers import CONFIGS, MODELS, tmpdir


def base() -> dict:
    return tomllib.loads((CONFIGS / "micro.toml").read_text())


class ConfigTest(unittest.TestCase):
    def test_shipped_configs(self):
        micro = load(CONFIGS / "micro.toml")
        self.assertEqual((micro.tokens, micro.moe_blocks, micro.head, micro.mlp_hidden), (9, (1, 3), "pup", 256))
        self.assertEqual(micro.mean, (0.485, 0.456, 0.406))
        light = load(CONFIGS / "tiny-light.toml")
        self.assertEqual((light.head, light.depth, light.moe_blocks, light.mean), ("light", 2, (1,), None))
        self.assertEqual([(t.name, t.channels, t.post) for t in light.tasks],
                         [("semseg", 5, "argmax"), ("depth", 1, "raw"), ("edge", 1, "sigmoid")])
        t = load(CONFIGS / "m3vit-t.toml")
        self.assertEqual((t.tokens, t.dim, t.experts, t.expert_hidden, t.moe_blocks, t.head_width),
                         (129, 192, 16, 384, (1, 3, 5, 7, 9, 11), 256))

    def test_default_moe_blocks_are_odd(self):
        table = base()
        del table["moe_blocks"]
        table["depth"] = 6
        self.assertEqual(parse(table).moe_blocks, (1, 3, 5))

    def assertRejects(self, change, fragment: str):
        table = base()
        change(table)
        with self.assertRaises(ConfigError) as ctx:
            parse(table)
        self.assertIn(fragment, str(ctx.exception))

    def test_errors(self):
        self.assertRejects(lambda t: t.pop("dim"), "missing key `dim`")
        self.assertRejects(lambda t: t.update(patch=12, head="light"), "patch 12 does not divide")
        self.assertRejects(lambda t: t.update(patch=8), "needs patch 16")
        self.assertRejects(lambda t: t.update(heads=3), "does not divide dim")
        self.assertRejects(lambda t: t.update(top_k=5), "exceeds experts")
        self.assertRejects(lambda t: t.update(head="fpn"), "head must be one of")
        self.assertRejects(lambda t: t.update(dimm=3), "unknown key(s) dimm")
        self.assertRejects(lambda t: t.update(moe_blocks=[1, 4]), "moe_blocks")
        self.assertRejects(lambda t: t.update(depth="4"), "must be an integer")
        self.assertRejects(lambda t: t.update(normalize={"mean": [0, 0, 0], "std": [1, 0, 1]}), "positive")
        self.assertRejects(lambda t: t.update(normalize={"mean": [0, 0]}), "normalize")
        self.assertRejects(lambda t: t.update(tasks=[]), "at least one")
        self.assertRejects(lambda t: t["tasks"][1].update(name="semseg"), "distinct")
        self.assertRejects(lambda t: t["tasks"][0].update(post="softmax"), "post must be one of")
        self.assertRejects(lambda t: t["tasks"][0].update(name="input"), "identifier")
        # 47 patches + cls = 48 tokens: the reference head would keep the cls token.
        self.assertRejects(lambda t: t.update(image_h=16, image_w=47 * 16), "multiple of 48")

    def test_cli_reports_bad_config(self):
        bad = tmpdir("bad-config") / "bad.toml"
        bad.write_text((CONFIGS / "micro.toml").read_text().replace("image_w = 64", "image_w = 60"))
        proc = subprocess.run([sys.executable, str(MODELS / "export.py"), "--config", str(bad), "--out",
                               str(tmpdir("bad-out"))], capture_output=True, text=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("patch 16 does not divide the image 32x60", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)


if __name__ == "__main__":
    unittest.main()
