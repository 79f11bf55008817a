#!/usr/bin/env bash
# The include-direction rule: a file in layer X (include/diagecg/X/, src/X/) includes diagecg headers of X and
# of the layers X may use, never of a layer above. Also: every library header and source sits in a layer
# folder; only tools/ sees CLI11; public headers do not include spdlog.
#   tests/check-layers.sh [ROOT]   exit 0 when the tree under ROOT (default: the repository) follows the rule,
#                                  else prints one line per offending include and exits 1.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

# Layer -> the layers it may include besides itself (the order of README's layer diagram, bottom first).
declare -A allowed=(
  [util]=""
  [ecg]="util"
  [tokenizer]="util ecg"
  [llm]="util"
  [data]="util ecg llm"
  [train]="util ecg tokenizer llm data"
  [eval]="util ecg llm data"
  [model]="util ecg tokenizer llm data train"
)

bad=0
report() { echo "check-layers: $1"; bad=1; }

for dir in include/diagecg src; do
  [ -d "$dir" ] || continue
  while IFS= read -r f; do
    rel=${f#"$dir"/}
    layer=${rel%%/*}
    if [ "$layer" = "$rel" ] || [ -z "${allowed[$layer]+x}" ]; then
      report "$f is not in a layer folder (one of: ${!allowed[*]})"
      continue
    fi
    ok=" $layer ${allowed[$layer]} "
    while IFS= read -r hit; do
      line=${hit%%:*}
      inc=$(sed -E 's/.*#include "diagecg\/([^"]*)".*/\1/' <<<"${hit#*:}")
      target=${inc%%/*}
      if [ "$target" = "$inc" ]; then
        report "$f:$line includes \"diagecg/$inc\", which is in no layer folder"
      elif [[ "$ok" != *" $target "* ]]; then
        report "$f:$line: layer '$layer' includes \"diagecg/$inc\" from layer '$target' (allowed: $layer ${allowed[$layer]})"
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"diagecg/' "$f" || true)
    if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<CLI/' "$f"; then report "$f includes CLI11 (only tools/ may)"; fi
    if [ "$dir" = include/diagecg ] && grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<spdlog/' "$f"; then
      report "$f: a public header includes spdlog"
    fi
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cpp' \) -not -path '*/spm-shim/*' | sort)
done

if [ "$bad" = 0 ]; then echo "check-layers: ok"; fi
exit "$bad"
