#!/usr/bin/env bash
# Captures IPv4, ICMPv4 and IP-in-IP fixtures from a real kernel into core/wire/fixtures/:
#   pair  a (10.99.0.1) - b (10.99.0.2): ping echo request/reply, fragments of a 3000-byte ping
#         (-M dont), UDP to a closed port (port unreachable), raw IP-in-IP (see below);
#   chain c (10.99.1.1) - r (router) - s (10.99.2.1), r-s MTU 1400: one echo request seen on
#         both sides of the router (forwarding: TTL and checksum), ping -R (record route),
#         ping -t 1 (time exceeded), ping -M do -s 1400 (frag needed), routing errors from r
#         (no route -> net unreachable, `unreachable` route -> host unreachable, `prohibit`
#         route -> admin prohibited filter).
# IP-in-IP: this kernel has no ipip driver (CONFIG_NET_IPIP unset), so the outer header is built
# by the kernel's raw-socket path (socket(AF_INET, SOCK_RAW, IPPROTO_IPIP) sending a real inner
# echo request), not by ip_tunnel_xmit. Its TTL 64 and DF match the tunnel driver's defaults for
# a DF inner packet with TTL 64 (see core/wire/ipip.ts); its id comes from the raw-socket path.
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wyfx-l3-; out=core/wire/fixtures; tmp=$(mktemp -d)
ns_pair $P
ns_chain $P 1400
PY=/usr/bin/python3

# Inner addresses for IP-in-IP: 10.99.9.1 on a, 10.99.9.2 on b, routed over the pair.
ip -n ${P}a addr add 10.99.9.1/32 dev lo; ip -n ${P}b addr add 10.99.9.2/32 dev lo
ip -n ${P}a route add 10.99.9.2/32 via 10.99.0.2; ip -n ${P}b route add 10.99.9.1/32 via 10.99.0.1
# Routing errors on the router.
ip -n ${P}r route add unreachable 10.99.4.0/24
ip -n ${P}r route add prohibit 10.99.5.0/24

pids=()
cap() { ip netns exec "$1" tcpdump -i "$2" -U -w "$tmp/$3.pcap" 2>"$tmp/$3.log" & pids+=($!); }
cap ${P}b veth-b pair
cap ${P}s veth-s far
cap ${P}c veth-c near
# Wait until every tcpdump is listening (starting three at once can take over a second).
for _ in $(seq 100); do
  [ "$(cat $tmp/*.log | grep -c 'listening on')" -ge 3 ] && break; sleep 0.1
done

# ---- pair ----
ip netns exec ${P}a ping -c 1 -W 1 10.99.0.2 >/dev/null || true
ip netns exec ${P}a ping -c 1 -W 1 -s 3000 -M dont 10.99.0.2 >/dev/null || true
ip netns exec ${P}a bash -c 'echo -n "x" | nc -u -w1 -p 40001 10.99.0.2 9' || true
ip netns exec ${P}a ping -c 1 -W 1 -I 10.99.9.1 10.99.9.2 >/dev/null || true
sleep 0.5
# The inner packet: the echo request just captured (from its IPv4 header on), re-sent as the
# payload of a raw IPPROTO_IPIP socket towards b's underlay address.
ip netns exec ${P}a $PY - "$tmp/pair.pcap" <<'PYEOF' || echo "IP-in-IP: no inner echo request captured" >&2
import socket, sys
from scapy.all import rdpcap, IP, ICMP
inner = next(bytes(p[IP]) for p in rdpcap(sys.argv[1])
             if IP in p and p[IP].dst == "10.99.9.2" and ICMP in p and p[ICMP].type == 8)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
s.sendto(inner, ("10.99.0.2", 0))
PYEOF

# ---- chain ----
ip netns exec ${P}c ping -c 1 -W 1 -s 100 -Q 0xb9 10.99.2.1 >/dev/null || true
ip netns exec ${P}c ping -c 1 -W 1 -R 10.99.2.1 >/dev/null || true
ip netns exec ${P}c ping -c 1 -W 1 -t 1 10.99.2.1 >/dev/null || true
ip netns exec ${P}c ping -c 1 -W 1 -M do -s 1400 10.99.2.1 >/dev/null || true
sleep 1.1   # routing errors share the ICMP rate-limit bucket (BEHAVIOR.md 5.10)
ip netns exec ${P}c ping -c 1 -W 1 10.99.3.1 >/dev/null || true
sleep 1.1
ip netns exec ${P}c ping -c 1 -W 1 10.99.4.1 >/dev/null || true
sleep 1.1
ip netns exec ${P}c ping -c 1 -W 1 10.99.5.1 >/dev/null || true
sleep 0.5
for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true

echo_req='icmp[icmptype] == icmp-echo'
echo_rep='icmp[icmptype] == icmp-echoreply'
unreach='icmp[icmptype] == icmp-unreach and icmp[icmpcode]'
dump_hex $tmp/pair.pcap $out/icmp-echo-request.hex "dst host 10.99.0.2 and $echo_req and ip[2:2] == 84"
dump_hex $tmp/pair.pcap $out/icmp-echo-reply.hex "src host 10.99.0.2 and $echo_rep and ip[2:2] == 84"
dump_hex $tmp/pair.pcap $out/ipv4-frag-first.hex "dst host 10.99.0.2 and ip[6:2] & 0x3fff == 0x2000"
dump_hex $tmp/pair.pcap $out/ipv4-frag-middle.hex "dst host 10.99.0.2 and ip[6:2] & 0x3fff == 0x20b9"
dump_hex $tmp/pair.pcap $out/ipv4-frag-last.hex "dst host 10.99.0.2 and ip[6:2] & 0x3fff == 370"
dump_hex $tmp/pair.pcap $out/icmp-port-unreach.hex "$unreach == 3 and src host 10.99.0.2"
dump_hex $tmp/pair.pcap $out/ipip-echo.hex "ip proto 4"
dump_hex $tmp/pair.pcap $out/icmp-proto-unreach.hex "$unreach == 2"
dump_hex $tmp/far.pcap $out/ipv4-rr-request.hex "$echo_req and ip[0] & 0xf == 15"
dump_hex $tmp/far.pcap $out/ipv4-rr-reply.hex "$echo_rep and ip[0] & 0xf == 15"
# One echo request (TOS 0xb9: DSCP EF + ECT(1)) on both sides of the router: forwarding as bytes.
dump_hex $tmp/near.pcap $out/ipv4-fwd-before.hex "$echo_req and ip[2:2] == 128"
dump_hex $tmp/far.pcap $out/ipv4-fwd-after.hex "$echo_req and ip[2:2] == 128"
dump_hex $tmp/near.pcap $out/icmp-time-exceeded.hex "icmp[icmptype] == icmp-timxceed"
dump_hex $tmp/near.pcap $out/icmp-frag-needed.hex "$unreach == 4"
dump_hex $tmp/near.pcap $out/icmp-net-unreach.hex "$unreach == 0"
dump_hex $tmp/near.pcap $out/icmp-host-unreach.hex "$unreach == 1"
dump_hex $tmp/near.pcap $out/icmp-filter-prohib.hex "$unreach == 13"
# Drop empty outputs (a capture that did not happen) so the failure is visible.
for f in $out/ipv4-*.hex $out/icmp-*.hex $out/ipip-*.hex; do
  if ! grep -q '0x0000' "$f"; then echo "no packet for $f" >&2; rm -f "$f"; fi
done
rm -rf "$tmp"
