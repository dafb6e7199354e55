#!/usr/bin/env bash
# Measures the real Linux bridge that dataplane/devices/bridge.ts emulates, inside network
# namespaces this script creates (prefix wyk-br-) and removes on exit. Writes two fixtures:
#
#   dataplane/devices/fixtures/bridge-fdb-show.txt   `bridge fdb show` of a docker0 (02:42:e1:1f:3e:a7,
#       172.17.0.1/16) with two veths after two containers pinged, with IPv6 on in the host
#       namespace (the Linux default) and again with IPv6 off.
#   dataplane/devices/fixtures/bridge-kernel.txt     one line per step: the step, " => ", and what
#       the kernel did. bridge.test.ts replays every step on the emulated bridge and expects the
#       same result. Steps:
#         send FROM DST SRC      FROM (c1|c2|c3 = a container's eth0, h = docker0 itself) sends one
#                                60-byte frame (EtherType 0x88b5); result: "to <who received it>"
#                                ("-" for nobody; c1x2 = twice) "| fdb <bridge fdb lines for SRC>"
#         flags PORT k v ...     ip link set PORT type bridge_slave k v ...
#         fdbadd MAC PORT STATE  bridge fdb add MAC dev PORT master STATE
#         ageing CS              ip link set docker0 type bridge ageing_time CS (centiseconds)
#         down|up PORT, nomaster PORT, wait SECONDS, flush (ip link set docker0 type bridge fdb_flush)
#       A send takes 1.5 s (the frame leaves 1 s in, once the captures run); ageing/down/up 0.2 s:
#       the replay advances virtual time the same way, and the ageing steps leave >= 1 s margins.
#         dump                   the bridge's master entries (`bridge fdb show br docker0`, self
#                                lines left out), " ; "-separated
#
# Containers have IPv6 off so that they send nothing but the frames injected here.
# Usage: sudo scripts/kernel-bridge.sh   (needs iproute2, tcpdump, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
P=wyk-br-
OUT=dataplane/devices/fixtures
H="ip netns exec ${P}h"
TMP=$(mktemp -d /tmp/wyk-br-XXXX)
del_ns() { for n in h c1 c2 c3 v6; do ip netns del "${P}$n" 2>/dev/null || true; done; }
trap 'del_ns; rm -rf "$TMP"' EXIT
del_ns

cat > "$TMP/send.py" <<'EOF'
import socket, sys
ifname, dst, src = sys.argv[1], sys.argv[2], sys.argv[3]
m = lambda s: bytes.fromhex(s.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
s.send(m(dst) + m(src) + bytes.fromhex("88b5") + b"wireyard".ljust(46, b"."))
EOF

# bridge NS: docker0 with a fixed MAC in namespace NS.
bridge_in() {
  ip -n "$1" link set lo up
  ip -n "$1" link add docker0 type bridge
  ip -n "$1" link set docker0 address 02:42:e1:1f:3e:a7
  ip -n "$1" addr add 172.17.0.1/16 dev docker0
  ip -n "$1" link set docker0 up
}
# container N I: namespace ${P}cN, eth0 = 02:42:ac:11:00:0I / 172.17.0.I, host end vethcN (ae:de:3b:f2:58:1I) in NS $3.
container() {
  local n=$1 i=$2 ns=$3
  ip netns add "${P}c$n"
  ip netns exec "${P}c$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "${P}c$n" link set lo up
  ip -n "$ns" link add "vethc$n" type veth peer name eth0 netns "${P}c$n"
  ip -n "$ns" link set "vethc$n" address "ae:de:3b:f2:58:1$i"
  ip -n "${P}c$n" link set eth0 address "02:42:ac:11:00:0$i"
  ip -n "${P}c$n" addr add "172.17.0.$i/16" dev eth0
  ip -n "${P}c$n" link set eth0 up
  ip -n "$ns" link set "vethc$n" master docker0
  ip -n "$ns" link set "vethc$n" up
}

# ---- fixture 1: bridge fdb show -----------------------------------------------------------
ip netns add "${P}h"
bridge_in "${P}h"
container 1 2 "${P}h"
container 2 3 "${P}h"
sleep 2 # IPv6 DAD on docker0 and the host ends (their multicast lists settle)
ip netns exec "${P}c1" ping -c1 -W1 172.17.0.3 >/dev/null
ip netns exec "${P}c1" ping -c1 -W1 172.17.0.1 >/dev/null
# Forget the neighbours, or their unicast probes 5 s later would teach the bridge c1 and c2 again.
for n in h c1 c2; do ip -n "${P}$n" neigh flush all; done
{
  echo "# bridge fdb show: docker0 + vethc1 (c1 02:42:ac:11:00:02) + vethc2 (c2 02:42:ac:11:00:03), IPv6 on; Linux $(uname -r), $(ip -V)"
  $H bridge fdb show
  ip netns add "${P}v6"
  ip netns exec "${P}v6" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  bridge_in "${P}v6"
  echo "# the same bridge alone in a namespace with IPv6 off"
  ip netns exec "${P}v6" bridge fdb show
} > "$OUT/bridge-fdb-show.txt"
container 3 4 "${P}h"
sleep 1

# ---- fixture 2: behaviour, step by step ---------------------------------------------------
count() { tcpdump -r "$1" -n 2>/dev/null | grep -c '^[0-9]' || true; }
fdb_of() { $H bridge fdb show br docker0 | grep -v ' self ' | grep -i "^$1 " | sed 's/ *$//' | paste -sd';' | sed 's/;/ ; /g'; }
send() {
  local from=$1 dst=$2 src=$3 pids=() n got=""
  for n in c1 c2 c3; do ip netns exec "${P}$n" tcpdump --immediate-mode -Z root -p -U -n -i eth0 -w "$TMP/$n.pcap" ether src "$src" and ether proto 0x88b5 2>/dev/null & pids+=($!); done
  $H tcpdump --immediate-mode -Z root -p -U -n -i docker0 -w "$TMP/br.pcap" ether src "$src" and ether proto 0x88b5 2>/dev/null & pids+=($!)
  sleep 1
  if [ "$from" = h ]; then $H python3 "$TMP/send.py" docker0 "$dst" "$src"; else ip netns exec "${P}$from" python3 "$TMP/send.py" eth0 "$dst" "$src"; fi
  sleep 0.5
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  for n in c1 c2 c3 br; do
    local c; c=$(count "$TMP/$n.pcap")
    { [ "$n" = "$from" ] || { [ "$n" = br ] && [ "$from" = h ]; }; } && c=$((c - 1)) # the sender sees its own frame
    if [ "$c" -eq 1 ]; then got="$got $n"; elif [ "$c" -gt 1 ]; then got="$got ${n}x$c"; fi
  done
  echo "to${got:- -} | fdb $(fdb_of "$src")"
}
step() {
  local r="" what="$*"
  case $1 in
    send) r=$(send "$2" "$3" "$4") ;;
    flags) local p=$2; shift 2; $H ip link set dev "$p" type bridge_slave "$@" ;;
    fdbadd) $H bridge fdb add "$2" dev "$3" master "$4" ;;
    ageing) $H ip link set docker0 type bridge ageing_time "$2"; sleep 0.2 ;;
    down|up) $H ip link set "$2" "$1"; sleep 0.2 ;;
    nomaster) $H ip link set "$2" nomaster ;;
    wait) sleep "$2" ;;
    flush) $H ip link set docker0 type bridge fdb_flush ;;
    dump) r=$($H bridge fdb show br docker0 | grep -v ' self ' | sed 's/ *$//' | paste -sd';' | sed 's/;/ ; /g') ;;
  esac
  echo "$what => $r"
}
{
echo "# Linux bridge behaviour, measured by scripts/kernel-bridge.sh on Linux $(uname -r): step => result"
echo "# ports: docker0 (bridge, 02:42:e1:1f:3e:a7), vethc1/c1 (ae:de:3b:f2:58:12), vethc2/c2 (ae:de:3b:f2:58:13), vethc3/c3 (ae:de:3b:f2:58:14)"
step flush
step dump
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:10
step send c2 02:42:ac:11:00:10 02:42:ac:11:00:11
step send c1 02:42:ac:11:00:ee 02:42:ac:11:00:12
step send c1 01:00:5e:01:02:03 02:42:ac:11:00:13
step send c1 33:33:00:00:00:01 02:42:ac:11:00:1a
step send c1 02:42:e1:1f:3e:a7 02:42:ac:11:00:14
step send c1 ae:de:3b:f2:58:13 02:42:ac:11:00:15
step send c1 02:42:ac:11:00:10 02:42:ac:11:00:16
step send c1 ff:ff:ff:ff:ff:ff 03:00:00:00:00:17
step send c1 ff:ff:ff:ff:ff:ff 00:00:00:00:00:00
step send c1 02:42:ac:11:00:11 02:42:e1:1f:3e:a7
step send c1 ff:ff:ff:ff:ff:ff ae:de:3b:f2:58:13
step send c1 01:80:c2:00:00:00 02:42:ac:11:00:20
step send c1 01:80:c2:00:00:01 02:42:ac:11:00:21
step send c1 01:80:c2:00:00:02 02:42:ac:11:00:22
step send c1 01:80:c2:00:00:0e 02:42:ac:11:00:23
step send c1 01:80:c2:00:00:0f 02:42:ac:11:00:24
step send c1 01:80:c2:00:00:10 02:42:ac:11:00:25
step send c2 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:10
step send c3 02:42:ac:11:00:10 02:42:ac:11:00:26
step fdbadd 02:42:ac:11:00:30 vethc1 static
step fdbadd 02:42:ac:11:00:31 vethc1 permanent
step fdbadd 02:42:ac:11:00:32 vethc1 dynamic
step send c3 02:42:ac:11:00:30 02:42:ac:11:00:27
step send c2 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:30
step send c2 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:31
step send c3 02:42:ac:11:00:31 02:42:ac:11:00:33
step send c3 02:42:ac:11:00:32 02:42:ac:11:00:34
step flags vethc2 flood off mcast_flood off bcast_flood off
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:40
step send c1 01:00:5e:01:02:03 02:42:ac:11:00:41
step send c1 02:42:ac:11:00:ee 02:42:ac:11:00:42
step send c1 02:42:ac:11:00:10 02:42:ac:11:00:43
step send h ff:ff:ff:ff:ff:ff 02:42:e1:1f:3e:a7
step send h 01:00:5e:01:02:03 02:42:ac:11:00:44
step send h 02:42:ac:11:00:ee 02:42:ac:11:00:45
step send h 02:42:ac:11:00:10 02:42:ac:11:00:46
step send h 02:42:e1:1f:3e:a7 02:42:ac:11:00:47
step send h ae:de:3b:f2:58:13 02:42:ac:11:00:48
step send h 01:80:c2:00:00:02 02:42:ac:11:00:49
step flags vethc2 flood on mcast_flood on bcast_flood on
step flags vethc1 hairpin on
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:50
step send c1 02:42:ac:11:00:50 02:42:ac:11:00:51
step send c1 02:42:ac:11:00:ee 02:42:ac:11:00:52
step flags vethc1 hairpin off learning off
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:53
step send c1 01:80:c2:00:00:0e 02:42:ac:11:00:54
step flags vethc1 learning on
step down vethc3
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:55
step send c1 02:42:ac:11:00:26 02:42:ac:11:00:56
step up vethc3
step down vethc1
step dump
step up vethc1
step ageing 1000
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:60
step wait 3
step send c2 02:42:ac:11:00:60 02:42:ac:11:00:61
step wait 5
step send c2 02:42:ac:11:00:60 02:42:ac:11:00:62
step send c3 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:63
step ageing 0
step dump
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:64
step send c2 02:42:ac:11:00:64 02:42:ac:11:00:65
step ageing 30000
step nomaster vethc3
step dump
step send c1 ff:ff:ff:ff:ff:ff 02:42:ac:11:00:70
} > "$OUT/bridge-kernel.txt"
echo "wrote $OUT/bridge-fdb-show.txt and $OUT/bridge-kernel.txt"
