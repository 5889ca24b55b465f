#!/usr/bin/env bash
# Data-parallel training across two "machines" for real: two network namespaces joined by a
# veth pair, each its own host with its own address, and Open MPI between them over TCP only
# (no shared memory). mpirun starts in host A and reaches host B through an rsh agent that
# enters B's namespace where a cluster would use ssh. Trains LeNet on the two ranks (batch 32
# each, the global batch of 64 that nets/lenet.yaml trains with alone):
#   --epochs N (default 1): checks the test accuracy against what one process reaches (0.86
#     after one epoch; the bar is 0.85);
#   --max-iter N: trains one process for the same N iterations too, and checks that both
#     reach the same test accuracy (within 0.02): the quick form CI runs on the debug build.
# SWIFTCAFFE=path/to/swiftcaffe runs that binary; by default the release build is made.
#
#   scripts/two-hosts.sh [--epochs N | --max-iter N]     (root: it creates and deletes the namespaces)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
epochs=1
iterations=
[ "${1:-}" = "--epochs" ] && epochs=$2
[ "${1:-}" = "--max-iter" ] && iterations=$2
length=(--epochs "$epochs")
[ -n "$iterations" ] && length=(--max-iter "$iterations")

if [ "$(id -u)" -ne 0 ]; then echo "error: run as root: it creates network namespaces" >&2; exit 1; fi
command -v ip >/dev/null || { echo "error: 'ip' is missing: apt-get install -y iproute2" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "error: mpirun is missing: scripts/install-dependencies.sh" >&2; exit 1; }
if [ -z "${SWIFTCAFFE:-}" ]; then swift build -c release --product swiftcaffe >/dev/null; fi
binary=${SWIFTCAFFE:-$root/.build/release/swiftcaffe}

work=$(mktemp -d /tmp/swiftcaffe-two-hosts.XXXXXX)
a=scA$$ b=scB$$
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$a" && ip netns add "$b" || { echo "error: cannot create network namespaces here (no CAP_SYS_ADMIN?)" >&2; exit 1; }
ip link add "veth$a" type veth peer name "veth$b"
ip link set "veth$a" netns "$a"
ip link set "veth$b" netns "$b"
ip -n "$a" addr add 10.77.0.1/24 dev "veth$a"
ip -n "$b" addr add 10.77.0.2/24 dev "veth$b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "veth$a" up
ip -n "$b" link set "veth$b" up

# mpirun calls the agent as `agent HOST COMMAND...`, as it would call ssh.
cat > "$work/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in 10.77.0.1) ns=$a ;; 10.77.0.2) ns=$b ;; *) echo "unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$work/hosts"
sed 's/batch_size: 64/batch_size: 32/' nets/lenet.yaml > nets/.lenet-two-hosts.yaml
trap 'rm -f nets/.lenet-two-hosts.yaml; cleanup' EXIT

echo "two hosts: 10.77.0.1 (namespace $a) and 10.77.0.2 (namespace $b), one rank each, TCP only"
ip netns exec "$a" mpirun --allow-run-as-root -np 2 --hostfile "$work/hosts" \
    --mca plm_rsh_agent "$work/agent" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    -x PATH \
    "$binary" train nets/.lenet-two-hosts.yaml "${length[@]}" --output "$work/run" --threads 1 --verbose \
    | grep -v '^ *[0-9] ' | tee "$work/out.txt"
accuracy=$(grep '^test ' "$work/out.txt" | tail -1 | sed 's/.*accuracy \([0-9.]*\).*/\1/')
grep -q "2 ranks × 32" "$work/out.txt" || { echo "error: the run did not use two ranks" >&2; exit 1; }
if [ -n "$iterations" ]; then
    "$binary" train nets/lenet.yaml --max-iter "$iterations" --output "$work/one" --threads 2 > "$work/one.txt"
    alone=$(grep '^test ' "$work/one.txt" | tail -1 | sed 's/.*accuracy \([0-9.]*\).*/\1/')
    if awk -v a="$accuracy" -v b="$alone" 'BEGIN { d = a - b; exit !(d <= 0.02 && d >= -0.02 && a > 0.3) }'; then
        echo "two hosts: test accuracy $accuracy after $iterations iterations; one process: $alone"
    else
        echo "error: test accuracy $accuracy after $iterations iterations on two hosts, but $alone in one process" >&2
        exit 1
    fi
elif awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.85) }'; then
    echo "two hosts: test accuracy $accuracy after $epochs epoch(s) (one process: 0.86 after one)"
else
    echo "error: test accuracy $accuracy after $epochs epoch(s), below 0.85" >&2
    exit 1
fi
