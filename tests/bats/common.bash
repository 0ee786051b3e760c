# Shared setup for every tests/bats/*.bats file:  load common
#   BIN     directory of the programs under test ($OTCLIR_BIN, default bin/)
#   SHARED  the read-only mirror ($OTCLIR_SHARED, default ../shared)
#   ROOT    the project root
# and bats-support / bats-assert from Debian (/usr/lib/bats).
ROOT=${OTCLIR_ROOT:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
BIN=${OTCLIR_BIN:-$ROOT/bin}
SHARED=${OTCLIR_SHARED:-$ROOT/../shared}
export PATH="$BIN:$PATH"
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
