#!/usr/bin/env bash
# Captures Ethernet + IPv4 + UDP fixtures from a real kernel into core/wire/fixtures/.
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wyfx-udp-; ns_pair $P; out=core/wire/fixtures; tmp=$(mktemp -d)
ip -n ${P}b neigh add 10.99.0.1 lladdr "$(ip -n ${P}a -br link show veth-a | awk '{print $3}')" dev veth-b
ip -n ${P}a neigh add 10.99.0.2 lladdr "$(ip -n ${P}b -br link show veth-b | awk '{print $3}')" dev veth-a
ip netns exec ${P}b timeout 4 tcpdump -i veth-b -w $tmp/udp.pcap -c 2 udp 2>/dev/null & sleep 1
ip netns exec ${P}a bash -c 'echo -n "hello wireyard" | nc -u -w1 -p 40000 10.99.0.2 7777' || true
ip netns exec ${P}a bash -c 'echo -n "x" | nc -u -w1 -p 40001 10.99.0.2 9' || true
wait
dump_hex $tmp/udp.pcap $out/udp-hello.hex "udp port 7777"
dump_hex $tmp/udp.pcap $out/udp-odd.hex "udp port 9"
rm -rf "$tmp"
