"""``train.compile=true``: the torch.compile'd training step matches eager training (one small graph)."""

from __future__ import annotations

import pytest
import torch

from dlzoo.train import load_config, train


@pytest.mark.compile
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path):
    base = ["model.name=mlp_digits", "model.kwargs.hidden_dims=[32]", "train.max_steps=3",
            "schedule.name=none",
            "checkpoint.every_epochs=0", f"output_dir={tmp_path}"]
    compiled = train(load_config(None, [*base, "train.compile=true"]), run_dir=tmp_path / "c", progress=False)
    eager = train(load_config(None, base), run_dir=tmp_path / "e", progress=False)
    for (name, a), b in zip(compiled.model.state_dict().items(), eager.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert compiled.history[0]["step"] == eager.history[0]["step"] == 3
    assert compiled.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], rel=1e-5)
    # the saved model is the plain module (no "_orig_mod." prefixes)
    assert all(not k.startswith("_orig_mod") for k in compiled.model.state_dict())
