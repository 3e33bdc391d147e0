"""The trainer's language-modelling task: next-token loss equal to torch's cross-entropy over the packed
blocks, perplexity, tokens/s, samples, gradient accumulation equal to one big batch, tokenizer.json in
the run dir, resume after a crash and after SIGKILL bitwise identical, invalid configs exit 2 with one line.

The causal LM here is a test-local one (:class:`TinyCausalLM`, registered only while a test runs) so the
task is tested on its own; the shipped configs train gpt_tiny/llama_tiny (tests/test_configs.py).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from dlzoo.train import load_config, resume, train
from dlzoo.train.checkpoint import list_checkpoints

TINY = "_test_tiny_causal_lm"


class TinyCausalLM(nn.Module):
    """Token + position embeddings, one pre-norm causal self-attention block (torch.nn), a linear head."""

    def __init__(self, vocab_size: int = 64, max_seq_len: int = 32, dim: int = 16, num_heads: int = 2,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.vocab_size, self.max_seq_len = vocab_size, max_seq_len
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_seq_len, dim)
        self.layers = nn.ModuleList([_Block(dim, num_heads, drop_rate) for _ in range(2)])
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, vocab_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        h = self.tok(input_ids) + self.pos(torch.arange(t, device=input_ids.device))  # (B, T, D)
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))  # (B, T, V)

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens, do_sample=False, temperature=1.0, top_k=None, top_p=None,
                 eos_token_id=None, use_cache=True, generator=None):
        ids = input_ids
        for _ in range(max_new_tokens):
            scores = self(ids[:, -self.max_seq_len:])[:, -1].float() / temperature
            if top_k is not None:
                kth = scores.topk(min(top_k, scores.shape[-1])).values[:, -1:]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            nxt = (torch.multinomial(scores.softmax(-1), 1, generator=generator) if do_sample
                   else scores.argmax(-1, keepdim=True))
            ids = torch.cat([ids, nxt], dim=1)
        return ids


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, drop_rate: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim),
                                 nn.Dropout(drop_rate))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        t = h.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)  # True = not allowed
        x = self.ln1(h)
        h = h + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]
        return h + self.mlp(self.ln2(h))


def register_tiny_lm() -> None:
    """Register :class:`TinyCausalLM` as model ``_test_tiny_causal_lm`` (idempotent)."""
    from dlzoo.models import MODELS, _import_families

    _import_families()
    if TINY not in MODELS:
        MODELS.register(TINY, family="test", task="causal-lm")(lambda **kw: TinyCausalLM(**kw))


def unregister_tiny_lm() -> None:
    from dlzoo.models import MODELS

    MODELS._builders.pop(TINY, None)
    MODELS._cards.pop(TINY, None)


@pytest.fixture(autouse=True)
def tiny_lm(tmp_path, monkeypatch):
    register_tiny_lm()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared machine
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus.txt")
    yield
    torch.set_num_threads(threads)
    unregister_tiny_lm()


def write_corpus(path: Path, docs: int = 10) -> Path:
    """Ten short stories separated by <|endoftext|> (TinyStories style), ~1.6 KB each."""
    words = "once upon a time there was a little model that learned to predict the next byte".split()
    stories = [" ".join(words[(i + j) % len(words)] for j in range(300)) + f". The end {i}."
               for i in range(docs)]
    path.write_text("\n<|endoftext|>\n".join(stories))
    return path


def lm_config(**sections) -> dict:
    cfg = {
        "name": "lm", "seed": 0,
        "model": {"name": TINY, "kwargs": {"max_seq_len": 32}},
        "data": {"name": "text_file", "root": "corpus.txt", "tokenizer": "byte", "block_size": 16,
                 "batch_size": 8, "val_fraction": 0.1, "test_fraction": 0.1},
        "optim": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.0},
        "schedule": {"name": "none"},
        "loss": {"name": "lm_cross_entropy"},
        "train": {"epochs": 1, "max_steps": 6, "log_every": 2, "device": "cpu"},
        "checkpoint": {"every_epochs": 1},
        "sample": {"prompt": "def ", "max_new_tokens": 8},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    return cfg


def _strip(path: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields."""
    return [{k: v for k, v in json.loads(line).items() if k not in ("epoch_time", "tokens_per_s")}
            for line in path.read_text().splitlines()]


def test_lm_run_metrics_match_torch_cross_entropy(tmp_path, capsys):
    result = train(lm_config(), run_dir=tmp_path / "run")
    out = capsys.readouterr().out
    rec = result.history[-1]
    assert rec["step"] == 6 and {"train_loss", "train_ppl", "val_loss", "val_ppl", "tokens_per_s"} <= set(rec)
    assert rec["val_ppl"] == pytest.approx(math.exp(rec["val_loss"]))
    assert rec["tokens_per_s"] > 0 and "tok/s" in out and "val_ppl" in out
    # the validation loss is torch's mean cross-entropy of the final model over every val block
    model, splits = result.model.eval(), result.data.splits
    x, y = splits.val[:]
    with torch.no_grad():
        expected = F.cross_entropy(model(x).reshape(-1, model.vocab_size), y.reshape(-1)).item()
    assert rec["val_loss"] == pytest.approx(expected, rel=1e-5)
    x, y = splits.test[:]
    with torch.no_grad():
        expected = F.cross_entropy(model(x).reshape(-1, model.vocab_size), y.reshape(-1)).item()
    assert result.test["loss"] == pytest.approx(expected, rel=1e-5)
    assert result.test["ppl"] == pytest.approx(math.exp(expected), rel=1e-5)
    # the sample: printed, stored, starts with the prompt, 8 new bytes
    assert rec["sample"].startswith("def ") and f"sample: {rec['sample']!r}" in out
    assert model.vocab_size == 257  # taken from the byte tokenizer
    run = result.run_dir
    assert (run / "tokenizer.json").is_file() and (run / "model.safetensors").is_file()
    from dlzoo.data.tokenizer import ByteTokenizer, load_tokenizer

    assert load_tokenizer(run).encode("héllo") == ByteTokenizer().encode("héllo")
    import dlzoo

    loaded = dlzoo.from_pretrained(run)
    torch.testing.assert_close(loaded(x[:2]), model(x[:2]))
    # the token blocks are the training stories joined by <|endoftext|> (id 256), shifted by one
    assert torch.equal(splits.train.y[:, :-1], splits.train.x[:, 1:])
    assert (splits.train.x.flatten() == 256).sum() >= 7


def test_pydoc_corpus_is_the_default_lm_data(tmp_path):
    cfg = lm_config(data={"name": "pydoc", "root": None, "val_fraction": 0.02, "test_fraction": 0.02},
                    train={"max_steps": 2}, sample={"max_new_tokens": 0})
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    from dlzoo.data.text import encode_documents, load_corpus

    corpus = load_corpus("pydoc", val_fraction=0.02, test_fraction=0.02)
    stream = encode_documents(result.data.splits.tokenizer, corpus.train)
    assert torch.equal(result.data.splits.train.x.flatten(), stream[: result.data.splits.train.x.numel()])
    assert math.isfinite(result.history[-1]["val_loss"])


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    common = {"optim": {"name": "sgd", "lr": 0.5, "weight_decay": 0.0},
              "train": {"epochs": 1, "max_steps": 3, "grad_clip": None, "device": "cpu"},
              "sample": {"max_new_tokens": 0}}
    big = train(lm_config(**common, data={"batch_size": 8}), run_dir=tmp_path / "big", progress=False)
    acc = lm_config(**common, data={"batch_size": 4})
    acc["train"]["grad_accum_steps"] = 2
    small = train(acc, run_dir=tmp_path / "acc", progress=False)
    assert small.history[-1]["step"] == big.history[-1]["step"] == 3
    start = TinyCausalLM(vocab_size=257, max_seq_len=32)
    moved = 0.0
    for (name, a), b in zip(big.model.state_dict().items(), small.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)
    moved = (big.model.output.weight - start.output.weight).abs().max().item()
    assert moved > 1e-3
    assert small.history[-1]["train_loss"] == pytest.approx(big.history[-1]["train_loss"], rel=1e-5)


def test_steps_per_epoch_with_accumulation_and_a_short_last_step(tmp_path):
    cfg = lm_config(data={"batch_size": 64}, train={"max_steps": None, "grad_accum_steps": 4},
                    sample={"max_new_tokens": 0})
    cfg["model"]["kwargs"]["max_seq_len"] = 16
    cfg["data"]["kwargs"] = {}
    from dlzoo.train.trainer import Trainer

    trainer = Trainer(load_config(cfg), run_dir=tmp_path / "r", progress=False)
    try:
        batches = len(trainer.data.train_loader)
        assert trainer.steps_per_epoch == math.ceil(batches / 4) == trainer.total_steps
    finally:
        trainer.close(failed_start=True)


def test_bpe_tokenizer_run_saves_and_resume_reads_tokenizer_json(tmp_path):
    cfg = lm_config(data={"tokenizer": "bpe", "vocab_size": 300}, train={"max_steps": 2},
                    sample={"max_new_tokens": 4})
    result = train(cfg, run_dir=tmp_path / "bpe", progress=False)
    assert result.model.vocab_size == 300
    from dlzoo.data.tokenizer import load_tokenizer

    saved = load_tokenizer(tmp_path / "bpe")
    assert saved == result.data.splits.tokenizer and saved.vocab_size == 300
    again = resume(tmp_path / "bpe", progress=False)
    assert again.already_complete and again.test["loss"] == pytest.approx(result.test["loss"])


def test_text_folder_corpus_trains(tmp_path):
    for i in range(5):
        (tmp_path / "docs").mkdir(exist_ok=True)
        lines = "".join(f"To be or not to be, line {j}.\n" for j in range(20))
        (tmp_path / "docs" / f"{i}.txt").write_text(lines)
    cfg = lm_config(data={"name": "text_folder", "root": str(tmp_path / "docs"), "val_fraction": 0.2,
                          "test_fraction": 0.2}, train={"max_steps": 3})
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    assert math.isfinite(result.history[-1]["val_loss"]) and result.history[-1]["step"] == 3


def test_crash_then_resume_is_bitwise_identical(tmp_path, monkeypatch):
    cfg = lm_config(train={"max_steps": 8}, checkpoint={"every_epochs": 1, "every_steps": 3})
    cfg["model"]["kwargs"]["drop_rate"] = 0.1
    ref = train(cfg, run_dir=tmp_path / "ref", progress=False)
    from dlzoo.train.trainer import Trainer

    original = Trainer._train_step

    def crash_at_step_5(self, x, y):
        if self.step == 5:
            raise RuntimeError("simulated crash")
        return original(self, x, y)

    monkeypatch.setattr(Trainer, "_train_step", crash_at_step_5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, run_dir=tmp_path / "crashed", progress=False)
    monkeypatch.setattr(Trainer, "_train_step", original)
    status = json.loads((tmp_path / "crashed" / "status.json").read_text())
    assert status["state"] == "failed" and not (tmp_path / "crashed" / "model.safetensors").exists()
    done = resume(tmp_path / "crashed", progress=False)
    assert done.history[-1]["step"] == 8
    assert (tmp_path / "crashed" / "model.safetensors").read_bytes() == \
        (ref.run_dir / "model.safetensors").read_bytes()
    assert _strip(tmp_path / "crashed" / "metrics.jsonl") == _strip(ref.run_dir / "metrics.jsonl")


BAD = [
    ({"data": {"block_size": 64}}, "data.block_size=64 is longer than the context"),
    ({"model": {"name": TINY, "kwargs": {"max_seq_len": 32, "vocab_size": 100}}}, "vocab_size=100"),
    ({"model": {"name": "mlp_digits", "kwargs": {}}}, "not a causal language model"),
    ({"loss": {"name": "cross_entropy"}}, "use loss.name=lm_cross_entropy"),
    ({"data": {"vocab_size": 500}}, "data.vocab_size=500"),
    ({"data": {"tokenizer": "wordpiece"}}, "data.tokenizer"),
    ({"data": {"img_size": 8}}, "data.img_size"),
    ({"data": {"name": "text_file", "root": None}}, "data.root"),
    ({"data": {"name": "digits", "root": None}}, "data.tokenizer applies to text corpora"),
    ({"train": {"grad_accum_steps": 0}}, "grad_accum_steps"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_invalid_lm_configs_exit_2_with_one_line(tmp_path, capsys, change, message):
    import yaml

    from dlzoo.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(lm_config(**change)))
    rc = main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "run" / "config.yaml").exists()  # nothing written


def _subprocess_script(tmp_path: Path) -> Path:
    """A ``dlzoo`` entry point that knows the test model (for subprocess runs)."""
    script = tmp_path / "dlzoo_with_tiny.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                      "from test_lm_task import register_tiny_lm\nregister_tiny_lm()\n"
                      "from dlzoo.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return script


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _newest_step(run: Path) -> int:
    found = list_checkpoints(run / "checkpoints")
    return int(found[-1].name.split("_")[1]) if found else -1


@pytest.mark.slow
def test_sigkill_and_resume_is_bitwise_identical(tmp_path):
    import yaml

    cfg = lm_config(train={"max_steps": 30, "log_every": 1000},
                    checkpoint={"every_epochs": 1, "every_steps": 4})
    cfg["model"]["kwargs"]["drop_rate"] = 0.1
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the arithmetic of the OMP_NUM_THREADS=1 subprocesses
    try:
        ref = train(load_config(path), run_dir=tmp_path / "ref", progress=False)
    finally:
        torch.set_num_threads(threads)
    script, run = _subprocess_script(tmp_path), tmp_path / "killed"
    cmd = [sys.executable, str(script), "train", str(path), "--run-dir", str(run), "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while _newest_step(run) < 4:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared in time"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run ended before the kill"
    assert not (run / "model.safetensors").exists()
    last = subprocess.run([sys.executable, str(script), "train", "--resume", str(run), "--quiet"], env=_env(),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert last.returncode == 0, last.stderr
    assert (run / "model.safetensors").read_bytes() == (ref.run_dir / "model.safetensors").read_bytes()
    assert _strip(run / "metrics.jsonl") == _strip(ref.run_dir / "metrics.jsonl")
    ref_weights = load_file(str(ref.run_dir / "model.safetensors"))
    assert set(ref_weights) == set(ref.model.state_dict())
