"""The JAX training forward equals the float64 numpy reference (skipped where JAX is not installed, as in the
exporter venv; run it with the training venv: see models/trained/README.md)."""

import importlib.util
import unittest

import numpy as np

from m3vit import checkpoint, config, reference
from scenes import batch
from tests.helpers import CONFIGS

HAVE_JAX = importlib.util.find_spec("jax") is not None


@unittest.skipUnless(HAVE_JAX, "jax is not installed (training venv only)")
class JaxModelTest(unittest.TestCase):
    def test_forward_equals_reference_through_the_state_dict(self):
        import jax
        jax.config.update("jax_enable_x64", True)
        import jaxmodel
        for name in ("micro", "tiny-light"):       # pup and light heads, 2 and 3 tasks
            cfg = config.load(CONFIGS / f"{name}.toml")
            P = jaxmodel.init_params(cfg)
            params = checkpoint.to_params(jaxmodel.to_state_dict(P, cfg), cfg)
            x, _, _ = batch(cfg.image_h, cfg.image_w, "heldout", 0, 2)
            P64 = {k: jax.numpy.asarray(v, jax.numpy.float64) for k, v in P.items()}
            for ti, task in enumerate(cfg.task_names):
                out, probs = jaxmodel.forward(P64, cfg, x.astype(np.float64), ti)
                for b in range(2):
                    ref = reference.forward(params, cfg, x[b:b + 1])
                    np.testing.assert_allclose(np.asarray(out[b]), ref.outputs[task][0], atol=1e-10)
                    np.testing.assert_allclose(np.asarray(probs[:, b]), ref.probs[task], atol=1e-12)

    def test_identity_batchnorm_folds_exactly(self):
        import jaxmodel
        cfg = config.load(CONFIGS / "micro.toml")
        P = jaxmodel.init_params(cfg)
        params = checkpoint.to_params(jaxmodel.to_state_dict(P, cfg), cfg)
        np.testing.assert_allclose(params["head.depth.conv2_w"], P["decoders.depth.conv_2.weight"], rtol=1e-7)
        np.testing.assert_allclose(params["head.semseg.conv0_b"], P["decoders.semseg.conv_0.bias"], rtol=1e-7)


if __name__ == "__main__":
    unittest.main()
