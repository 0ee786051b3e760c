#!/usr/bin/env bats
# Several machines for real: two OpenSSH servers started here on loopback
# addresses (hosta = 127.0.0.1, hostb = 127.0.0.2, free high ports; host keys,
# a client key, authorized_keys, sshd and ssh configs all in a temporary
# folder; the machine's ssh config, ~/.ssh and any running sshd are neither
# read nor changed). lib.sh's fanout runs pipelines/prep-bitext.sh through
# GNU parallel --sshlogin on them, as pipelines/run does with SSHLOGIN set:
#   - the results equal those of the same stage run locally, every job ran in
#     an ssh session of the host the joblog names, one job at a time per
#     "1/" host;
#   - a host killed (every process of its sshd) or frozen (SIGSTOP) while its
#     job runs fails the stage with a message naming the host and the
#     language, and a rerun without that host redoes only what is missing.
# A job is held "mid-run" deterministically: the Swahili job blocks reading
# its dictionary, a FIFO in a copy of the mirror made of symlinks.
load common
bats_require_minimum_version 1.5.0

DRIVER=$BATS_TEST_DIRNAME/fanout-prep-bitext.sh
SSHD=${SSHD:-/usr/sbin/sshd}

# ---------------------------------------------------------------- processes

# descendants PID...: every process below the given ones (from /proc)
descendants() {
  local -a roots=("$@") queue
  local -A kids=()
  local f line rest pid p
  for f in /proc/[0-9]*/stat; do
    read -r line 2> /dev/null < "$f" || continue
    pid=${line%% *}
    rest=${line##*) }
    set -- $rest
    kids[$2]+=" $pid"
  done
  queue=("${roots[@]}")
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    for pid in ${kids[$p]:-}; do
      echo "$pid"
      queue+=("$pid")
    done
  done
}
host_pid() { cat "$T/$1.pid" 2> /dev/null; }
# host_procs HOST: its sshd and everything it started
host_procs() {
  local p
  p=$(host_pid "$1") || return 0
  [ -d "/proc/$p" ] || return 0
  echo "$p"
  descendants "$p"
}
# kill_host HOST [SIGNAL]: every process of the host at once (a power cut)
kill_host() {
  local pids
  pids=$(host_procs "$1")
  [ -z "$pids" ] || kill "-${2:-KILL}" $pids 2> /dev/null || true
}
# running_on COMMAND_PART: the host whose processes include one whose command
# line contains COMMAND_PART
running_on() {
  local h p
  for h in hosta hostb; do
    for p in $(host_procs "$h"); do
      if tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null | grep -qF -- "$1"; then
        echo "$h"
        return 0
      fi
    done
  done
  return 1
}
# wait_for SECONDS TEST-ARGS...: poll until `test ARGS` holds
wait_for() {
  local n=$(($1 * 10))
  shift
  while ! test "$@"; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------- sshd

# start_host HOST ADDRESS [PORT]: an sshd for HOST on ADDRESS (a free high
# port unless given; 127.0.0.1 where ADDRESS is not a local address); writes
# T/HOST.pid, T/HOST.addr, T/HOST.port, T/HOST.log
start_host() {
  local h=$1 addr=$2 port=${3:-} pid
  for _ in 1 2 3 4 5 6 7 8; do
    [ -n "${3:-}" ] || port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    cat > "$T/$h.sshd_config" <<EOF
ListenAddress $addr:$port
HostKey $T/$h.key
AuthorizedKeysFile $T/authorized_keys
AllowUsers $(id -un)
PidFile none
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitUserRC no
PermitRootLogin prohibit-password
MaxStartups 100
LogLevel VERBOSE
EOF
    "$SSHD" -t -f "$T/$h.sshd_config" || return 1
    : > "$T/$h.log"
    "$SSHD" -D -f "$T/$h.sshd_config" -E "$T/$h.log" < /dev/null > /dev/null 2>&1 3>&- &
    pid=$!
    disown "$pid" # no "Killed" notice from this shell when a test kills it
    echo "$pid" > "$T/$h.pid"
    echo "$port" > "$T/$h.port"
    echo "$addr" > "$T/$h.addr"
    while kill -0 "$pid" 2> /dev/null && ! grep -q '^Server listening' "$T/$h.log"; do sleep 0.05; done
    grep -q '^Server listening' "$T/$h.log" && return 0
    grep -q 'Address already in use' "$T/$h.log" && [ -z "${3:-}" ] && continue
    grep -q 'Cannot assign requested address' "$T/$h.log" && [ "$addr" != 127.0.0.1 ] &&
      { addr=127.0.0.1; continue; }
    cat "$T/$h.log" >&2
    return 1
  done
  echo "no free port for $h after 8 tries" >&2
  return 1
}

client_config() {
  local h addr port
  : > "$T/ssh_config"
  : > "$T/known_hosts"
  for h in hosta hostb; do
    addr=$(cat "$T/$h.addr")
    port=$(cat "$T/$h.port")
    cat >> "$T/ssh_config" <<EOF
Host $h
  HostName $addr
  Port $port
  User $(id -un)
  IdentityFile $T/id
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $T/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
EOF
    printf '[%s]:%s %s\n' "$addr" "$port" "$(cut -d' ' -f1,2 "$T/$h.key.pub")" >> "$T/known_hosts"
  done
}

# the environment of a stage run: WORK from a copy of the prepared base
stage_env() {
  export WORK=$T/$1 RESULTS=$T/$1-results
  rm -rf "$WORK"
  cp -a "$T/base" "$WORK"
  export PARALLEL_SSH="ssh -F $T/ssh_config"
  export CORES=2 THREADS_REMOTE=1
  unset SSHLOGIN SSH_ALIVE QUICK ALL TEACHER STUDENT_INIT
}

# same_as_local LANG...: the stage's outputs equal the local run's, byte for byte
same_as_local() {
  local L f
  for L in "$@"; do
    for f in bitext/$L.tsv.zst bitext/$L.stats; do
      cmp "$T/local/data/$f" "$WORK/data/$f"
    done
    if [ -e "$T/local/data/dict/$L.tsv" ]; then
      cmp "$T/local/data/dict/$L.tsv" "$WORK/data/dict/$L.tsv"
    else
      [ ! -e "$WORK/data/dict/$L.tsv" ]
    fi
  done
}

# dot_ssh: what ~/.ssh holds (names, sizes, times), or that it is absent
dot_ssh() {
  if [ -e ~/.ssh ]; then find ~/.ssh -printf '%p %s %T@\n' | sort; else echo absent; fi
}

setup_file() {
  export T=$BATS_FILE_TMPDIR
  [ -x "$SSHD" ] || skip "no OpenSSH server at $SSHD (scripts/setup installs openssh-server)"
  command -v ssh > /dev/null || skip "no ssh client (scripts/setup installs openssh-client)"
  if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
    # sshd run by root needs its (empty) privilege separation directory,
    # which Debian's service creates at each start
    mkdir -p -m 0755 /run/sshd || skip "sshd needs /run/sshd and it cannot be created"
  fi
  dot_ssh > "$T/dot-ssh.before"
  ssh-keygen -q -t ed25519 -N '' -C cluster-test -f "$T/id"
  cp "$T/id.pub" "$T/authorized_keys"
  ssh-keygen -q -t ed25519 -N '' -C hosta -f "$T/hosta.key"
  ssh-keygen -q -t ed25519 -N '' -C hostb -f "$T/hostb.key"
  start_host hosta 127.0.0.1
  start_host hostb 127.0.0.2
  client_config
  for h in hosta hostb; do
    if ! ssh -F "$T/ssh_config" "$h" true; then
      grep -q 'account is locked' "$T/$h.log" &&
        skip "sshd refuses $(id -un): account is locked (its password field starts with '!')"
      cat "$T/$h.log" >&2
      return 1
    fi
  done

  # the evaluation sets (prep-bitext leaves their sentences out), run once
  export WORK=$T/base RESULTS=$T/base-results CORES=2
  "$ROOT/pipelines/prep-eval.sh" jav > /dev/null 2> "$T/prep-eval.err" ||
    { cat "$T/prep-eval.err" >&3; return 1; }
  # the reference: the stage run on this machine alone
  stage_env local
  "$DRIVER" jav tel kat swh > /dev/null 2> "$T/local.err" ||
    { cat "$T/local.err" >&3; return 1; }
}

teardown_file() {
  local h
  for h in hosta hostb; do
    [ -e "$T/$h.pid" ] || continue
    kill_host "$h"
  done
}

setup() {
  # a host killed by an earlier test comes back on its port
  local h p
  for h in hosta hostb; do
    p=$(host_pid "$h")
    kill -0 "$p" 2> /dev/null || start_host "$h" "$(cat "$T/$h.addr")" "$(cat "$T/$h.port")"
  done
}

teardown() {
  # a test that failed half-way: its stage run and FIFO writer (own process
  # groups, by their recorded ids)
  local f
  for f in "$T"/run.pid "$T"/writer.pid; do
    [ -e "$f" ] || continue
    kill -- "-$(cat "$f")" 2> /dev/null || true
    rm -f "$f"
  done
}

@test "cluster: the reference run on this machine made every output" {
  for L in jav tel kat swh; do
    [ -s "$T/local/data/bitext/$L.tsv.zst" ]
    [ -s "$T/local/data/bitext/$L.stats" ]
    run cat "$T/local/where/$L"
    assert_output ": -"
  done
  [ -s "$T/local/data/dict/swh.tsv" ]
}

@test "cluster: two hosts through parallel --sshlogin give the local results" {
  stage_env remote
  export SSHLOGIN=1/hosta,1/hostb
  run --separate-stderr "$DRIVER" jav tel kat swh
  [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
  same_as_local jav tel kat swh
  # every job ran in an ssh session on the host the joblog names
  jl=$WORK/log/prep-bitext.joblog
  for L in jav tel kat swh; do
    h=$(awk -F'\t' -v L="$L" 'index($9, "prep-bitext.sh " L " ") { print $2 }' "$jl")
    [ "$h" = hosta ] || [ "$h" = hostb ]
    read -r login _ _ s_ip s_port < "$WORK/where/$L"
    [ "$login" = "$h" ]
    [ "$s_ip $s_port" = "$(cat "$T/$h.addr") $(cat "$T/$h.port")" ]
  done
  # both hosts were used, each one job at a time ("1/"): on one host, a job
  # starts after the previous one ended (joblog times have 3 decimals)
  awk -F'\t' 'NR > 1 { printf "%s\t%.3f\t%.3f\n", $2, $3, $3 + $4 }' "$jl" |
    sort -t$'\t' -k1,1 -k2,2n |
    awk -F'\t' '$1 == h && $2 < end - 0.002 { print "jobs overlap on " h; bad = 1 }
      { n[$1]++; h = $1; end = $3 }
      END { if (n["hosta"] < 1 || n["hostb"] < 1) { print "a host got no job"; bad = 1 }; exit bad }'
  # and each sshd logged at least one session per job the joblog gives it
  for h in hosta hostb; do
    jobs=$(awk -F'\t' -v h="$h" '$2 == h' "$jl" | wc -l)
    sessions=$(grep -c "^Starting session: command for $(id -un) from 127.0.0.1" "$T/$h.log")
    [ "$sessions" -ge "$jobs" ]
  done
}

# run_until_held LOGIN...: start the stage for swh and jav on hosts LOGIN with
# swh's dictionary a FIFO; return once swh's job is reading it and jav's job
# has finished. Sets HELD (the host running swh), RUN (the stage's pid).
run_until_held() {
  local fifo
  mkdir -p "$T/farm/dict/freedict"
  for e in "$SHARED/data"/*; do [ "${e##*/}" = dict ] || ln -sfn "$e" "$T/farm/"; done
  for e in "$SHARED/data/dict"/*; do [ "${e##*/}" = freedict ] || ln -sfn "$e" "$T/farm/dict/"; done
  for e in "$SHARED/data/dict/freedict"/*; do ln -sfn "$e" "$T/farm/dict/freedict/"; done
  fifo=$T/farm/dict/freedict/swh-eng.tsv
  rm -f "$fifo"
  mkfifo "$fifo"
  export OTCLIR_DATA=$T/farm SSHLOGIN=$1
  rm -f "$T/opened"
  # the writer: opens the FIFO (blocks until the swh job opens it), says so,
  # keeps it open without writing
  setsid bash -c 'exec 7> "$1"; : > "$2"; exec sleep 300' _ "$fifo" "$T/opened" < /dev/null > /dev/null 2>&1 3>&- &
  echo $! > "$T/writer.pid"
  setsid "$DRIVER" swh jav < /dev/null > "$T/held.out" 2> "$T/held.err" 3>&- &
  RUN=$!
  echo "$RUN" > "$T/run.pid"
  wait_for 60 -e "$T/opened" || { cat "$T/held.err"; return 1; }
  wait_for 60 -e "$WORK/where/jav" || { cat "$T/held.err"; return 1; }
  HELD=$(running_on "prep-bitext.sh swh")
}

# alive PID: the process exists and is not a zombie
alive() {
  local s
  read -r s 2> /dev/null < "/proc/$1/stat" || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

# finish_run: wait (at most 60 s: a hang is a failure too) for the stage run
# started by run_until_held; its exit status
finish_run() {
  local rc=0 n=600
  kill -- "-$(cat "$T/writer.pid")" 2> /dev/null || true
  rm -f "$T/writer.pid"
  while alive "$RUN" && [ $((n -= 1)) -gt 0 ]; do sleep 0.1; done
  if alive "$RUN"; then
    echo "the stage still runs after 60 s" >&2
    kill -- "-$RUN" 2> /dev/null || true
  fi
  wait "$RUN" || rc=$?
  rm -f "$T/run.pid"
  return "$rc"
}

# rerun_resumes LOGIN: swh's dictionary back in place, the stage on LOGIN
# redoes only swh's dictionary, and the results equal the local run's
rerun_resumes() {
  rm -f "$T/farm/dict/freedict/swh-eng.tsv"
  ln -s "$SHARED/data/dict/freedict/swh-eng.tsv" "$T/farm/dict/freedict/"
  local jav_before
  jav_before=$(stat -c %Y.%y "$WORK/data/bitext/jav.tsv.zst")
  export SSHLOGIN=$1
  run --separate-stderr "$DRIVER" swh jav
  [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
  grep -q 'prep-bitext \[jav\]: up to date, skipped' <<< "$stderr"
  grep -q 'prep-bitext \[swh\]: up to date, skipped' <<< "$stderr" # its bitext
  grep -q 'prep-bitext \[swh\]: dictionary: ' <<< "$stderr"
  [ "$(stat -c %Y.%y "$WORK/data/bitext/jav.tsv.zst")" = "$jav_before" ]
  read -r login _ < "$WORK/where/swh"
  [ "$login" = "${1#*/}" ]
  same_as_local swh jav
}

@test "cluster: a host killed mid-run fails the stage naming host and language; the rerun resumes" {
  stage_env die
  run_until_held 1/hosta,1/hostb
  [ -n "$HELD" ]
  other=hosta
  [ "$HELD" = hostb ] || other=hostb
  kill_host "$HELD"
  rc=0
  finish_run || rc=$?
  [ "$rc" -ne 0 ]
  err=$(cat "$T/held.err")
  echo "$err"
  grep -qE "^pipelines: prep-bitext: 'prep-bitext\.sh swh .*' failed on host $HELD \(exit 255: ssh could not reach the host or lost the connection\)" <<< "$err"
  grep -q "prep-bitext: a job failed (joblog: $WORK/log/prep-bitext.joblog)" <<< "$err"
  # the job on the other host finished; the killed one left no output behind
  [ -s "$WORK/data/bitext/jav.tsv.zst" ]
  [ -s "$WORK/data/bitext/swh.tsv.zst" ] # published before the dictionary
  [ ! -e "$WORK/data/dict/swh.tsv" ]
  rerun_resumes "1/$other"
}

@test "cluster: a host that stops answering fails the stage after SSH_ALIVE x 4 seconds; the rerun resumes" {
  stage_env freeze
  export SSH_ALIVE=1
  run_until_held 1/hosta,1/hostb
  [ -n "$HELD" ]
  other=hosta
  [ "$HELD" = hostb ] || other=hostb
  kill_host "$HELD" STOP
  t0=$(date +%s)
  rc=0
  finish_run || rc=$?
  [ "$rc" -ne 0 ]
  t1=$(date +%s)
  # SIGKILL works on stopped processes: none of them runs again
  kill_host "$HELD"
  err=$(cat "$T/held.err")
  echo "$err"
  grep -qE "^pipelines: prep-bitext: 'prep-bitext\.sh swh .*' failed on host $HELD \(exit 255" <<< "$err"
  # ssh's keepalive, not a hang: 4 unanswered 1 s probes (generous bound)
  [ $((t1 - t0)) -le 30 ]
  [ ! -e "$WORK/data/dict/swh.tsv" ]
  rerun_resumes "1/$other"
}

@test "cluster: ~/.ssh is as it was" {
  dot_ssh | diff "$T/dot-ssh.before" -
}
