#!/usr/bin/env bash
# A long libFuzzer run (default 10 minutes) over the firmware's input rules (bytes, the stop byte included),
# with AddressSanitizer and UBSan. Prints runs, speed and coverage; exits non-zero on any finding.
#   bench/fuzz_firmware.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
WORK=$(mktemp -d)
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Ifirmware \
  firmware/test/fuzz_commands.c firmware/commands.c -o "$WORK/fuzz_commands"
mkdir -p "$WORK/corpus" && cp firmware/test/corpus/* "$WORK/corpus/"
"$WORK/fuzz_commands" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 "$WORK/corpus" 2>&1 \
  | grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|cov:|ERROR" | tail -6
echo "corpus kept in $WORK/corpus ($(ls "$WORK/corpus" | wc -l) inputs)"
