#!/usr/bin/python3
"""An independent encoder for wireyard's interop tests, built on scapy.

  scapy_frames.py build  IN.jsonl OUT.hex     one frame spec (a JSON list of layers) per input line
                                              -> the bytes scapy builds for it, hex, one per line
  scapy_frames.py write  IN.jsonl OUT.pcap OUT.jsonl
                                              -> scapy builds each frame, writes them with wrpcap,
                                                 re-dissects each and reports its layers as JSON

Layers use wireyard's JSON form: {"kind": "eth"|"arp"|"ipv4"|"icmp"|"udp"|"tcp"|"vxlan"|"raw", ...}
with MACs and IPv4 addresses as integers and options/raw payloads as hex strings. Lengths and
checksums are left to scapy (except a UDP checksum of 0 = "none", which is set explicitly).
"""
import json
import sys

from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, Raw, wrpcap, conf  # noqa: E402
from scapy.layers.inet import IPOption
from scapy.layers.vxlan import VXLAN

conf.verb = 0


def mac(n):
    return ":".join(f"{(n >> (8 * i)) & 255:02x}" for i in range(5, -1, -1))


def ip(n):
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


def mac_int(s):
    return int(s.replace(":", ""), 16)


def ip_int(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def split_ip_options(raw):
    out, i = [], 0
    while i < len(raw):
        k = raw[i]
        if k in (0, 1):
            out.append(IPOption(bytes([k])))
            i += 1
            if k == 0:
                if any(raw[i:]):
                    out.append(Raw(raw[i:]))  # never in valid specs
                break
            continue
        ln = raw[i + 1]
        out.append(IPOption(raw[i:i + ln]))
        i += ln
    return out


def tcp_options(raw):
    out, i = [], 0
    while i < len(raw):
        k = raw[i]
        if k == 0:
            out.append(("EOL", None))
            i += 1
            if any(raw[i:]):
                raise ValueError("bytes after EOL")
            return out, len(raw) - i
        if k == 1:
            out.append(("NOP", None))
            i += 1
            continue
        ln = raw[i + 1]
        body = raw[i + 2:i + ln]
        if k == 2:
            out.append(("MSS", int.from_bytes(body, "big")))
        elif k == 3:
            out.append(("WScale", body[0]))
        elif k == 4:
            out.append(("SAckOK", b""))
        elif k == 5:
            out.append(("SAck", tuple(int.from_bytes(body[j:j + 4], "big") for j in range(0, len(body), 4))))
        elif k == 8:
            out.append(("Timestamp", (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big"))))
        else:
            out.append((k, body))
        i += ln
    return out, 0


def icmp_layer(l):
    t, c = l["type"], l["code"]
    p = ICMP(type=t, code=c)
    if t in (0, 8):
        p.id, p.seq = l["ident"], l["seq"]
    elif t == 3:
        rest = (l["rest"] | l["mtu"]) if c == 4 else l["rest"]
        p.reserved, p.length, p.nexthopmtu = (rest >> 24) & 255, (rest >> 16) & 255, rest & 0xFFFF
    elif t == 11:
        rest = l["rest"]
        p.reserved, p.length, p.unused = (rest >> 24) & 255, (rest >> 16) & 255, rest & 0xFFFF
    else:
        raise ValueError(f"icmp type {t} not mapped")
    return p


def build(layers):
    pkt = None
    for l in layers:
        k = l["kind"]
        if k == "eth":
            if l["vlan"]:
                p = Ether(dst=mac(l["dst"]), src=mac(l["src"]), type=0x8100) / Dot1Q(prio=l["pcp"], id=l["dei"], vlan=l["vid"], type=l["ethertype"])
            else:
                p = Ether(dst=mac(l["dst"]), src=mac(l["src"]), type=l["ethertype"])
        elif k == "arp":
            p = ARP(op=l["operation"], hwsrc=mac(l["senderMac"]), psrc=ip(l["senderIp"]), hwdst=mac(l["targetMac"]), pdst=ip(l["targetIp"]))
        elif k == "ipv4":
            p = IP(tos=l["tos"], id=l["ident"], flags=(2 if l["df"] else 0) | (1 if l["mf"] else 0), frag=l["fragOffset"] // 8,
                   ttl=l["ttl"], proto=l["protocol"], src=ip(l["src"]), dst=ip(l["dst"]))
            if l["options"]:
                p.options = split_ip_options(bytes.fromhex(l["options"]))
        elif k == "icmp":
            p = icmp_layer(l)
        elif k == "udp":
            p = UDP(sport=l["srcPort"], dport=l["dstPort"])
            if l["noChecksum"]:
                p.chksum = 0
        elif k == "tcp":
            opts, _ = tcp_options(bytes.fromhex(l["options"]))
            p = TCP(sport=l["srcPort"], dport=l["dstPort"], seq=l["seq"], ack=l["ack"], flags=l["flags"] & 0x1FF,
                    window=l["window"], urgptr=l["urgent"], options=opts)
        elif k == "vxlan":
            p = VXLAN(flags=0x08, vni=l["vni"])
        elif k == "raw":
            p = Raw(load=bytes.fromhex(l["bytes"]))
        else:
            raise ValueError(f"unknown layer {k}")
        pkt = p if pkt is None else pkt / p
    return pkt


def report(pkt):
    """scapy's own dissection of a frame, in wireyard's JSON layer form."""
    out = []
    p = pkt
    while p is not None and not isinstance(p, type(None)) and p.__class__.__name__ != "NoPayload":
        n = p.__class__.__name__
        if n == "Ether":
            out.append({"kind": "eth", "dst": mac_int(p.dst), "src": mac_int(p.src), "ethertype": p.type, "vlan": False, "pcp": 0, "dei": 0, "vid": 0})
        elif n == "Dot1Q":
            out[-1].update({"vlan": True, "pcp": p.prio, "dei": p.id, "vid": p.vlan, "ethertype": p.type})
        elif n == "ARP":
            out.append({"kind": "arp", "operation": p.op, "senderMac": mac_int(p.hwsrc), "senderIp": ip_int(p.psrc), "targetMac": mac_int(p.hwdst), "targetIp": ip_int(p.pdst)})
        elif n in ("IP", "IPerror"):
            hl = p.ihl * 4
            out.append({"kind": "ipv4", "tos": p.tos, "ident": p.id, "df": bool(p.flags & 2), "mf": bool(p.flags & 1), "fragOffset": p.frag * 8,
                        "ttl": p.ttl, "protocol": p.proto, "src": ip_int(p.src), "dst": ip_int(p.dst), "options": bytes(p)[20:hl].hex(), "payloadLen": p.len - hl})
        elif n in ("ICMP", "ICMPerror"):
            out.append({"kind": "icmp", "type": p.type, "code": p.code, "rest4": bytes(p)[4:8].hex(), "payloadLen": len(bytes(p)) - 8})
        elif n in ("UDP", "UDPerror"):
            out.append({"kind": "udp", "srcPort": p.sport, "dstPort": p.dport, "payloadLen": p.len - 8, "noChecksum": p.chksum == 0})
        elif n in ("TCP", "TCPerror"):
            hl = p.dataofs * 4
            out.append({"kind": "tcp", "srcPort": p.sport, "dstPort": p.dport, "seq": p.seq, "ack": p.ack, "flags": int(p.flags) | (p.reserved << 9),
                        "window": p.window, "urgent": p.urgptr, "options": bytes(p)[20:hl].hex(), "payloadLen": len(bytes(p)) - hl})
        elif n == "VXLAN":
            out.append({"kind": "vxlan", "vni": p.vni})
        elif n in ("Raw", "Padding"):
            out.append({"kind": "raw", "bytes": bytes(p.load).hex()})
            break
        else:
            out.append({"kind": "other", "name": n})
            break
        p = p.payload
    return out


def main():
    mode = sys.argv[1]
    specs = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
    if mode == "build":
        with open(sys.argv[3], "w") as f:
            for s in specs:
                f.write(bytes(build(s)).hex() + "\n")
    elif mode == "write":
        pkts = [Ether(bytes(build(s))) for s in specs]
        for i, p in enumerate(pkts):
            p.time = 1_700_000_000 + i / 1000
        wrpcap(sys.argv[3], pkts)
        with open(sys.argv[4], "w") as f:
            for p in pkts:
                f.write(json.dumps(report(p)) + "\n")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
