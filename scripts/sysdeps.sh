#!/usr/bin/env bash
# Install the Debian packages gridaios needs, only when they are missing.
# Called by `make demo` and `make test`; safe to run again.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [mosquitto]=mosquitto
  [g++]=g++          # llama-cpp-python (the `llm` extra) compiles llama.cpp
  [cmake]=cmake
  [mosquitto_passwd]=mosquitto
  [mosquitto_pub]=mosquitto-clients  # integrators watch and poke the broker by hand
  [mosquitto_sub]=mosquitto-clients
  [node]=nodejs
  [npm]=npm
  [chromium]=chromium  # the console's browser test (tests/browser/, Playwright drives it)
)

missing=()
for cmd in "${!NEED[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${NEED[$cmd]}")
  fi
done

# Data packages (no command to look for): the IANA zones for the safety gate's time windows.
if [ ! -e /usr/share/zoneinfo/UTC ]; then
  missing+=(tzdata)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "gridaios: missing Debian packages: ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "gridaios: installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged broker starts a system service on :1883; tests start their own
# brokers on free ports, so the system one is left as the distribution set it.
