# Shared by the end-to-end test scripts (sourced): BIN, DATA, ECG and a temporary TMP from the arguments
# (PATH/TO/diagecg TESTS_DATA_DIR), and check NAME COMMAND..., which counts passes and failures.
set -uo pipefail
BIN=$(realpath "$1")
DATA=$2
ECG=$DATA/ecg
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

check() {   # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name" >&2; fi
}
