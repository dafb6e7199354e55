#!/usr/bin/env bash
# Captures TCP, ARP and VXLAN fixtures from a real kernel into core/wire/fixtures/.
# Two namespaces joined by a veth pair (scripts/fixtures-netns.sh), offloads off, no static
# neighbours (so the kernel's own ARP request and reply are on the wire), then:
#   - nc TCP session a -> b:7777 (handshake with options, one PSH data segment, FINs),
#     and a connect to the closed port b:9 (RST);
#   - a gratuitous ARP from the kernel (arp_notify=1 + a MAC change on veth-a);
#   - a VXLAN device (id 42, dstport 4789) over the veth in both namespaces and a ping across it.
# Each fixture also carries tcpdump's `-n -S -t` line(s) as `# | ` lines, for the printers' tests.
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wyfx-l4-; ns_pair $P; out=core/wire/fixtures; tmp=$(mktemp -d)
A="ip netns exec ${P}a"; B="ip netns exec ${P}b"

# dump_l4 PCAP NAME FILTER: dump_hex, plus the plain `tcpdump -n -S -t` decode of the same frame.
dump_l4() {
  local pcap=$1 f=$out/$2.hex filter=$3
  dump_hex "$pcap" "$f.tmp" "$filter"
  { grep '^#' "$f.tmp"
    tcpdump -r "$pcap" -n -S -t -c 1 $filter 2>/dev/null | sed 's/^/# | /'
    grep -E '^\s+0x[0-9a-f]+:' "$f.tmp"; } > "$f"
  rm -f "$f.tmp"
  grep -q '0x0000' "$f" || { echo "no frame for $2 ($filter)" >&2; exit 1; }
}

# ---- ARP and TCP on the plain veth --------------------------------------------------------
$B timeout 12 tcpdump -i veth-b -w $tmp/l4.pcap 'arp or tcp' 2>/dev/null & sleep 1
$A ping -c 1 -W 1 10.99.0.2 >/dev/null                       # ARP request + reply
$B timeout 5 nc -l 7777 >/dev/null & sleep 0.5
$A bash -c 'printf "hello wireyard" | timeout 4 nc -N -p 40000 10.99.0.2 7777' || true
$A bash -c 'timeout 2 nc -p 40001 10.99.0.2 9 </dev/null' || true   # closed port -> RST
sleep 0.5
$A sysctl -qw net.ipv4.conf.veth-a.arp_notify=1
$A ip link set veth-a address 02:99:00:00:00:01                   # -> gratuitous ARP
wait
dump_l4 $tmp/l4.pcap arp-request "arp and arp[6:2] = 1 and arp[14:4] != arp[24:4]"
dump_l4 $tmp/l4.pcap arp-reply "arp and arp[6:2] = 2"
dump_l4 $tmp/l4.pcap arp-gratuitous "arp and arp[14:4] = arp[24:4]"
dump_l4 $tmp/l4.pcap tcp-syn "tcp dst port 7777 and tcp[tcpflags] = tcp-syn"
dump_l4 $tmp/l4.pcap tcp-synack "tcp src port 7777 and tcp[tcpflags] = (tcp-syn|tcp-ack)"
dump_l4 $tmp/l4.pcap tcp-ack "tcp dst port 7777 and tcp[tcpflags] = tcp-ack"
dump_l4 $tmp/l4.pcap tcp-data "tcp dst port 7777 and tcp[tcpflags] & tcp-push != 0"
dump_l4 $tmp/l4.pcap tcp-fin "tcp dst port 7777 and tcp[tcpflags] & tcp-fin != 0"
dump_l4 $tmp/l4.pcap tcp-rst "tcp src port 9 and tcp[tcpflags] & tcp-rst != 0"

# ---- VXLAN over the veth ------------------------------------------------------------------
$A ip link add vx0 type vxlan id 42 remote 10.99.0.2 dstport 4789 dev veth-a
$B ip link add vx0 type vxlan id 42 remote 10.99.0.1 dstport 4789 dev veth-b
$A ip addr add 10.100.0.1/24 dev vx0; $A ip link set vx0 up
$B ip addr add 10.100.0.2/24 dev vx0; $B ip link set vx0 up
$B timeout 5 tcpdump -i veth-b -w $tmp/vx.pcap 'udp port 4789' 2>/dev/null & sleep 1
$A ping -c 1 -W 2 10.100.0.2 >/dev/null
wait
$A ip -d link show vx0 > $tmp/vx0.txt
dump_l4 $tmp/vx.pcap vxlan-arp "udp dst port 4789 and udp[28:2] = 0x0806"
dump_l4 $tmp/vx.pcap vxlan-icmp "udp dst port 4789 and udp[28:2] = 0x0800 and udp[39:1] = 1 and udp[50:1] = 8"
sed 's/^/# /' $tmp/vx0.txt
rm -rf "$tmp"
