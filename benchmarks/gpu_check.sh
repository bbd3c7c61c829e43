#!/usr/bin/env bash
# One prepared call for a machine with a CUDA GPU: the optimizer battery on CUDA (fused=True
# included), then the step-overhead, fused-overhead and state-memory benchmarks on CUDA, each
# printing ratios against a baseline measured in the same run.  The fused-overhead step also times
# the in-kernel Philox noise draw against normal_ per gradient evaluation on mnistfc (the line
# "in-kernel Philox draw vs normal_": below 1 means the in-kernel draw is faster, the evidence for
# letting NOISE_SOURCE "auto" pick it on CUDA).  The timeouts add up to 550 s, under one 600 s
# call.  Writes a copy of everything it prints to ${OUT:-.}/gpu_check.txt (the device tool brings
# $OUT back).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with .venv built
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOG=${OUT:-.}/gpu_check.txt
{
  echo "== $(date -u) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null)"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  echo "== cuda tests"
  timeout 120 $PY -m pytest -q -m "cuda and not compile" tests/optim -p no:cacheprovider 2>&1 | tail -25
  echo "== fused=True on cuda: fused = eager, in-kernel Philox noise = eager draws of its stream"
  timeout 180 $PY -m pytest -q -m "cuda and compile" tests/optim -p no:cacheprovider 2>&1 | tail -15
  echo "== fused overhead on cuda (vs torch's fused and foreach SGD); in-kernel Philox draw vs normal_"
  timeout 150 $PY benchmarks/fused_overhead.py --device cuda --rounds 5 --draw --kernel-noise 2>&1 | tail -20
  echo "== step overhead on cuda (time per gradient evaluation / SGD's, median of rounds)"
  timeout 60 $PY benchmarks/step_overhead.py --device cuda --rounds 3 --evals 40 2>&1 | tail -20
  echo "== state and peak memory on cuda"
  timeout 40 $PY benchmarks/state_memory.py --device cuda 2>&1 | tail -14
} 2>&1 | tee "$LOG"
