#!/usr/bin/env bash
# Installs the Debian packages sptrain builds and tests with (the CUDA toolkit is expected preinstalled).
# Extra package names given as arguments are installed too (scripts/sanitize.sh: clang).
# Idempotent: packages already present are left alone. Needs root (or sudo) and a package registry.
set -euo pipefail
pkgs=(cmake ninja-build g++ libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libgtest-dev libopenblas-dev
      libomp-dev gnuplot-nox python3-numpy libexpat1-dev libopenmpi-dev openmpi-bin "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
