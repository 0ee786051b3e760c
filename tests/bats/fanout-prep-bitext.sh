#!/usr/bin/env bash
# tests/bats/fanout-prep-bitext.sh LANG...: pipelines/prep-bitext.sh for each
# LANG through lib.sh's fanout, the way pipelines/run calls it (SSHLOGIN,
# PARALLEL_SSH, SSH_ALIVE, THREADS_REMOTE, WORK... from the environment).
# A job that succeeds also writes WORK/where/LANG: "SSHLOGIN SSH_CONNECTION"
# as the job saw them ("-" for no ssh connection), so cluster.bats can tell
# where each language really ran.
. "$(dirname "$0")/../../pipelines/lib.sh"
stage_begin fanout-prep-bitext
mkdir -p "$WORK/where"
where=$(printf %q "$WORK/where")
# one line: parallel's joblog keeps the command in one field
fanout prep-bitext "$PIPE/prep-bitext.sh {} && printf '%s %s\n' \"\$PARALLEL_SSHLOGIN\" \"\${SSH_CONNECTION:--}\" > $where/{}" ::: "$@"
