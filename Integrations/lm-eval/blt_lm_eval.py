#!/usr/bin/env python3
"""ByteLatent as an lm-evaluation-harness backend.

Importing this module registers the model name ``bytelatent`` with lm-eval (0.4.13):

    import blt_lm_eval, lm_eval
    lm_eval.simple_evaluate(model="bytelatent", model_args="model=Models/blt-tiny", tasks=[...])

Run as a script it takes exactly lm_eval's command-line arguments and hands over to lm-eval's own CLI:

    python Integrations/lm-eval/blt_lm_eval.py --model bytelatent --model_args model=Models/blt-tiny \\
        --tasks TASKS --include_path DIR

model_args: ``model=DIR`` (a BLT model directory, required), ``blt=PATH`` (the `blt` binary; default: $BLT_BINARY,
then .build/release/blt or .build/debug/blt of this checkout, then `blt` on PATH), ``window=N`` and ``context=N``
(loglikelihood_rolling windows, as `blt eval --window/--context`).

The adapter starts one ``blt serve --stdio`` process and streams requests to it as JSON lines (Docs/lm-eval.md).
Data parallel: under ``accelerate launch --num_processes N`` (or torchrun) every process is one rank; it reports its
rank and world size to the harness, which gives it every N-th document and gathers the results, and it runs a
``blt serve`` of its own.
Everything is byte-level: likelihoods are natural-log sums over the continuation's UTF-8 bytes. An error the engine
reports for a request is raised as ``BLTServeError`` with the engine's message.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import deque

import lm_eval.models  # noqa: F401  (lm-eval's own backends: its registry loads them only while it is empty)
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - lm-eval depends on tqdm
    tqdm = None

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MAX_GEN_BYTES = 256


class BLTServeError(RuntimeError):
    """The engine could not serve a request, or the `blt serve` process failed."""


def find_blt(explicit: str | None) -> str:
    candidates = [explicit, os.environ.get("BLT_BINARY"),
                  os.path.join(REPOSITORY, ".build", "release", "blt"), os.path.join(REPOSITORY, ".build", "debug", "blt")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if explicit:
        raise BLTServeError(f"blt binary '{explicit}' does not exist or is not executable")
    on_path = shutil.which("blt")
    if on_path:
        return on_path
    raise BLTServeError("cannot find the blt binary: build it (`swift build -c release`), pass model_args blt=PATH, "
                        "or set BLT_BINARY")


class BLTServe:
    """One `blt serve --stdio` process. Requests go out as JSON lines; responses come back one line each, in order."""

    def __init__(self, model: str, blt: str | None = None, window: int | None = None, context: int | None = None):
        command = [find_blt(blt), "serve", "--stdio", "--model", model]
        if window is not None:
            command += ["--window", str(int(window))]
        if context is not None:
            command += ["--context", str(int(context))]
        self.command = command
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Keep the tail of stderr (load errors, the ready message) without ever blocking the engine on a full pipe.
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()
        self._closed = False
        atexit.register(self.close)   # end the engine before the interpreter finalizes

    def _drain_stderr(self):
        for raw in self.process.stderr:
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _died(self) -> BLTServeError:
        status = self.process.wait()
        self._stderr_reader.join(timeout=5)
        message = "\n".join(self.stderr_tail).strip() or "(no message)"
        return BLTServeError(f"`{' '.join(self.command)}` stopped (exit status {status}): {message}")

    def request_all(self, requests: list[dict], progress=None) -> list[dict]:
        """Sends `requests` and returns one response per request, in order. A writer thread keeps the engine busy
        while responses are read, so the pipes never deadlock."""
        if self.process.poll() is not None:
            raise self._died()
        lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in requests]
        write_error: list[BaseException] = []

        def write():
            try:
                for line in lines:
                    self.process.stdin.write(line)
                self.process.stdin.flush()
            except BaseException as error:  # a dead engine: reported by the reader below
                write_error.append(error)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        responses = []
        for _ in requests:
            line = self.process.stdout.readline()
            if not line:
                raise self._died()
            responses.append(json.loads(line))
            if progress is not None:
                progress.update(1)
        writer.join()
        return responses

    def close(self):
        """Ends the engine (end of input) and releases the pipes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except Exception:
            self.process.kill()
            self.process.wait()
        self._stderr_reader.join(timeout=5)
        self.process.stdout.close()
        if not self._stderr_reader.is_alive():
            self.process.stderr.close()


def launched_accelerator():
    """accelerate's Accelerator when this process is one of several started by `accelerate launch` or torchrun
    (WORLD_SIZE > 1), else None. lm-eval splits the documents by the model's rank and world size and gathers the
    ranks' results through it (torch.distributed on CPU, gloo)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=True)


def _checked(response: dict, request: dict) -> dict:
    if "error" in response:
        shown = {k: (v if not isinstance(v, str) or len(v) <= 80 else v[:77] + "...") for k, v in request.items()}
        raise BLTServeError(f"blt serve: {response['error']} (request {json.dumps(shown, ensure_ascii=False)})")
    return response


@register_model("bytelatent")
class ByteLatentLM(LM):
    """lm-eval model backed by the ByteLatent engine (`blt serve --stdio`)."""

    def __init__(self, model: str | None = None, blt: str | None = None, window: int | None = None,
                 context: int | None = None, max_gen_toks: int = DEFAULT_MAX_GEN_BYTES, **_ignored):
        # lm-eval passes batch_size, device, ... to every backend; the engine batches on its own.
        super().__init__()
        if not model:
            raise BLTServeError("model_args needs model=DIR (a BLT model directory, e.g. model=Models/blt-tiny)")
        self.model_dir = model
        self.max_gen_toks = int(max_gen_toks)
        self.accelerator = launched_accelerator()
        if self.accelerator is not None:
            self._rank, self._world_size = self.accelerator.process_index, self.accelerator.num_processes
            self._device = self.accelerator.device
        self.serve = BLTServe(model, blt=blt, window=window, context=context)
        if self.accelerator is not None:
            print(f"bytelatent: rank {self._rank} of {self._world_size}, blt serve pid {self.serve.process.pid}",
                  file=sys.stderr, flush=True)

    # lm-eval's collectives for a data parallel run (its defaults are for one process).
    def all_gather(self, tensor):
        return tensor if self.accelerator is None else self.accelerator.gather(tensor)

    def gather_object(self, obj, dst=0):
        if self.accelerator is None:
            return [obj]
        import torch.distributed

        gathered = [None] * self._world_size if self._rank == dst else None
        torch.distributed.gather_object(obj=obj, object_gather_list=gathered, dst=dst)
        return gathered

    def barrier(self):
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    def _run(self, requests: list[dict], description: str, disable_tqdm: bool) -> list[dict]:
        bar = None
        if tqdm is not None and not disable_tqdm and requests:
            bar = tqdm(total=len(requests), desc=description)
        try:
            responses = self.serve.request_all(requests, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        return [_checked(response, request) for response, request in zip(responses, requests)]

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        payload = [{"type": "loglikelihood", "context": r.args[0], "continuation": r.args[1]} for r in requests]
        # Requests with the same context go out together, so the engine computes each context once.
        order = sorted(range(len(payload)), key=lambda i: (payload[i]["context"], i))
        responses = self._run([payload[i] for i in order], "bytelatent loglikelihood", disable_tqdm)
        results: list = [None] * len(payload)
        for i, response in zip(order, responses):
            results[i] = (float(response["loglikelihood"]), bool(response["is_greedy"]))
            self.cache_hook.add_partial("loglikelihood", requests[i].args, results[i])
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        payload = [{"type": "loglikelihood_rolling", "text": r.args[0]} for r in requests]
        responses = self._run(payload, "bytelatent loglikelihood_rolling", disable_tqdm)
        results = [float(response["loglikelihood"]) for response in responses]
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, result)
        return results

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        payload = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] or {})
            if kwargs.get("do_sample") or float(kwargs.get("temperature", 0) or 0) > 0:
                raise BLTServeError("bytelatent generates greedily only; set do_sample: false / temperature: 0")
            until = kwargs.get("until") or []
            if isinstance(until, str):
                until = [until]
            payload.append({"type": "generate_until", "context": context, "until": list(until),
                            "max_bytes": int(kwargs.get("max_gen_toks", self.max_gen_toks))})
        responses = self._run(payload, "bytelatent generate_until", disable_tqdm)
        results = [response["text"] for response in responses]
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("generate_until", request.args, result)
        return results

    @property
    def tokenizer_name(self) -> str:
        return "bytelatent-bytes"


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
