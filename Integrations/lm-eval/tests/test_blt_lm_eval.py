"""The lm-eval adapter end to end (run by `make test-lm-eval` from the repository root).

- per-request loglikelihoods equal transformers 5.24 fp32 (Tests/Fixtures/lm-eval/expected.json, made by
  Converters/reference/make_lm_eval_fixtures.py) within 1e-4 relative, and is_greedy matches;
- a local loglikelihood_rolling task's bits_per_byte equals `blt eval --no-eos` within 1e-6;
- a local multiple-choice task gives transformers' acc and acc_norm;
- generate_until equals `blt generate` greedy output cut at the stop string;
- data parallel: two ranks under `accelerate launch` on localhost, each with its own `blt serve`, print the table a
  single process prints, digit for digit;
- engine errors surface as Python exceptions carrying the engine's message.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTER_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(ADAPTER_DIR))
sys.path.insert(0, ADAPTER_DIR)

import blt_lm_eval  # noqa: E402  (registers "bytelatent")
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.registry import get_model  # noqa: E402

BLT = os.environ.get("BLT_BINARY") or os.path.join(ROOT, ".build", "release", "blt")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "lm-eval")
WINDOW, CONTEXT = 64, 16   # small windows, so the rolling task really is windowed

with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
    EXPECTED = json.load(f)


def instance(kind: str, arguments: tuple) -> Instance:
    return Instance(request_type=kind, doc={}, arguments=arguments, idx=0)


class AdapterTests(unittest.TestCase):
    def test_registered_under_bytelatent(self):
        self.assertIs(get_model("bytelatent"), blt_lm_eval.ByteLatentLM)
        # lm-eval's own backends stay available next to ours (its registry fills itself only while empty).
        self.assertEqual(get_model("dummy").__name__, "DummyLM")

    def test_loglikelihood_and_is_greedy_match_transformers(self):
        greedy = 0
        for name, model in EXPECTED["models"].items():
            lm = blt_lm_eval.ByteLatentLM(model=os.path.join(ROOT, model["path"]), blt=BLT)
            requests = model["requests"]
            results = lm.loglikelihood([instance("loglikelihood", (r["context"], r["continuation"])) for r in requests],
                                       disable_tqdm=True)
            self.assertEqual(len(results), len(requests))
            for r, (ll, is_greedy) in zip(requests, results):
                label = f"{name}: {r['context']!r} + {r['continuation']!r}"
                self.assertLessEqual(abs(ll - r["loglikelihood"]), 1e-4 * abs(r["loglikelihood"]),
                                     f"{label}: {ll} vs transformers {r['loglikelihood']}")
                self.assertEqual(is_greedy, r["is_greedy"], label)
                greedy += r["is_greedy"]
            lm.serve.close()
        self.assertGreater(greedy, 5)

    def test_engine_errors_are_python_exceptions_and_the_engine_keeps_serving(self):
        lm = blt_lm_eval.ByteLatentLM(model=os.path.join(ROOT, "Models", "blt-tiny"), blt=BLT)
        with self.assertRaises(blt_lm_eval.BLTServeError) as raised:
            lm.loglikelihood([instance("loglikelihood", ("x" * 9000, "y"))], disable_tqdm=True)
        self.assertIn("the model takes at most", str(raised.exception))
        (ll, _), = lm.loglikelihood([instance("loglikelihood", ("The ", "name"))], disable_tqdm=True)
        self.assertTrue(math.isfinite(ll) and ll < 0)
        lm.serve.close()
        with self.assertRaises(blt_lm_eval.BLTServeError) as raised:
            broken = blt_lm_eval.ByteLatentLM(model=os.path.join(ROOT, "no-such-model"), blt=BLT)
            try:
                broken.loglikelihood([instance("loglikelihood", ("a", "b"))], disable_tqdm=True)
            finally:
                broken.serve.close()
        self.assertIn("does not exist", str(raised.exception))

    def test_generate_until_equals_blt_generate_cut_at_the_stop(self):
        lm = blt_lm_eval.ByteLatentLM(model=os.path.join(ROOT, "Models", "blt-tiny"), blt=BLT)
        prompts = ["A scope defines", "Names refer to", "The"]
        kwargs = {"until": ["."], "max_gen_toks": 120, "do_sample": False}
        texts = lm.generate_until([instance("generate_until", (p, kwargs)) for p in prompts], disable_tqdm=True)
        cut_somewhere = False
        for prompt, text in zip(prompts, texts):
            run = subprocess.run([BLT, "generate", "--model", os.path.join(ROOT, "Models", "blt-tiny"), "--prompt", prompt,
                                  "--max-bytes", "120", "--json"], capture_output=True, check=True)
            ids = json.loads(run.stdout)["generated_ids"]
            if 2 in ids:
                ids = ids[: ids.index(2)]
            generated = bytes(i - 4 for i in ids if 4 <= i < 260)
            cut = generated.split(b".")[0]
            cut_somewhere |= len(cut) < len(generated)
            self.assertEqual(text, cut.decode("utf-8", "replace"), prompt)
        self.assertTrue(cut_somewhere, "no generation reached the stop string; pick other prompts")
        lm.serve.close()


def harness(launcher: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    """The script form through lm-eval's own CLI on the local tasks, started by `launcher` (the interpreter, or
    `accelerate launch …`); returns the run and the results file it wrote (rank 0 writes it)."""
    output = tempfile.mkdtemp(prefix="blt-lm-eval-")
    env = dict(os.environ, BLT_BINARY=BLT, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    command = launcher + [os.path.join(ADAPTER_DIR, "blt_lm_eval.py"), "--model", "bytelatent",
                          "--model_args", f"model=Models/blt-tiny,window={WINDOW},context={CONTEXT}",
                          "--tasks", "blt_local_rolling,blt_local_multiple_choice,blt_local_generate",
                          "--include_path", os.path.join(HERE, "tasks"), "--output_path", output]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{run.stdout}\n{run.stderr[-4000:]}")
    files = glob.glob(os.path.join(output, "**", "results_*.json"), recursive=True)
    assert len(files) == 1, files
    with open(files[0], encoding="utf-8") as f:
        return run, json.load(f)["results"]


def table(stdout: str) -> list[str]:
    """The results table lm-eval prints (its rows start with '|')."""
    return [line for line in stdout.splitlines() if line.startswith("|")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HarnessCLITests(unittest.TestCase):
    """The script form, through lm-eval's own CLI, on local tasks."""

    @classmethod
    def setUpClass(cls):
        cls.single, cls.results = harness([sys.executable])

    def test_two_ranks_under_accelerate_print_the_single_process_table(self):
        accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
        self.assertTrue(os.access(accelerate, os.X_OK), f"missing {accelerate}: pip install -r requirements.txt")
        # --multi_gpu is accelerate's launcher of several local processes; without a GPU they run on the CPU (gloo).
        # (`--cpu`, or no mode at all, starts a single process on a machine without GPUs.)
        run, results = harness([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                                "--mixed_precision", "no", "--dynamo_backend", "no",
                                "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port())])
        ranks = dict(re.findall(r"bytelatent: rank (\d) of 2, blt serve pid (\d+)", run.stderr))
        self.assertEqual(sorted(ranks), ["0", "1"], run.stderr[-4000:])
        self.assertNotEqual(ranks["0"], ranks["1"], "each rank runs a blt serve of its own")
        single = table(self.single.stdout)
        self.assertGreaterEqual(len(single), 7, self.single.stdout)
        self.assertEqual(table(run.stdout), single, f"single process:\n{self.single.stdout}\ntwo ranks:\n{run.stdout}")
        # Behind the printed digits: the gathered figures, up to the order the ranks' items were summed in.
        for task, metrics in self.results.items():
            for name, value in metrics.items():
                if isinstance(value, float):
                    self.assertAlmostEqual(results[task][name], value, delta=1e-12 * max(1, abs(value)), msg=f"{task} {name}")
                else:
                    self.assertEqual(results[task][name], value, f"{task} {name}")

    def test_rolling_bits_per_byte_equals_blt_eval_no_eos(self):
        run = subprocess.run([BLT, "eval", "--no-eos", "--json", "--model", "Models/blt-tiny", "--window", str(WINDOW),
                              "--context", str(CONTEXT), os.path.join(FIXTURES, "rolling.jsonl")],
                             cwd=ROOT, capture_output=True, check=True)
        eval_summary = json.loads(run.stdout)
        self.assertGreater(eval_summary["windows"], eval_summary["documents"], "the task must exercise windows")
        harness = self.results["blt_local_rolling"]["bits_per_byte,none"]
        self.assertAlmostEqual(harness, eval_summary["bits_per_byte"], delta=1e-6)

    def test_multiple_choice_acc_equals_transformers(self):
        expected = EXPECTED["multiple_choice"]
        result = self.results["blt_local_multiple_choice"]
        self.assertEqual(result["acc,none"], expected["acc"])
        self.assertEqual(result["acc_norm,none"], expected["acc_norm"])

    def test_generate_task_runs(self):
        self.assertEqual(self.results["blt_local_generate"]["sample_len"], len(EXPECTED["multiple_choice"]["docs"]))
        self.assertIn("exact_match,none", self.results["blt_local_generate"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
