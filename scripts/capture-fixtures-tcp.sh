#!/usr/bin/env bash
# Captures whole TCP exchanges from a real kernel into dataplane/endpoint/fixtures/, for the tests of
# the emulated TCP (dataplane/endpoint/tcp.ts): two namespaces joined by a veth pair
# (scripts/fixtures-netns.sh: 10.99.0.1 veth-a <-> 10.99.0.2 veth-b, offloads off), captured on veth-b.
#
# tcp_rmem is set to Linux's default (4096 131072 6291456) in both namespaces: a new namespace copies
# the host's value, and a host tuned to a larger maximum advertises a larger window scale (the
# maximum gives the shift: ilog2(max(tcp_rmem[2], rmem_max)) - 15, 7 for the default).
#
#   tcp-session-client-close.hex  a -> b:7777, 5000 bytes, a closes; b reads to EOF and closes
#   tcp-session-server-close.hex  a -> b:7778; b sends 3000 bytes and closes; a reads to EOF,
#                                 waits 0.2 s and closes (b's last ACK comes from its TIME_WAIT socket)
#   tcp-closed-port.hex           segments to the closed port b:9 and the kernel's resets: a SYN from
#                                 nc -z, then hand-built segments through a raw socket (ACK, PSH|ACK
#                                 with 10 bytes, FIN with 10 bytes, SYN with TOS 0x12, RST, no flags,
#                                 SYN|FIN with 5 bytes; seq 1000, ack 2000, window 1000, id 0x1234)
#   tcp-synack-options.hex        hand-built SYNs to a listener on b:7780 with fewer options (none;
#                                 mss 1000 + sackOK; mss 1420 + TS; wscale 2 + mss 1024) and the
#                                 SYN-ACKs answering them (a's kernel then resets each SYN-ACK)
#   tcp-syn-retries.hex           connect() to an address nobody answers (a static neighbour entry to
#                                 an absent MAC): every SYN until ETIMEDOUT; the last line records when
#                                 connect() failed
#   tcp-synack-retries.hex        a SYN to a listener on b:7781 from 10.99.0.7, an address nobody has
#                                 (b's neighbour entry points to an absent MAC): every SYN-ACK, 70 s
# The last two take ~135 s together; SKIP_SYN_RETRIES=1 keeps the old files.
#
# Each file holds several frames, each a `tcpdump -nev -tt -S` decode (lines starting `# `) followed
# by its `-xx` hex lines; a frame starts at each decode line that starts with a timestamp.
cd "$(dirname "$0")/.." && source scripts/fixtures-netns.sh
P=wyfx-tcp-; ns_pair $P; out=dataplane/endpoint/fixtures; tmp=$(mktemp -d); mkdir -p $out
A="ip netns exec ${P}a"; B="ip netns exec ${P}b"
for n in a b; do ip netns exec ${P}$n sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"; done

cat > $tmp/srv.py <<'EOF'
import socket, sys
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen(8)
c, _ = s.accept()
if mode == "sink":
    while c.recv(65536): pass
else:
    c.sendall(b"y" * n)
c.close()
EOF
cat > $tmp/cli.py <<'EOF'
import socket, sys, time
dst, port, mode, n, sport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(); s.bind(("0.0.0.0", sport)); t = time.time()
try:
    s.connect((dst, port))
except OSError as e:
    print("# connect: %s after %.1f s" % (e.strerror, time.time() - t)); sys.exit(0)
if mode == "send":
    s.sendall(b"x" * n)
else:
    while s.recv(65536): pass
    time.sleep(0.2)
s.close()
EOF
cat > $tmp/raw.py <<'EOF'
# raw.py SRC DST SPORT DPORT FLAGS SEQ ACK TOS PAYLOADLEN [OPTIONS-HEX]: one hand-built TCP segment
# (window 1000, IP id 0x1234, no DF)
import socket, struct, sys
src, dst, sport, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
flags, seq, ack, tos, plen = int(sys.argv[5], 0), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8], 0), int(sys.argv[9])
opts = bytes.fromhex(sys.argv[10]) if len(sys.argv) > 10 else b""
def csum(b):
    b += b"\0" * (len(b) % 2); s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16); return ~s & 0xffff
data = b"z" * plen
hl = 20 + len(opts)
th = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, 1000, 0, 0) + opts
th = th[:16] + struct.pack("!H", csum(socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, hl + plen) + th + data)) + th[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + hl + plen, 0x1234, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + th + data, (dst, 0))
EOF

# dump_all PCAP OUT [FILTER]: every matching frame, decode lines as `# ` then its hex lines.
dump_all() {
  tcpdump -r "$1" -nev -tt -S -xx ${3:-} 2>/dev/null | sed -E '/^\s+0x[0-9a-f]+:/!s/^/# /' > "$2"
  grep -q '0x0000' "$2" || { echo "no frames for $2" >&2; exit 1; }
}

$B timeout 14 tcpdump -U -i veth-b -w $tmp/tcp.pcap tcp 2>/dev/null & sleep 1
$B timeout 5 python3 $tmp/srv.py 7777 sink 0 & sleep 0.5
$A timeout 4 python3 $tmp/cli.py 10.99.0.2 7777 send 5000 40000; sleep 0.5
$B timeout 5 python3 $tmp/srv.py 7778 send 3000 & sleep 0.5
$A timeout 4 python3 $tmp/cli.py 10.99.0.2 7778 recv 0 40002; sleep 0.5
$A bash -c 'timeout 2 nc -z -p 40001 10.99.0.2 9 </dev/null' || true
R="$A python3 $tmp/raw.py 10.99.0.1 10.99.0.2"
$R 40003 9 0x10 1000 2000 0 0; $R 40004 9 0x18 1000 2000 0 10; $R 40005 9 0x01 1000 0 0 10
$R 40006 9 0x02 1000 0 0x12 0; $R 40007 9 0x04 1000 0 0 0; $R 40008 9 0x00 1000 0 0 0
$R 40009 9 0x03 1000 0 0 5
$B timeout 3 python3 $tmp/srv.py 7780 sink 0 & sleep 0.5
$R 40011 7780 0x02 5000 0 0 0
$R 40012 7780 0x02 6000 0 0 0 020403e801010402
$R 40013 7780 0x02 7000 0 0 0 0204058c0101080a0000000100000000
$R 40014 7780 0x02 8000 0 0 0 010303020204040001010101
wait
dump_all $tmp/tcp.pcap $out/tcp-session-client-close.hex "tcp port 7777"
dump_all $tmp/tcp.pcap $out/tcp-session-server-close.hex "tcp port 7778"
dump_all $tmp/tcp.pcap $out/tcp-closed-port.hex "tcp port 9"
dump_all $tmp/tcp.pcap $out/tcp-synack-options.hex "tcp port 7780 and tcp[tcpflags] & tcp-syn != 0"

if [ "${SKIP_SYN_RETRIES:-}" != 1 ]; then
  $A ip neigh add 10.99.0.9 lladdr 02:00:00:00:00:99 dev veth-a
  $B ip neigh add 10.99.0.7 lladdr 02:00:00:00:00:77 dev veth-b
  $A sysctl net.ipv4.tcp_syn_retries net.ipv4.tcp_syn_linear_timeouts | sed 's/^/# /' > $tmp/syn.txt
  $B sysctl net.ipv4.tcp_synack_retries | sed 's/^/# /' > $tmp/synack.txt
  $B timeout 140 tcpdump -U -i veth-b -w $tmp/syn.pcap 'tcp port 7779 or tcp port 7781' 2>/dev/null & sleep 1
  $B timeout 75 python3 $tmp/srv.py 7781 sink 0 & sleep 0.5
  $A python3 $tmp/raw.py 10.99.0.7 10.99.0.2 40021 7781 0x02 9000 0 0 0 020405b4
  $A timeout 139 python3 $tmp/cli.py 10.99.0.9 7779 send 1 40010 >> $tmp/syn.txt
  wait || true
  dump_all $tmp/syn.pcap $out/tcp-syn-retries.hex "tcp port 7779"
  cat $tmp/syn.txt >> $out/tcp-syn-retries.hex
  dump_all $tmp/syn.pcap $out/tcp-synack-retries.hex "tcp port 7781 and host 10.99.0.7"
  cat $tmp/synack.txt >> $out/tcp-synack-retries.hex
fi
rm -rf "$tmp"
