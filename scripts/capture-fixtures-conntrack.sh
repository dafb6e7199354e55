#!/usr/bin/env bash
# Captures what a real kernel's connection tracking and NAT do, into dataplane/netfilter/fixtures/,
# for the tests of dataplane/netfilter/conntrack.ts and nat-*.ts. Three namespaces created here
# (scripts/fixtures-netns.sh ns_chain: client c 10.99.1.1 and 10.99.1.2 - router r - server s
# 10.99.2.1; offloads off), deleted on exit; nothing outside them is touched.
#
# Router r: `iptables -t nat -A POSTROUTING -o veth-rs -j MASQUERADE` (so every flow from the client
# is source-NATed to 10.99.2.254) and a DNAT of udp 10.99.1.254:5353 to 10.99.2.1:7777. Server s:
# `iptables -A INPUT -p tcp --dport 9999 -j DROP` (a SYN nobody answers).
#
#   conntrack-sysctl.txt   /proc/sys/net/netfilter/nf_conntrack_* in r
#   conntrack-list.txt     `conntrack -L` in r after these flows (ports fixed, no collisions):
#     udp-unreplied  c 10.99.1.1:40001 -> s:7778 (a sink), one datagram
#     udp-replied    c 10.99.1.1:40002 -> s:7777 (echo), one datagram and its answer
#     udp-assured    c 10.99.1.1:40003 -> s:7777, a datagram, answer, 2.5 s, a datagram, answer
#     udp-dnat       c 10.99.1.1:40004 -> 10.99.1.254:5353 (DNAT + MASQUERADE), datagram and answer
#     udp-plain      s 10.99.2.1:6001 -> c 10.99.1.1:6000 (not NATed), datagram and answer
#     tcp-open       c 10.99.1.1:40005 -> s:8000: handshake, 5 bytes each way, left open
#     tcp-closed     c 10.99.1.1:40006 -> s:8001: handshake, 5 bytes each way, client closes first
#     tcp-synsent    c 10.99.1.1:40007 -> s:9999 (dropped by s): SYNs only
#     tcp-refused    c 10.99.1.1:40008 -> s:9 (closed): SYN, RST (the kernel deletes the entry)
#     icmp-echo      c 10.99.1.1 -> s echo request id 0x1234 seq 1, and the reply
#     generic        c 10.99.1.1 -> s IP protocol 253, one packet
#   Each `# mark NAME T` line gives the time (s) the flow's last packet was sent, and
#   `# dump T` when the list was taken, so a test knows each entry's age.
#   conntrack-collide.txt  `conntrack -L` after collisions: 10.99.1.1 and then 10.99.1.2 send from the
#     same source port (500..504, 700..704, 40020..40024) to s:7778, and echo requests with the same
#     id (0x2000..0x2002) to s: the second of each pair cannot keep its port/id after MASQUERADE.
#   conntrack-nat-*.hex    frames seen by r on both sides (`tcpdump -xx`, as fixtures-netns.sh
#     dump_hex): udp 10.99.1.1:40030 -> s:9 before (veth-rc) and after (veth-rs) MASQUERADE, the
#     port unreachable s sends back before (veth-rs) and after (veth-rc) r translates it (outer and
#     quoted headers), the tcp-open SYN before/after, and the second colliding echo request
#     (id 0x2000 from 10.99.1.2) before/after (its id rewritten).
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wy-ct-$$-; ns_chain $P; out=dataplane/netfilter/fixtures; tmp=$(mktemp -d); mkdir -p $out
C="ip netns exec ${P}c"; R="ip netns exec ${P}r"; S="ip netns exec ${P}s"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; ns_cleanup; }
trap cleanup EXIT
ip -n ${P}c addr add 10.99.1.2/24 dev veth-c
$R iptables -t nat -A POSTROUTING -o veth-rs -j MASQUERADE
$R iptables -t nat -A PREROUTING -i veth-rc -p udp -d 10.99.1.254 --dport 5353 -j DNAT --to-destination 10.99.2.1:7777
$S iptables -A INPUT -p tcp --dport 9999 -j DROP

cat > $tmp/net.py <<'EOF'
# Small traffic tools: udp servers/clients, tcp servers/clients, raw ICMP echo, raw IP protocol.
import socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s & 0xffff) + (s >> 16); s += s >> 16
    return ~s & 0xffff
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "usrv":            # PORT echo|sink
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(a[0])))
    while True:
        d, peer = s.recvfrom(2048)
        if a[1] == "echo": s.sendto(d, peer)
elif cmd == "ucli":          # SRC SPORT DST DPORT COUNT GAP
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((a[0], int(a[1]))); s.settimeout(1)
    for i in range(int(a[4])):
        if i: time.sleep(float(a[5]))
        s.sendto(b"wireyard", (a[2], int(a[3])))
        try: s.recvfrom(2048)
        except (socket.timeout, ConnectionRefusedError): pass
elif cmd == "tsrv":          # PORT hold|close
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", int(a[0]))); s.listen(4)
    c, _ = s.accept(); c.recv(100); c.sendall(b"world")
    if a[1] == "hold": time.sleep(3600)
    while c.recv(100): pass
    c.close(); time.sleep(3600)
elif cmd == "tcli":          # SRC SPORT DST DPORT hold|close|syn
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((a[0], int(a[1])))
    if a[4] == "syn":
        s.settimeout(1.5)
        try: s.connect((a[2], int(a[3])))
        except OSError: pass
        sys.exit(0)
    s.connect((a[2], int(a[3]))); s.sendall(b"hello"); s.recv(100)
    if a[4] == "hold": time.sleep(3600)
    s.close(); time.sleep(0.5)
elif cmd == "echo":          # SRC DST ID SEQ
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.bind((a[0], 0)); s.settimeout(1)
    body = b"wireyard"; h = struct.pack("!BBHHH", 8, 0, 0, int(a[2], 0), int(a[3]))
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(h + body), int(a[2], 0), int(a[3])) + body, (a[1], 0))
    try: s.recvfrom(2048)
    except socket.timeout: pass
elif cmd == "proto":         # SRC DST PROTO
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, int(a[2])); s.bind((a[0], 0))
    s.sendto(b"wireyard", (a[1], 0))
EOF
py() { python3 $tmp/net.py "$@"; }
bg() { "$@" & PIDS+=($!); }
mark() { echo "# mark $1 $(date +%s.%N)" >> $tmp/marks; }

for f in /proc/sys/net/netfilter/nf_conntrack_*; do
  n=$(basename $f); printf '%s = %s\n' "$n" "$($R cat /proc/sys/net/netfilter/$n 2>/dev/null)"
done > $out/conntrack-sysctl.txt

bg $R tcpdump -i veth-rc -w $tmp/rc.pcap -U 2>/dev/null
bg $R tcpdump -i veth-rs -w $tmp/rs.pcap -U 2>/dev/null
bg $S python3 $tmp/net.py usrv 7777 echo
bg $S python3 $tmp/net.py usrv 7778 sink
bg $C python3 $tmp/net.py usrv 6000 echo
bg $S python3 $tmp/net.py tsrv 8000 hold
bg $S python3 $tmp/net.py tsrv 8001 close
sleep 1
# neighbours resolved first, so that no flow waits for ARP
$C ping -c 1 -W 1 10.99.1.254 >/dev/null; $S ping -c 1 -W 1 10.99.2.254 >/dev/null

: > $tmp/marks
$C python3 $tmp/net.py ucli 10.99.1.1 40001 10.99.2.1 7778 1 0; mark udp-unreplied
$C python3 $tmp/net.py ucli 10.99.1.1 40002 10.99.2.1 7777 1 0; mark udp-replied
$C python3 $tmp/net.py ucli 10.99.1.1 40003 10.99.2.1 7777 2 2.5; mark udp-assured
$C python3 $tmp/net.py ucli 10.99.1.1 40004 10.99.1.254 5353 1 0; mark udp-dnat
$S python3 $tmp/net.py ucli 10.99.2.1 6001 10.99.1.1 6000 1 0; mark udp-plain
bg $C python3 $tmp/net.py tcli 10.99.1.1 40005 10.99.2.1 8000 hold; sleep 0.5; mark tcp-open
$C python3 $tmp/net.py tcli 10.99.1.1 40006 10.99.2.1 8001 close; mark tcp-closed
$C python3 $tmp/net.py tcli 10.99.1.1 40007 10.99.2.1 9999 syn; mark tcp-synsent
$C python3 $tmp/net.py tcli 10.99.1.1 40008 10.99.2.1 9 syn; mark tcp-refused
$C python3 $tmp/net.py echo 10.99.1.1 10.99.2.1 0x1234 1; mark icmp-echo
$C python3 $tmp/net.py proto 10.99.1.1 10.99.2.1 253; mark generic
sleep 0.3
{ echo "# conntrack -L in the router namespace (kernel $(uname -r), $(conntrack --version))"
  cat $tmp/marks; echo "# dump $(date +%s.%N)"
  $R conntrack -L 2>/dev/null; } > $out/conntrack-list.txt
# the udp flow whose port unreachable is captured for the NAT fixtures (after the list: not in it)
$C python3 $tmp/net.py ucli 10.99.1.1 40030 10.99.2.1 9 1 0

# collisions: the same source port / echo id from 10.99.1.1, then from 10.99.1.2
for p in 500 501 502 503 504 700 701 702 703 704 40020 40021 40022 40023 40024; do
  $C python3 $tmp/net.py ucli 10.99.1.1 $p 10.99.2.1 7778 1 0
  $C python3 $tmp/net.py ucli 10.99.1.2 $p 10.99.2.1 7778 1 0
done
for id in 0x2000 0x2001 0x2002; do
  $C python3 $tmp/net.py echo 10.99.1.1 10.99.2.1 $id 1
  $C python3 $tmp/net.py echo 10.99.1.2 10.99.2.1 $id 1
done
{ echo "# conntrack -L in the router namespace after port/id collisions (kernel $(uname -r))"
  $R conntrack -L 2>/dev/null | grep -E 'dport=7778|type=8' | grep -v -e 'sport=4000[0-9] ' -e 'id=4660 '; } > $out/conntrack-collide.txt
sleep 0.5
for p in "${PIDS[@]:0:2}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5

nat_hex() { # NAME PCAP FILTER
  dump_hex "$2" $out/conntrack-nat-$1.hex "$3"; grep -q 0x0000 $out/conntrack-nat-$1.hex || { echo "no frame for $1" >&2; exit 1; }
}
nat_hex udp-out-before $tmp/rc.pcap "udp and src port 40030"
nat_hex udp-out-after $tmp/rs.pcap "udp and src port 40030"
nat_hex icmp-error-before $tmp/rs.pcap "icmp and icmp[0] = 3 and icmp[28:2] = 40030"
nat_hex icmp-error-after $tmp/rc.pcap "icmp and icmp[0] = 3 and icmp[28:2] = 40030"
nat_hex tcp-syn-before $tmp/rc.pcap "tcp and src port 40005 and tcp[tcpflags] = tcp-syn"
nat_hex tcp-syn-after $tmp/rs.pcap "tcp and src port 40005 and tcp[tcpflags] = tcp-syn"
nat_hex echo-collide-before $tmp/rc.pcap "icmp and src host 10.99.1.2 and icmp[0] = 8 and icmp[4:2] = 0x2000"
nat_hex echo-collide-after $tmp/rs.pcap "icmp and icmp[0] = 8 and icmp[8:4] = 0x77697265 and icmp[4:2] != 0x2000 and icmp[4:2] != 0x2001 and icmp[4:2] != 0x2002 and icmp[4:2] != 0x1234"
echo "fixtures written to $out" >&2
