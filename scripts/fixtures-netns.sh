#!/usr/bin/env bash
# Shared helpers for capturing real-kernel fixtures inside network namespaces this script creates.
# Only addresses inside the namespaces are used; everything is removed on exit.
# Usage (sourced): ns_pair PREFIX  -> creates ${PREFIX}a, ${PREFIX}b joined by a veth pair,
#   10.99.0.1/24 (dev veth-a) and 10.99.0.2/24 (dev veth-b), and registers cleanup.
# dump_hex PCAP OUT.hex [FILTER] -> writes `tcpdump -nev` line + `-xx` hex of the first match.
set -euo pipefail
NS_CREATED=()
ns_cleanup() { for n in "${NS_CREATED[@]}"; do ip netns del "$n" 2>/dev/null || true; done; }
trap ns_cleanup EXIT
ns_pair() {
  local p=$1
  ip netns add "${p}a"; NS_CREATED+=("${p}a")
  ip netns add "${p}b"; NS_CREATED+=("${p}b")
  ip link add veth-a netns "${p}a" type veth peer name veth-b netns "${p}b"
  ip -n "${p}a" addr add 10.99.0.1/24 dev veth-a
  ip -n "${p}b" addr add 10.99.0.2/24 dev veth-b
  ip -n "${p}a" link set lo up; ip -n "${p}b" link set lo up
  ip -n "${p}a" link set veth-a up; ip -n "${p}b" link set veth-b up
  # No offloads: checksums in captures are complete, as on a real wire.
  ip netns exec "${p}a" ethtool -K veth-a tx off rx off >/dev/null 2>&1 || true
  ip netns exec "${p}b" ethtool -K veth-b tx off rx off >/dev/null 2>&1 || true
}
# dump_hex PCAP OUT [FILTER]: frame = first packet matching FILTER (a tcpdump filter expression).
dump_hex() {
  local pcap=$1 out=$2 filter=${3:-}
  {
    tcpdump -r "$pcap" -nev -c 1 $filter 2>/dev/null | sed 's/^/# /' 
    tcpdump -r "$pcap" -xx -n -c 1 $filter 2>/dev/null | tail -n +2
  } > "$out"
}
# ns_chain PREFIX [FAR_MTU] -> three namespaces ${PREFIX}c (client) - ${PREFIX}r (router,
#   ip_forward=1) - ${PREFIX}s (server): c veth-c 10.99.1.1/24 <-> r veth-rc 10.99.1.254/24,
#   r veth-rs 10.99.2.254/24 <-> s veth-s 10.99.2.1/24; default routes via the router. FAR_MTU
#   (default 1500) is set on both ends of the r-s link. Offloads off; cleanup registered.
ns_chain() {
  local p=$1 mtu=${2:-1500} n
  for n in c r s; do ip netns add "${p}$n"; NS_CREATED+=("${p}$n"); ip -n "${p}$n" link set lo up; done
  ip link add veth-c netns "${p}c" type veth peer name veth-rc netns "${p}r"
  ip link add veth-rs netns "${p}r" type veth peer name veth-s netns "${p}s"
  ip -n "${p}c" addr add 10.99.1.1/24 dev veth-c
  ip -n "${p}r" addr add 10.99.1.254/24 dev veth-rc
  ip -n "${p}r" addr add 10.99.2.254/24 dev veth-rs
  ip -n "${p}s" addr add 10.99.2.1/24 dev veth-s
  ip -n "${p}r" link set veth-rs mtu "$mtu"; ip -n "${p}s" link set veth-s mtu "$mtu"
  ip -n "${p}c" link set veth-c up; ip -n "${p}r" link set veth-rc up
  ip -n "${p}r" link set veth-rs up; ip -n "${p}s" link set veth-s up
  ip -n "${p}c" route add default via 10.99.1.254
  ip -n "${p}s" route add default via 10.99.2.254
  ip netns exec "${p}r" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "${p}c" ethtool -K veth-c tx off rx off >/dev/null 2>&1 || true
  ip netns exec "${p}r" ethtool -K veth-rc tx off rx off >/dev/null 2>&1 || true
  ip netns exec "${p}r" ethtool -K veth-rs tx off rx off >/dev/null 2>&1 || true
  ip netns exec "${p}s" ethtool -K veth-s tx off rx off >/dev/null 2>&1 || true
}
