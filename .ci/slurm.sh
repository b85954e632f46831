#!/usr/bin/env bash
# The example screen through a real single-node SLURM (Debian's slurm-wlm),
# compared with a local run of the same workflow: the summary tables must be
# byte-identical. Needs root (apt, daemons). Usage: bash .ci/slurm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="$REPO/.venv/bin:$PATH"

if ! command -v slurmctld >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

# munge authenticates the daemons to each other.
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# A minimal slurm.conf: one node with what slurmd reports (RealMemory must not
# exceed it), no accounting, and MinJobAge long enough for squeue to see
# finished jobs at the plugin's status checks.
NODE=$(slurmd -C | head -1)
CPUS=$(sed -E 's/.*CPUs=([0-9]+).*/\1/' <<<"$NODE")
MEMORY=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$NODE")
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost CPUs=$CPUS RealMemory=$MEMORY State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix" && break; sleep 2; done
sinfo

WORK=$(mktemp -d)
SHEET="$REPO/example/screen/sample_sheet.tsv"
CONFIG=(--config "sample_sheet=$SHEET" "fit={method: svi, svi_steps: 1500, chains: 2, draws: 250}" "drugs=[Afatinib, Olaparib]")
TARGETS=(results/summary/patient_drug.tsv results/summary/line_drug.tsv)

# SIGTERM makes snakemake wait for running jobs: bound it with a hard kill.
timeout -k 60 1800 snakemake "${TARGETS[@]}" --snakefile "$REPO/Snakefile" --directory "$WORK/slurm" --workflow-profile "$REPO/profiles/slurm" \
    --jobs 4 --slurm-no-account --slurm-init-seconds-before-status-checks 10 \
    --default-resources slurm_partition=ci mem_mb=1000 runtime=30 "${CONFIG[@]}"
timeout -k 60 1800 snakemake "${TARGETS[@]}" --snakefile "$REPO/Snakefile" --directory "$WORK/local" --cores 2 "${CONFIG[@]}"
for table in "${TARGETS[@]}"; do
    cmp "$WORK/slurm/$table" "$WORK/local/$table"
done
echo "SLURM and local runs give identical summary tables"
