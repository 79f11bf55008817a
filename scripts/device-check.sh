#!/usr/bin/env bash
# The accelerator check (issue 18), one script for a session that has a GPU machine (<= 8 minutes there):
# builds diagecg against that machine's own LibTorch (its python3's torch, with CUDA), runs the device tests
# (tests/test-device.cpp: CPU vs CUDA logits on stories260K and SmolLM2 within bf16 tolerance, KV-cached decoding,
# LoRA merged == unmerged, a training step) and a stage-2 run, and prints decode tok/s at batch 1 and 16 (TinyLlama
# shape and SmolLM2, bf16), stage-2 tokens/s with MFU against the GPU's bf16 peak, and ECG tokenizer ECGs/s at
# batch 256.
#   scripts/device-check.sh --prepare   here (CPU, with the registries): the Debian -dev packages the build needs,
#                                       unpacked with dpkg -x into .cache/device-sysroot (carry it to the device)
#   scripts/device-check.sh             on the GPU machine (device tool: carry .cache/device-sysroot)
#   scripts/device-check.sh --dry-run   here: every step on the CPU (DIAGECG_TEST_DEVICE=cpu, --device cpu, small
#                                       sizes), built against scripts/setup-torch.sh's LibTorch in build-torch2/
#   BUILD_DIR    build folder (default build-device; --dry-run: build-torch2)
#   DIAGECG_SMOLLM2   SmolLM2 model directory or .gguf (default: the GGUF scripts/setup-python.sh caches, if present)
#   GPU_BF16_TFLOPS   the GPU's dense bf16 peak for MFU (default: 989, H100/H200 SXM)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=device
case "${1:-}" in
  --prepare) mode=prepare ;;
  --dry-run) mode=dry ;;
  "") ;;
  *) echo "device-check: unknown argument $1 (--prepare | --dry-run)" >&2; exit 2 ;;
esac
sysroot=$PWD/.cache/device-sysroot
t0=$(date +%s)
say() { echo "device-check [$(($(date +%s) - t0)) s]: $*" >&2; }

if [ "$mode" = prepare ]; then
  # Headers and libraries of the packages scripts/setup.sh installs that a machine with only a compiler and torch
  # lacks (the runtime .so files of sentencepiece/spdlog/fmt/pugixml/pcre2/utf8proc/gtest come with them).
  pkgs=(nlohmann-json3-dev libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libsentencepiece-dev
        libsentencepiece0 libprotobuf-lite32 libpugixml-dev libpugixml1v5 libpcre2-dev libpcre2-8-0 libutf8proc-dev
        libutf8proc2 libgtest-dev googletest zlib1g-dev libgloo-dev ninja-build)
  rm -rf "$sysroot" .cache/device-debs
  mkdir -p "$sysroot" .cache/device-debs
  (cd .cache/device-debs && apt-get download "${pkgs[@]}" >&2)
  for d in .cache/device-debs/*.deb; do dpkg -x "$d" "$sysroot"; done
  rm -rf "$sysroot/usr/share/doc" "$sysroot/usr/share/man" "$sysroot/usr/src" .cache/device-debs
  say "sysroot $(du -sh "$sysroot" | cut -f1) in $sysroot (run tool: carry [\".cache/device-sysroot\"])"
  exit 0
fi

if [ "$mode" = dry ]; then
  build=${BUILD_DIR:-build-torch2}
  python=$(scripts/setup-torch.sh --print-python)
  dev=cpu
  export DIAGECG_TEST_DEVICE=cpu
else
  build=${BUILD_DIR:-build-device}
  python=python3
  dev=cuda
fi
read -r torch_ver cuda_ver gpu prefix < <("$python" -c 'import torch, torch.utils
print(torch.__version__, torch.version.cuda, (torch.cuda.get_device_name(0).replace(" ", "_") if torch.cuda.is_available() else "none"), torch.utils.cmake_prefix_path)' 2>/dev/null)
say "torch $torch_ver (CUDA $cuda_ver), GPU $gpu; mode $mode"
if [ "$mode" = device ] && [ "$gpu" = none ]; then echo "device-check: python3's torch sees no GPU" >&2; exit 1; fi
torch_root=$(dirname "$(dirname "$prefix")")   # .../site-packages/torch

# The build: against that torch, the Debian -dev packages from the machine or from the carried sysroot.
cmake_args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$torch_root")
if [ -d "$sysroot" ]; then
  export PKG_CONFIG_PATH="$sysroot/usr/lib/x86_64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}"
  export PKG_CONFIG_SYSROOT_DIR=""
  export LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export PATH="$sysroot/usr/bin:$PATH"
  cmake_args+=("-DCMAKE_PREFIX_PATH=$torch_root;$sysroot/usr" "-DCMAKE_CXX_FLAGS=-isystem $sysroot/usr/include")
fi
gen=(-G Ninja)
command -v ninja >/dev/null || gen=(-G "Unix Makefiles")
if [ "$mode" = device ] || ! [ -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" "${gen[@]}" "${cmake_args[@]}" >&2
fi
cmake --build "$build" -j "$(nproc)" --target diagecg_cli diagecg_tests >&2
say "built in $build"
bin=$build/diagecg

# SmolLM2: an explicit path, else the GGUF the setup caches.
smol=${DIAGECG_SMOLLM2:-$(scripts/setup-python.sh --print-model 2>/dev/null || true)}
[ -e "$smol" ] && export DIAGECG_SMOLLM2=$smol || unset DIAGECG_SMOLLM2

# 1. Device tests (CPU vs device), and --device parsing end to end.
"$build/diagecg_tests" --gtest_filter='Device.*' --gtest_brief=1
if [ "$mode" = dry ] && ! "$bin" generate -m tests/data/models/stories260K -p x --device cuda 2>"$build/dev.err"; then
  say "--device cuda here: $(cat "$build/dev.err")"
fi

# 2. Decode tok/s, batch 1 and 16, bf16: the TinyLlama shape (random weights) and SmolLM2.
if [ "$mode" = dry ]; then sizes=(--n-prompt 16 --n-gen 4 --reps 1 --shape stories260k); else sizes=(--n-prompt 128 --n-gen 64 --reps 2 --shape tinyllama); fi
"$bin" bench llm --device "$dev" --dtype bf16 --batch 1 16 --attention auto manual "${sizes[@]}" --log-level warn
if [ -n "${DIAGECG_SMOLLM2:-}" ]; then
  "$bin" bench llm --device "$dev" -m "$DIAGECG_SMOLLM2" --dtype bf16 --batch 1 16 "${sizes[@]:0:6}" --log-level warn
fi

# 3. Stage 2: a few steps of configs/pretrain-tiny.json (stories260K + ECG tokens) in bf16; tokens/s and MFU
#    (6 x parameters x tokens/s against the bf16 peak; a 260K-parameter model is far from the peak by design).
run=$build/device-check-pretrain
rm -rf "$run"
"$bin" pretrain --config configs/pretrain-tiny.json --device "$dev" --precision bf16 --max-steps 8 -o "$run" --log-level warn >"$run.json"
"$python" - "$run.json" "$run/model" "${GPU_BF16_TFLOPS:-989}" "$mode" <<'PY'
import json, os, struct, sys
r = json.load(open(sys.argv[1]))
n = 0
for f in os.listdir(sys.argv[2]):
    if f.endswith(".safetensors"):
        with open(os.path.join(sys.argv[2], f), "rb") as fh:
            h = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        for k, v in h.items():
            if k != "__metadata__":
                p = 1
                for d in v["shape"]: p *= d
                n += p
tps = r["tokens_per_s"]
mfu = 6 * n * tps / (float(sys.argv[3]) * 1e12)
print(f"stage 2 (pretrain-tiny, bf16): {r['steps']} steps, loss {r['last_loss']:.4f}, {tps:.0f} tokens/s, "
      f"{n} parameters, MFU {100 * mfu:.4f} % of {sys.argv[3]} TFLOP/s" + (" (dry run: CPU)" if sys.argv[4] == "dry" else ""))
if not r["last_loss"] == r["last_loss"]: sys.exit("stage 2 loss is NaN")
PY

# 4. ECG tokenizer ECGs/s at batch 256 (reference encoder shape, bf16 and f32).
if [ "$mode" = dry ]; then tk=(--batch 8 --ecgs 8 --reps 1); else tk=(--batch 256 --ecgs 1024 --reps 2); fi
"$bin" bench tokenizer --device "$dev" --dtype bf16 f32 --kernel libtorch "${tk[@]}" --log-level warn
say "done ($mode)"
