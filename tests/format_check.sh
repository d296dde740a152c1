#!/usr/bin/env bash
# format_check.sh - ctest's format_check: every C source matches .clang-format
# (scripts/format.sh --check lists the files that differ). CMakeLists.txt
# registers it once .clang-format-enforced exists, i.e. once the tree has been
# formatted (bash scripts/format.sh) and the marker committed with it.
# Skips (77) without clang-format (a failure under CI=true: scripts/deps.sh
# test installs it) or with a major version other than the one the tree was
# formatted with (14, Debian 12's): other versions lay some code out differently.
source "$(dirname "$0")/lib/e2e.sh"
cd "$E2E_SRC"
[ -f .clang-format-enforced ] || e2e_skip ".clang-format-enforced is absent: the tree is not formatted yet"
e2e_need clang-format clang-format --version
want=14
have=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
[ "$have" = "$want" ] ||
  e2e_skip "clang-format $have: the tree is formatted with clang-format $want (set CLANG_FORMAT to one)"
bash scripts/format.sh --check
