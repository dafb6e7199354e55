// IPAM: address pools and addresses for local-scope (bridge) networks, as Docker's default IPAM
// driver hands them out (BEHAVIOR.md 1.1-1.4; moby daemon/libnetwork/ipamutils/utils.go,
// ipams/defaultipam/address_space.go and allocator.go):
//
// - Pools: the predefined list (172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/16 cut into
//   /20s) walked in order; a network without a subnet gets the first prefix that overlaps neither
//   an allocated pool nor a reserved prefix (the host's on-link subnets). A requested subnet must
//   not overlap an allocated pool ("Pool overlaps with other one on this address space").
// - Addresses: a pool reserves its network address and, for IPv4 larger than /31, its broadcast
//   address when created; the gateway is requested first (so it is .1); every other request takes
//   the lowest free address (bitmap.SetAny without serial), so a released address is the next one
//   given out. A requested address (`--ip`, `--gateway`) is taken if free, refused otherwise.
//
// Addresses are uint32 numbers. Errors are DockerError with Docker's words; the controller adds
// which network and container they are about. DockerError lives here, the lowest layer of the
// model, and cnm.ts re-exports it.

import { cidr, cidrBroadcast, cidrContains, cidrOverlaps, formatCidr, formatIpv4, parseCidr, type Cidr } from "../core/addr.js";

/** An error of the Docker model: a message naming the object and the reason. */
export class DockerError extends Error {
  override name = "DockerError";
}

/** `localScopeDefaultNetworks`: base prefix and the size each is cut into. */
export const LOCAL_DEFAULT_POOLS: readonly { base: string; size: number }[] = [
  { base: "172.17.0.0/16", size: 16 },
  { base: "172.18.0.0/16", size: 16 },
  { base: "172.19.0.0/16", size: 16 },
  { base: "172.20.0.0/14", size: 16 },
  { base: "172.24.0.0/14", size: 16 },
  { base: "172.28.0.0/14", size: 16 },
  { base: "192.168.0.0/16", size: 20 },
];

/** The predefined pools in the order they are tried. */
export function predefinedPools(defs: readonly { base: string; size: number }[] = LOCAL_DEFAULT_POOLS): Cidr[] {
  const out: Cidr[] = [];
  for (const d of defs) {
    const base = parseCidr(d.base);
    const step = 2 ** (32 - d.size);
    for (let k = 0; k < 2 ** (d.size - base.len); k++) out.push(cidr(base.network + k * step, d.size));
  }
  return out;
}

/** Parse a subnet as Docker takes it: a valid prefix written with its network address. */
export function parseSubnet(text: string): Cidr {
  let c: Cidr;
  try {
    c = parseCidr(text);
  } catch (e) {
    throw new DockerError(`invalid subnet ${text}: ${(e as Error).message}`);
  }
  if (!text.includes("/")) throw new DockerError(`invalid subnet ${text}: a subnet needs a prefix length (e.g. ${text}/24)`);
  if (c.addr !== c.network) throw new DockerError(`invalid subnet ${text}: it should be ${formatCidr(cidr(c.network, c.len))}`);
  return c;
}

/** The addresses of one pool: a set of allocated offsets and the lowest offset that may be free. */
export class AddressPool {
  private readonly used = new Set<number>();
  /** Every offset below it is allocated. */
  private lowest = 0;
  readonly size: number;

  constructor(readonly subnet: Cidr) {
    this.size = 2 ** (32 - subnet.len);
    // newPoolData: the network address, and the broadcast address of IPv4 pools larger than /31
    if (this.size > 2) {
      this.used.add(0);
      this.used.add(this.size - 1);
    }
  }

  /** The network address (reserved). */
  get network(): number {
    return this.subnet.network;
  }

  /** The broadcast address (reserved when the pool is larger than /31). */
  get broadcast(): number {
    return cidrBroadcast(this.subnet);
  }

  /** The lowest free address, now allocated. */
  requestAny(): number {
    let off = this.lowest;
    while (off < this.size && this.used.has(off)) off++;
    if (off >= this.size) throw new DockerError(`no available addresses on pool ${formatCidr(this.subnet)}`);
    this.used.add(off);
    this.lowest = off + 1;
    return (this.subnet.network + off) >>> 0;
  }

  /** Allocate `ip` itself: refused outside the pool or when taken (incl. network/broadcast). */
  request(ip: number): number {
    if (!cidrContains(this.subnet, ip)) throw new DockerError(`requested address ${formatIpv4(ip)} is out of range (${formatCidr(this.subnet)})`);
    const off = ip - this.subnet.network;
    if (this.used.has(off)) throw new DockerError(`${formatIpv4(ip)}: Address already in use`);
    this.used.add(off);
    return ip >>> 0;
  }

  /** Free `ip`; it is the next address requestAny gives if it is the lowest free one. */
  release(ip: number): void {
    const off = ip - this.subnet.network;
    if (!cidrContains(this.subnet, ip) || off === 0 || (this.size > 2 && off === this.size - 1)) throw new DockerError(`release of ${formatIpv4(ip)}: not an address of pool ${formatCidr(this.subnet)}`);
    if (!this.used.delete(off)) throw new DockerError(`release of ${formatIpv4(ip)}: address is not allocated in pool ${formatCidr(this.subnet)}`);
    if (off < this.lowest) this.lowest = off;
  }

  isAllocated(ip: number): boolean {
    return cidrContains(this.subnet, ip) && this.used.has(ip - this.subnet.network);
  }

  /** Allocated addresses (reserved ones included), ascending. */
  allocated(): number[] {
    return [...this.used].sort((a, b) => a - b).map((o) => (this.subnet.network + o) >>> 0);
  }
}

/** The local address space of one daemon: its pools. */
export class Ipam {
  private readonly allocated: AddressPool[] = [];
  private readonly predefined: Cidr[];
  private readonly reserved: Cidr[];

  /** `reserved`: prefixes a predefined pool must not overlap (InferReservedNetworks). */
  constructor(reserved: readonly Cidr[] = [], predefined: Cidr[] = predefinedPools()) {
    this.reserved = reserved.map((r) => cidr(r.network, r.len));
    this.predefined = predefined;
  }

  /** A pool for a network: `subnet` as asked, or the first free predefined prefix. */
  requestPool(subnet?: string): AddressPool {
    if (subnet !== undefined) {
      const c = parseSubnet(subnet);
      if (this.allocated.some((p) => cidrOverlaps(p.subnet, c))) throw new DockerError(`invalid pool request ${formatCidr(c)}: Pool overlaps with other one on this address space`);
      return this.add(c);
    }
    for (const c of this.predefined) {
      if (this.allocated.some((p) => cidrOverlaps(p.subnet, c))) continue;
      if (this.reserved.some((r) => cidrOverlaps(r, c))) continue;
      return this.add(c);
    }
    throw new DockerError("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
  }

  releasePool(pool: AddressPool): void {
    const i = this.allocated.indexOf(pool);
    if (i < 0) throw new DockerError(`release of pool ${formatCidr(pool.subnet)}: not allocated`);
    this.allocated.splice(i, 1);
  }

  /** Allocated pools, in allocation order. */
  pools(): readonly AddressPool[] {
    return this.allocated;
  }

  private add(c: Cidr): AddressPool {
    const p = new AddressPool(c);
    this.allocated.push(p);
    return p;
  }
}
