#!/usr/bin/env bash
# Captures the capture-file fixtures of core/pcap/ with real tools, from real traffic (ping and UDP)
# between two namespaces, and writes beside each file tshark's reading of it (<file>.tshark.txt:
# number, epoch time, captured length, original length, interface id, interface name, comment).
#   tcpdump-us.pcap           tcpdump -w, microsecond magic, host (little-endian) order
#   tcpdump-ns.pcap           tcpdump --time-stamp-precision=nano -w, nanosecond magic
#   tcpdump-s64.pcap          editcap -F pcap -s 64 of tcpdump-us.pcap (captured < original length)
#   scapy-be-ns.pcap          scapy PcapWriter(endianness=">", nano=True) of tcpdump-ns.pcap
#   editcap-us.pcapng         editcap -F pcapng of tcpdump-us.pcap (if_tsresol absent: 10^-6)
#   editcap-ns.pcapng         editcap -F pcapng of tcpdump-ns.pcap (if_tsresol 9)
#   dumpcap-2if.pcapng        dumpcap -i veth-b -i lo: two IDBs with if_name, ISBs at the end,
#                             frame comments added by editcap -a
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wyfx-pcap-; ns_pair $P; out=core/pcap/fixtures; tmp=$(mktemp -d); mkdir -p $out
ip -n ${P}b neigh add 10.99.0.1 lladdr "$(ip -n ${P}a -br link show veth-a | awk '{print $3}')" dev veth-b
ip -n ${P}a neigh add 10.99.0.2 lladdr "$(ip -n ${P}b -br link show veth-b | awk '{print $3}')" dev veth-a
F='icmp or udp'
ip netns exec ${P}b timeout 15 tcpdump -i veth-b -w $tmp/us.pcap -c 4 "$F" 2>/dev/null &
ip netns exec ${P}b timeout 15 tcpdump -i veth-b --time-stamp-precision=nano -w $tmp/ns.pcap -c 4 "$F" 2>/dev/null &
ip netns exec ${P}b timeout 15 dumpcap -q -f "$F" -i veth-b -i lo -c 8 -w $tmp/2if.pcapng 2>/dev/null &
sleep 2
ip netns exec ${P}a ping -c 1 -s 100 10.99.0.2 >/dev/null
ip netns exec ${P}a bash -c 'echo -n "hello pcap" | nc -u -w1 -p 40000 10.99.0.2 7777' || true
ip netns exec ${P}a bash -c 'head -c 1000 /dev/zero | tr "\0" x | nc -u -w1 -p 40001 10.99.0.2 7777' || true
ip netns exec ${P}b ping -c 1 127.0.0.1 >/dev/null
wait
cp $tmp/us.pcap $out/tcpdump-us.pcap
cp $tmp/ns.pcap $out/tcpdump-ns.pcap
editcap -F pcap -s 64 $out/tcpdump-us.pcap $out/tcpdump-s64.pcap
/usr/bin/python3 - $out/tcpdump-ns.pcap $out/scapy-be-ns.pcap <<'EOF'
import sys
from scapy.all import PcapReader, PcapWriter
with PcapReader(sys.argv[1]) as r, PcapWriter(sys.argv[2], endianness=">", nano=True, linktype=1, snaplen=262144) as w:
    for p in r:
        w.write(p)
EOF
editcap -F pcapng $out/tcpdump-us.pcap $out/editcap-us.pcapng
editcap -F pcapng $out/tcpdump-ns.pcap $out/editcap-ns.pcapng
editcap -a "1:first frame, comment by editcap" -a "4:ünïcödé comment" $tmp/2if.pcapng $out/dumpcap-2if.pcapng
for f in $out/*.pcap $out/*.pcapng; do
  tshark -r "$f" -T fields -e frame.number -e frame.time_epoch -e frame.cap_len -e frame.len \
    -e frame.interface_id -e frame.interface_name -e frame.comment > "$f.tshark.txt" 2>/dev/null
done
rm -rf "$tmp"
