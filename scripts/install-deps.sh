#!/usr/bin/env bash
# Installs the Debian 12 packages wsss builds and runs against. Idempotent: it
# installs only what is missing, and uses sudo when not run as root.
#   --no-slurm   leave out slurm-wlm and munge (the Slurm tests then install
#                them when they run, or skip without root/sudo)
#   --browser    also Debian's chromium, for the report's browser test (ctest -L
#                browser), which runs this script with --no-slurm --browser when
#                chromium is missing
set -euo pipefail

with_slurm=1
with_browser=0
for arg in "$@"; do
  case $arg in
    --no-slurm) with_slurm=0 ;;
    --browser) with_browser=1 ;;
    *) echo "usage: $0 [--no-slurm] [--browser]" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopencv-dev libcli11-dev nlohmann-json3-dev catch2 libspng-dev
  libjpeg-dev                 # JPEG damage checks (OpenCV decodes damaged JPEGs silently)
  zlib1g-dev                  # reads CLIP's gzip BPE vocabulary
  libopenblas0-pthread        # without it LibTorch's matrix products use reference BLAS (~25x slower)
  libgloo-dev                 # c10d's ProcessGroupGloo headers: data-parallel training (docs/scale-out.md)
  python3 python3-numpy python3-torch python3-torchvision   # test fixtures and the PyTorch agreement tests
  cython3 python3-dev liblbfgs-dev   # pydensecrf, built from ../shared/anchors for the CRF agreement test and benchmark
  clang libclang-rt-14-dev    # the ASan+UBSan+libFuzzer tree (ctest label fuzz, make fuzz, make test-sanitize)
)
# The Slurm tests (ctest -L slurm) start a real single-node cluster from these
# (scripts/slurm/local-cluster.sh); the daemons are started by the tests, not here.
if [ $with_slurm = 1 ]; then PACKAGES+=(slurm-wlm munge); fi
# Headless Chromium opens the experiment report in tests/browser/ (docs/viz.md).
if [ $with_browser = 1 ]; then PACKAGES+=(chromium); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
