#!/usr/bin/env bash
# make test-slurm: Docs/eval.md's Slurm recipe on a real Slurm. Starts a single-node cluster from
# Debian's slurm-wlm and munge (slurmctld, slurmd and munged on localhost, every file under one
# temporary directory, stopped and removed on exit), then runs the recipe's three bash blocks as
# they stand in the doc (extracted from it, so the doc is what is tested): an array job of 4 shards
# over a JSONL and Models/blt-tiny with its afterok merge. One task fails on purpose: the merge must
# not run; the doc's rerun block reruns that task (sbatch --array=3) and merges. The merged JSON
# must equal an unsharded run bit for bit. Only the sbatch header's resources and the shard count
# are adapted to this machine (checked substitutions below).
#
# The daemons run in a network namespace of their own whose only interface is the loopback, so
# nothing they open (slurmctld listens on every address) is reachable from outside.
#
# Usage: Tests/Scripts/test-slurm.sh PATH/TO/blt   (as root; slurmd runs jobs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $# -eq 1 ] && [ -x "$1" ] || fail "usage: $0 PATH/TO/blt (an executable blt binary)"
blt="$(realpath "$1")"
[ "$(id -u)" = 0 ] || fail "run as root: slurmd starts the jobs (make test-slurm installs slurm-wlm and munge as root)"
for tool in munged munge unmunge slurmctld slurmd sbatch scontrol scancel sinfo python3 awk unshare ip; do
  command -v "$tool" >/dev/null || fail "missing '$tool': install the Debian packages slurm-wlm, munge and iproute2 (make test-slurm does)"
done
if [ "${BLT_SLURM_TEST_NETNS:-}" != 1 ]; then
  exec env BLT_SLURM_TEST_NETNS=1 unshare --net -- bash "$0" "$blt"
fi
ip link set lo up
# getaddrinfo (AI_ADDRCONFIG) counts no IPv4 where 127.0.0.1 is the only address, and slurmctld then has no
# address to listen on: a second address on the loopback (TEST-NET-1, documentation only) counts.
ip addr add 192.0.2.1/32 dev lo
[ -r /usr/share/common-licenses/GPL-3 ] || fail "missing /usr/share/common-licenses/GPL-3 (Debian's base-files), the test's data"

deadline=$((SECONDS + 900))   # the whole test, daemons included
work="$(mktemp -d /tmp/blt-slurm.XXXXXX)"
daemons=()   # pids of the daemons this test started, in the foreground of background jobs (so they are reaped)
cleanup() {
  status=$?
  [ ${#daemons[@]} -gt 1 ] && timeout 20 scancel --quiet --user=root 2>/dev/null || true
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do   # slurmd, slurmctld, then munged
    kill "${daemons[$i]}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${daemons[$i]}" 2>/dev/null || break; sleep 0.2; done
    kill -9 "${daemons[$i]}" 2>/dev/null || true
    wait "${daemons[$i]}" 2>/dev/null || true
  done
  if [ $status -ne 0 ]; then
    for log in "$work"/slurmctld.log "$work"/slurmd.log "$work"/munge/munged.log "$work"/run/logs/*.log; do
      [ -f "$log" ] && { echo "== tail of $log"; tail -n 20 "$log"; }
    done
  fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 143' TERM INT
waitfor() {   # waitfor SECONDS DESCRIPTION COMMAND…: polls COMMAND until it succeeds
  local limit=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $limit ] && [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
    sleep 1
  done
}

# munged: a fresh key and socket of its own.
mkdir -m 0700 "$work/munge" "$work/state" "$work/spool"
head -c 1024 /dev/urandom > "$work/munge/munge.key"
chmod 0400 "$work/munge/munge.key"
munge_socket="$work/munge/munge.socket"
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$munge_socket" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed" 2>>"$work/munge/munged.log" &
daemons+=($!)
waitfor 20 "munged" test -S "$munge_socket"
munge --socket="$munge_socket" -n | unmunge --socket="$munge_socket" >/dev/null || fail "munge cannot decode its own credential"

# slurm.conf: this host as controller and only node, reached at 127.0.0.1 on two free ports.
host="$(hostname -s)"
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
hardware="$(slurmd -C | head -n 1)"   # NodeName=… CPUs=… Boards=… SocketsPerBoard=… CoresPerSocket=… ThreadsPerCore=… RealMemory=…
memory=$(( $(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hardware") * 9 / 10 ))
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=blttest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
MinJobAge=3600
$(sed 's/RealMemory=[0-9]*//' <<<"$hardware") RealMemory=$memory NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D 2>>"$work/slurmctld.log" &
daemons+=($!)
ctld_up() { scontrol ping >/dev/null 2>&1; }
waitfor 30 "slurmctld to answer" ctld_up
slurmd -D 2>>"$work/slurmd.log" &
daemons+=($!)
node_idle() { [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; }
waitfor 60 "the node to be idle" node_idle
echo "single-node Slurm up: $(sinfo --version), node $host idle, $(grep -o 'CPUs=[0-9]*' "$SLURM_CONF"), RealMemory=$memory"

# The recipe's three bash blocks: the batch script, the submission, the rerun.
run="$work/run"
mkdir -p "$run/data" "$work/bin"
section() {   # from the heading to the next heading outside a code block
  awk '/^### Slurm array job/{found=1; next} !found{next} /^```/{fence=!fence} !fence&&/^#+ /{exit} {print}' "$root/Docs/eval.md"
}
block() { section | awk -v n="$1" '/^```bash/{k++; if (k==n) {inside=1; next}} inside&&/^```/{exit} inside{print}'; }
block 1 > "$run/eval.sbatch"
block 2 > "$run/submit.sh"
block 3 > "$run/rerun.sh"
grep -q -- '--shard auto' "$run/eval.sbatch" || fail "Docs/eval.md: the batch script (first bash block under '### Slurm array job') does not use --shard auto"
grep -q 'afterok' "$run/submit.sh" || fail "Docs/eval.md: the submission (second bash block) has no afterok merge"
grep -q -- '--array=3 eval.sbatch' "$run/rerun.sh" || fail "Docs/eval.md: the rerun (third bash block) does not rerun task 3 with --array=3"
# Adapted to a 2-core test node: 4 shards, one CPU and 500 MB each, 10 minutes at most.
adapt() {   # adapt FROM TO: exactly one line of the script must read FROM (up to the end of the pattern)
  [ "$(grep -c -- "^$1" "$run/eval.sbatch")" = 1 ] || fail "Docs/eval.md's batch script has no single line starting '$1'"
  sed -i "s|^$1|$2|" "$run/eval.sbatch"
}
adapt '#SBATCH --array=0-15$' '#SBATCH --array=0-3'
adapt '#SBATCH --cpus-per-task=8$' '#SBATCH --cpus-per-task=1'
adapt '#SBATCH --mem=16G$' '#SBATCH --mem=500M'
adapt '#SBATCH --time=04:00:00$' '#SBATCH --time=00:10:00'
adapt 'SHARDS=16 ' 'SHARDS=4 '
grep -q 'MODEL=Models/blt-tiny' "$run/eval.sbatch" || fail "Docs/eval.md's batch script no longer runs Models/blt-tiny"

# Its inputs as the recipe names them: Models/ and data/val.jsonl under the submit directory, blt on PATH.
ln -s "$root/Models" "$run/Models"
ln -s "$blt" "$work/bin/blt"
export PATH="$work/bin:$PATH"
python3 - "$root/Models/sample.txt" /usr/share/common-licenses/GPL-3 > "$run/data/val.jsonl" <<'PY'
import json, sys
for path in sys.argv[1:]:
    for paragraph in open(path, encoding="utf-8").read().split("\n\n"):
        print(json.dumps({"text": paragraph}, ensure_ascii=False))
PY
echo "data/val.jsonl: $(wc -l < "$run/data/val.jsonl") documents, $(wc -c < "$run/data/val.jsonl") bytes"

# Jobs' states, one "ArrayTaskId JobState ExitCode Reason" line per record.
states() { scontrol show job -o "$1" | tr ' ' '\n' | awk -F= '
  /^ArrayTaskId=/{t=$2} /^JobState=/{s=$2} /^Reason=/{r=$2} /^ExitCode=/{e=$2; print (t==""?"-":t), s, e, r; t=""}'; }
finished() {   # every record of job $1 in a final state
  local list; list="$(states "$1")" && [ -n "$list" ] &&
    ! awk '{print $2}' <<<"$list" | grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL)$'
}
state_of() { states "$1" | awk -v t="$2" '$1==t {print $2}'; }

cd "$run"
# Task 3 fails on purpose: its output path is taken by a directory, so `blt eval --output` refuses it.
mkdir -p parts/part-3.json
# shellcheck disable=SC1091
source ./submit.sh
echo "submitted array job $job and merge job $merge"
waitfor 600 "array job $job" finished "$job"
states "$job"
for t in 0 1 2; do [ "$(state_of "$job" "$t")" = COMPLETED ] || fail "array task $t: $(states "$job" | grep "^$t ")"; done
[ "$(state_of "$job" 3)" = FAILED ] || fail "array task 3 should have failed: $(states "$job" | grep '^3 ')"
grep -q "is a directory" logs/eval-"${job}"_3.log || fail "task 3's log does not say why it failed"
never() { [ "$(states "$merge" | awk '{print $2, $4}')" = "PENDING DependencyNeverSatisfied" ]; }
waitfor 30 "merge job $merge to be held (DependencyNeverSatisfied)" never
[ ! -e total.json ] || fail "the merge ran although task 3 failed"
echo "task 3 failed (log: $(grep -m1 Error logs/eval-"${job}"_3.log)); merge job $merge held: $(states "$merge")"

rmdir parts/part-3.json   # the cause of the failure, removed
first_merge=$merge
# shellcheck disable=SC1091
source ./rerun.sh
echo "reran task 3 as job $job, merge job $merge"
[ "$(state_of "$first_merge" -)" = CANCELLED ] || fail "the first merge job should be cancelled: $(states "$first_merge")"
waitfor 300 "rerun job $job" finished "$job"
waitfor 300 "merge job $merge" finished "$merge"
states "$job"; states "$merge"
[ "$(state_of "$job" 3)" = COMPLETED ] || fail "rerun of task 3: $(states "$job")"
[ "$(state_of "$merge" -)" = COMPLETED ] || fail "merge: $(states "$merge")"
# Every task's log names the shard --shard auto took, and from what.
for t in 0 1 2; do grep -q "^blt eval: shard $t/4 from the Slurm array task (SLURM_ARRAY_TASK_ID=$t," logs/eval-*_$t.log || fail "task $t's log does not name shard $t/4"; done
rerun_log="$(grep -h "^blt eval: shard 3/4 from the Slurm array task" logs/eval-"${job}"_3.log)" || fail "the rerun task's log does not name shard 3/4"
echo "rerun task's log: $rerun_log"

# The unsharded run, with the batch script's own eval options, against the merge.
blt eval --model Models/blt-tiny --json --per-document --output unsharded.json data/val.jsonl > /dev/null
python3 - total.json unsharded.json parts/part-*.json <<'PY'
import json, sys
merged, whole = (json.load(open(p)) for p in sys.argv[1:3])
parts = [json.load(open(p)) for p in sys.argv[3:]]
assert merged["complete"] is True and merged["shard_count"] == 4 and merged["shards"] == [0, 1, 2, 3], merged["shards"]
assert sorted(s for p in parts for s in p["shards"]) == [0, 1, 2, 3]
assert all(p["documents"] > 0 for p in parts), [p["documents"] for p in parts]
def comparable(summary):
    summary = dict(summary, sums=dict(summary["sums"]))
    for key in ("seconds", "bytes_per_second", "gflops_per_second", "weight_gigabytes_per_second", "shard_count", "shards"):   # rates: time-dependent
        summary.pop(key)
    summary["sums"].pop("seconds")
    return summary
a, b = comparable(merged), comparable(whole)
differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
assert not differing, f"merged and unsharded differ in {differing}"
print(f"merged 4 shards ({', '.join(str(p['documents']) for p in parts)} documents) = unsharded run bit for bit: "
      f"bits_per_byte {merged['bits_per_byte']!r}, sums.nll_nats {merged['sums']['nll_nats']}, "
      f"{len(merged['per_document'])} documents")
PY
blt eval-merge parts/part-*.json | sed -n 1,8p   # the report, without its per-document list
echo "test-slurm passed"
