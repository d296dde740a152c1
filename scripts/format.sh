#!/usr/bin/env bash
# format.sh - clang-format Encore's C sources with the repo's .clang-format.
#   bash scripts/format.sh           format every file in place
#   bash scripts/format.sh --check   change nothing; list the files that differ
#                                    and exit 1 (0 when all are formatted)
#   bash scripts/format.sh --list    print the files it formats
# Files: the *.c and *.h files git tracks under models/ server/ trainer/
# storage/ tests/ bench/ (build directories, the generated core/version.h
# and tests/s3/node_modules are not tracked), minus FORMAT_EXCLUDE below.
# Outside a git checkout (a source tarball) the same directories are searched.
# Tables whose columns carry meaning (err.h's X-macro, the Lua scripts in
# store_redis.c, option rows inside macros) are fenced with
# /* clang-format off */ ... /* clang-format on */ where they live.
# The output depends on clang-format's major version: CI (Debian 12) has 14;
# CLANG_FORMAT=/path/to/clang-format picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
DIRS=(models server trainer storage tests bench)
# Vendored or generated sources to leave alone (extended regex on the path).
FORMAT_EXCLUDE='(^|/)(third_party|vendor|node_modules)/'
CF=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}

mode=format
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --list) mode=list ;;
  *) echo "usage: $0 [--check|--list]" >&2; exit 2 ;;
esac

files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- "${DIRS[@]}"
  else
    find "${DIRS[@]}" -type f
  fi | grep -E '\.(c|h)$' | grep -vE "$FORMAT_EXCLUDE" | sort
}
mapfile -t FILES < <(files)
[ ${#FILES[@]} -gt 0 ] || { echo "format.sh: no source files found" >&2; exit 2; }
if [ $mode = list ]; then printf '%s\n' "${FILES[@]}"; exit 0; fi
if [ -z "$CF" ] || ! "$CF" --version >/dev/null 2>&1; then
  echo "format.sh: clang-format not found (bash scripts/deps.sh test installs it)" >&2
  exit 2
fi

if [ $mode = format ]; then
  "$CF" -i --style=file "${FILES[@]}"
  echo "format.sh: formatted ${#FILES[@]} files with $("$CF" --version)"
  exit 0
fi

# --check: one diagnostic per file that differs (--ferror-limit=1); one
# clang-format process for the whole tree.
out=$("$CF" --dry-run --Werror --ferror-limit=1 --style=file "${FILES[@]}" 2>&1) && rc=0 || rc=$?
bad=$(printf '%s\n' "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if [ -n "$bad" ]; then
  echo "format.sh: $(printf '%s\n' "$bad" | wc -l) of ${#FILES[@]} files differ from .clang-format" \
    "($("$CF" --version | sed 's/.*version //')):"
  printf '  %s\n' $bad
  echo "run: bash scripts/format.sh   (then review and commit)"
  exit 1
fi
if [ $rc != 0 ]; then   # clang-format failed for another reason (unreadable file, bad style)
  printf '%s\n' "$out" >&2
  exit 2
fi
echo "format.sh: all ${#FILES[@]} files match .clang-format"
