#!/bin/bash
# Run every command of the pipeline on a small budget and write its outputs to DIR, with the
# wall-clock fields removed, so that two trees can be compared with `diff -r DIR1 DIR2`.
# Usage: tools/pipeline_outputs.sh DIR [PYTHON]   (run from the repository root; PYTHONPATH picks
# the tree: PYTHONPATH=$PWD/src tools/pipeline_outputs.sh /tmp/out)
set -euo pipefail
OUT=$1
PY=${2:-.venv/bin/python}
TORCHRUN=$(dirname "$PY")/torchrun
export OMP_NUM_THREADS=1
rm -rf "$OUT" && mkdir -p "$OUT/raw"
SMALL=(--model mnistfc --budget 0.2 --eval-every 0.1 --test-subset 500 --bn-refresh-batches 5
       --seed 1 --threads 1 --quiet)
for m in sgd elastic-sgd; do
  $PY -m deeprelax train "${SMALL[@]}" --optim $m --out "$OUT/raw/train_$m" > "$OUT/train_$m.txt"
done
for m in entropy-sgd hj heat prox-sgd parle; do
  $PY -m deeprelax train "${SMALL[@]}" --optim $m --L 3 --out "$OUT/raw/train_$m" > "$OUT/train_$m.txt"
done
$PY -m deeprelax train "${SMALL[@]}" --optim parle --L 3 --rho 0.5 --rho-max 2 --gamma 0.03 \
    --out "$OUT/raw/train_parle_kappa" > "$OUT/train_parle_kappa.txt"
$TORCHRUN --standalone --nproc-per-node 2 -m deeprelax train "${SMALL[@]}" --optim parle --L 3 \
    --out "$OUT/raw/torchrun_parle" > "$OUT/torchrun_parle.txt" 2>/dev/null
$TORCHRUN --standalone --nproc-per-node 2 -m deeprelax train "${SMALL[@]}" --optim elastic-sgd \
    --shard --out "$OUT/raw/torchrun_elastic" > "$OUT/torchrun_elastic.txt" 2>/dev/null
$PY -m deeprelax reproduce --models mnistfc --methods sgd,entropy-sgd,parle --seeds 1 --scale 0.001 \
    --out "$OUT/raw/repro" --threads 1 --quiet > "$OUT/reproduce.txt"
$PY -m deeprelax analyze "$OUT/raw/train_entropy-sgd/checkpoint.pt" --other "$OUT/raw/train_sgd/checkpoint.pt" \
    --k 2 --batches 1 --batch-size 64 --probes 1 --lanczos-steps 8 --trace-probes 2 --chains 2 \
    --langevin-steps 5 --entropy-samples 2 --out "$OUT/raw/analysis" --threads 1 > "$OUT/analyze.txt"
$PY -m deeprelax verify --only 1 2 3 > "$OUT/verify.txt"
$PY -m deeprelax figure smoothing --out "$OUT/raw/fig" > "$OUT/figure.txt"
# strip wall-clock and path-dependent fields; keep everything else
$PY - "$OUT" <<'PYEOF'
import json, re, sys, pathlib
out = pathlib.Path(sys.argv[1])
def clean(obj):
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items() if not re.search(r"wall|time_s|seconds|_s$|date|machine|host|path|out_dir|elapsed", k)}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj
for f in sorted((out / "raw").rglob("*")):
    rel = f.relative_to(out / "raw")
    dst = out / "clean" / rel
    if f.suffix == ".jsonl":
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("".join(json.dumps(clean(json.loads(l)), sort_keys=True) + "\n" for l in f.read_text().splitlines() if l.strip()))
    elif f.suffix == ".json":
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(clean(json.loads(f.read_text())), sort_keys=True, indent=1))
    elif f.suffix in (".md", ".txt"):
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f.read_text())
for t in out.glob("*.txt"):
    t.write_text(re.sub(r"\(\d+ s\)|[\d.]+ ?s\b", "<s>", t.read_text().replace(str(out), "OUT")))
PYEOF
echo "outputs in $OUT/clean and $OUT/*.txt"
