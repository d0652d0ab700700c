#!/bin/bash
# The lm-eval benchmark of Docs/benchmarks.md: harness wall time of the `bytelatent` backend against lm-eval's own
# `hf` backend (transformers' BLT) in bf16 and fp32, on a multiple-choice task (50 x 4 = 200 loglikelihood
# requests) and a rolling-perplexity task (2,545 bytes in 4 documents). Each run takes /work/bench.lock (multi-GB).
#   MODEL=DIR (transformers layout + the byte tokenizer files from Converters/reference/make_byte_tokenizer.py)
#   Run from the repository root after `swift build -c release` and the lm-eval venv (Docs/lm-eval.md) + accelerate.
set -u
MODEL=${MODEL:?set MODEL=DIR}
OUT=bench-out/lm-eval
PY=.venv-lm-eval/bin/python
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 BLT_BINARY=.build/release/blt
python3 Integrations/lm-eval/bench/make_bench_tasks.py
grep -m1 'model name' /proc/cpuinfo | tee $OUT/cpu.txt
for task in blt_bench_multiple_choice blt_bench_rolling; do
  for backend in ${BACKENDS:-bytelatent hf-bf16 hf-fp32}; do
    case $backend in
      bytelatent) args=(--model bytelatent --model_args model=$MODEL) ;;
      hf-bf16) args=(--model hf --model_args pretrained=$MODEL,dtype=bfloat16,add_bos_token=True) ;;
      hf-fp32) args=(--model hf --model_args pretrained=$MODEL,dtype=float32,add_bos_token=True) ;;
    esac
    log=$OUT/$task-$backend.log
    flock /work/bench.lock /usr/bin/time -v $PY Integrations/lm-eval/blt_lm_eval.py "${args[@]}" --tasks $task \
      --include_path Integrations/lm-eval/bench/tasks --output_path $OUT/$task-$backend --log_samples > $log 2>&1
    echo "$task $backend: $(grep -E 'Elapsed' $log | sed 's/.*: //') wall, $(grep -E 'Maximum resident' $log | sed 's/.*: //') KB peak RSS, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $OUT/summary.txt
    grep -E '^\|' $log | grep -E 'acc|bits_per_byte' | tee -a $OUT/summary.txt
  done
done
