#!/usr/bin/env bash
# Measures the real kernel's netfilter on the Docker host that dataplane/topologies/docker-host.ts
# builds (docker0 172.17.0.1/16 with c2 = 172.17.0.2, c3 = 172.17.0.3; eth0 192.168.1.10/24 to a
# client at 192.168.1.20; optionally br-net2 172.18.0.1/16 with c4 = 172.18.0.2), with the rules
# of dataplane/netfilter/docker-rules.ts (classic profile, `-p 8080:80/tcp -p 5353:53/udp` on c2)
# restored by iptables-restore, bridge-nf-call-iptables = 1. Writes
# dataplane/netfilter/fixtures/kernel/nat-docker-host.txt: per scenario ("## NAME"), what each step
# got, then `conntrack -L` (sorted) and `iptables-save -c`. docker.test.ts runs the same steps on
# the emulator and compares. Steps (python3 sockets; servers in c2: UDP echo on 53, TCP on 80
# that answers as many bytes as it read, then closes; a UDP echo on the client's port 7):
#   udp cl 40001 192.168.1.10 5353   UDP from the client's port 40001 to the published port
#   tcp cl 40002 192.168.1.10 8080   TCP: connect, send 100 bytes, read the answer, close
#   udp c2 40000 192.168.1.20 7 ...  containers to the client (MASQUERADE)
# Scenarios: proxy (userland-proxy on), hairpin (off: hairpin NAT rules, hairpin on the ports),
# noicc (icc=false), net2 (a second network). Everything runs in namespaces named wyk-dh-* that
# the script creates and deletes. Needs root, iproute2, iptables (nft), conntrack, python3, the
# br_netfilter module, and `npm run build` done (it prints the rules with dist/).
# Usage: sudo scripts/kernel-docker-host.sh
set -uo pipefail
cd "$(dirname "$0")/.."
P=wyk-dh-
OUT=dataplane/netfilter/fixtures/kernel/nat-docker-host.txt
NSS="h cl c2 c3 c4"
del() { for n in $NSS; do ip netns del ${P}$n 2>/dev/null; done; }
trap del EXIT
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || { echo "br_netfilter is not loaded" >&2; exit 1; }

rules() { # userland icc net2
  node --input-type=module -e "
import { dockerRulesText } from './dist/dataplane/netfilter/docker-rules.js';
const nets = [{ bridge: 'docker0', subnet: '172.17.0.0/16', icc: $2 === 1, containers: [
  { ip: '172.17.0.2', ports: [{ hostPort: 8080, containerPort: 80, proto: 'tcp' }, { hostPort: 5353, containerPort: 53, proto: 'udp' }] },
  { ip: '172.17.0.3' }] }];
if ($3 === 1) nets.push({ bridge: 'br-net2', subnet: '172.18.0.0/16', icc: $2 === 1, containers: [{ ip: '172.18.0.2' }] });
process.stdout.write(dockerRulesText({ profile: 'classic', userlandProxy: $1 === 1, networks: nets }));"
}

setup() { # userland icc net2
  del
  for n in $NSS; do ip netns add ${P}$n; ip netns exec ${P}$n ip link set lo up; ip netns exec ${P}$n sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
  local H="ip netns exec ${P}h"
  $H sysctl -qw net.ipv4.ip_forward=1
  $H sysctl -qw net.bridge.bridge-nf-call-iptables=1
  $H ip link add docker0 address 02:42:5e:1a:2b:3c type bridge
  $H ip addr add 172.17.0.1/16 dev docker0
  $H ip link set docker0 up
  ip link add eth0 netns ${P}h address 02:00:c0:a8:01:0a type veth peer eth0 netns ${P}cl address 02:00:c0:a8:01:14
  $H ip addr add 192.168.1.10/24 dev eth0; $H ip link set eth0 up
  ip netns exec ${P}cl ip addr add 192.168.1.20/24 dev eth0; ip netns exec ${P}cl ip link set eth0 up
  ctr() { # n bridge net ip
    ip link add veth1a2b3$1 netns ${P}h address 3e:00:00:00:00:0$1 type veth peer eth0 netns ${P}c$1 address 02:42:ac:$3:00:$(printf %02x "${4##*.}")
    $H ip link set veth1a2b3$1 master $2; $H ip link set veth1a2b3$1 up
    [ "$USERLAND" = 0 ] && $H ip link set veth1a2b3$1 type bridge_slave hairpin on
    ip netns exec ${P}c$1 ip addr add $4/16 dev eth0; ip netns exec ${P}c$1 ip link set eth0 up
    ip netns exec ${P}c$1 ip route add default via ${4%.*}.1
  }
  ctr 2 docker0 11 172.17.0.2
  ctr 3 docker0 11 172.17.0.3
  if [ "$3" = 1 ]; then
    $H ip link add br-net2 address 02:42:5e:1a:2b:3d type bridge
    $H ip addr add 172.18.0.1/16 dev br-net2; $H ip link set br-net2 up
    ctr 4 br-net2 12 172.18.0.2
  fi
  rules "$1" "$2" "$3" | $H iptables-restore
  ip netns exec ${P}c2 python3 -c '
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
def echo():
  while True:
    d, a = u.recvfrom(2000); u.sendto(d, a)
threading.Thread(target=echo, daemon=True).start()
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", 80)); t.listen(10)
while True:
  c, a = t.accept(); d = c.recv(1000); c.sendall(b"x" * len(d)); c.close()
' & SRV=$!
  ip netns exec ${P}cl python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 7))
while True:
  d, a = u.recvfrom(2000); u.sendto(d, a)
' & CLS=$!
  sleep 0.5
}

# The UDP payload: a DNS query for "a.test" A (id 0x1234, RD): the published ports are DNS's, and
# a capture of them decodes as DNS in tshark (docker-host.ts udpStep sends the same bytes).
DNSQ=123401000001000000000000016104746573740000010001
udp() { # ns sport dst dport
  ip netns exec ${P}$1 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', $2)); u.settimeout(1)
u.sendto(bytes.fromhex('$DNSQ'), ('$3', $4))
try:
  d, a = u.recvfrom(2000); print('udp $1 $2 $3 $4: reply from %s:%d' % a)
except Exception: print('udp $1 $2 $3 $4: no reply')"
}
tcp() { # ns sport dst dport
  ip netns exec ${P}$1 python3 -c "
import socket
s = socket.socket(); s.settimeout(1); s.bind(('0.0.0.0', $2))
try:
  s.connect(('$3', $4)); s.sendall(b'a' * 100); d = s.recv(1000); print('tcp $1 $2 $3 $4: %d bytes from %s:%d' % ((len(d),) + s.getpeername())); s.close()
except Exception: print('tcp $1 $2 $3 $4: failed')"
}
finish() {
  sleep 0.3
  echo "# conntrack -L"
  ip netns exec ${P}h conntrack -L 2>/dev/null | sort
  echo "# iptables-save -c"
  ip netns exec ${P}h iptables-save -c | grep -v '^#'
  kill $SRV $CLS 2>/dev/null; wait $SRV $CLS 2>/dev/null
}

{
  echo "## proxy"
  USERLAND=1; setup 1 1 0
  udp cl 40001 192.168.1.10 5353
  tcp cl 40002 192.168.1.10 8080
  udp c2 40000 192.168.1.20 7
  udp c3 40000 192.168.1.20 7
  finish
  echo "## hairpin"
  USERLAND=0; setup 0 1 0
  udp cl 40001 192.168.1.10 5353
  tcp cl 40002 192.168.1.10 8080
  udp c2 40000 192.168.1.20 7
  udp c3 40000 192.168.1.20 7
  tcp c3 40003 192.168.1.10 8080
  tcp c2 40004 192.168.1.10 8080
  udp c3 40005 172.17.0.1 5353
  finish
  echo "## noicc"
  USERLAND=1; setup 1 0 0
  udp c2 40006 172.17.0.3 9
  udp c2 40000 192.168.1.20 7
  finish
  echo "## net2"
  USERLAND=1; setup 1 1 1
  udp c2 40007 172.18.0.2 9
  udp c4 40008 172.17.0.2 53
  udp c4 40000 192.168.1.20 7
  finish
} > "$OUT"
echo "wrote $OUT" >&2
