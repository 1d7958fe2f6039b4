#!/bin/sh
# The GPU measurement of the train step in one run (benches/README.md, "On the GPU"): every row of the
# sweep in a process of its own, GPU utilisation and memory sampled by nvidia-smi meanwhile, the first
# step's cost with an empty and with a warm kernel cache, and what reading the loss every step costs.
#
#   benches/cuda/measure.sh BIN OUT [SECONDS]
#
# BIN is the train bench built with `cargo bench --bench train --features cuda --no-run` (stripped; it needs
# no registry or toolchain on the GPU machine); OUT a folder for the results; SECONDS a budget after which
# the remaining rows are skipped (default 420). Results: OUT/rows.txt (one line of `key value` pairs per
# row), OUT/smi.csv (utilisation and memory every 200 ms), OUT/cache.txt (first step, cold and warm).
set -u
BIN=$1
OUT=$2
BUDGET=${3:-420}
mkdir -p "$OUT"
start=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 200 \
    > "$OUT/smi.csv" 2>/dev/null &
smi=$!
elapsed() { echo $(( $(date +%s) - start )); }
row() { # BACKEND NAME BATCH MODE READ_EVERY
    from=$(elapsed)
    line=$(timeout 240 "$BIN" --device-row "$@" 2>>"$OUT/stderr.txt") || line="case $2 batch $3 mode $4 failed"
    echo "$line from_s $from to_s $(elapsed)" | tee -a "$OUT/rows.txt"
}

# Kernel cache: the same row in two processes, first with an empty cache, then warm (the project keeps
# compiled kernels and autotune results under $STUDY_KERNEL_CACHE between processes).
export STUDY_KERNEL_CACHE="$OUT/kernel-cache"
rm -rf "$STUDY_KERNEL_CACHE"
for run in cold warm; do
    echo "$run $("$BIN" --device-row cuda cnn/32 32 train 1 2>>"$OUT/stderr.txt")" | tee -a "$OUT/cache.txt"
done
du -sh "$STUDY_KERNEL_CACHE" 2>/dev/null | tee -a "$OUT/cache.txt"

# The sweep, training then inference; the loss read every step and every 20 steps for the ResNet-18 rows.
"$BIN" --device-list | while read -r name batch; do
    [ "$(elapsed)" -lt "$BUDGET" ] || { echo "budget spent: $name $batch skipped" | tee -a "$OUT/rows.txt"; continue; }
    row cuda "$name" "$batch" train 1
    [ "$name" = resnet18/32 ] && row cuda "$name" "$batch" train 20
    row cuda "$name" "$batch" inference 1
done
kill $smi 2>/dev/null
echo "total $(elapsed) s" | tee -a "$OUT/rows.txt"
