// Property: under any sequence of allocations and frees (including double frees and bad
// indices), the arena never loses or duplicates a slot, and agrees with a trivially correct
// reference model (a Set of owned slots).
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { PacketArena } from "../core/packet.js";

const op = fc.oneof(
  fc.constant({ kind: "alloc" as const, pick: 0 }),
  fc.record({ kind: fc.constant("free" as const), pick: fc.integer({ min: -2, max: 70 }) }),
  fc.record({ kind: fc.constant("freeOwned" as const), pick: fc.nat() }),
);

test.prop([fc.integer({ min: 1, max: 64 }), fc.array(op, { maxLength: 400 })], { numRuns: 500 })(
  "no slot lost or duplicated",
  (slotCount, ops) => {
    const a = new PacketArena({ slotCount, slotSize: 64, headroom: 0 });
    const owned = new Set<number>();
    let failures = 0;
    let rejected = 0;
    for (const o of ops) {
      if (o.kind === "alloc") {
        const s = a.alloc();
        if (owned.size === slotCount) {
          expect(s).toBe(-1);
          failures++;
        } else {
          expect(s).toBeGreaterThanOrEqual(0);
          expect(owned.has(s)).toBe(false); // never handed out twice
          owned.add(s);
        }
      } else {
        const s = o.kind === "freeOwned" && owned.size > 0 ? [...owned][o.pick % owned.size]! : o.pick;
        const ok = a.free(s);
        expect(ok).toBe(owned.has(s));
        if (ok) owned.delete(s);
        else rejected++;
      }
      expect(a.inUse).toBe(owned.size);
    }
    expect(a.audit()).toEqual([]);
    const st = a.stats();
    expect(st.allocFailures).toBe(failures);
    expect(st.doubleFrees + st.badFrees).toBe(rejected);
    // Drain: every slot comes back exactly once.
    for (const s of owned) expect(a.free(s)).toBe(true);
    const all = new Set<number>();
    for (let i = 0; i < slotCount; i++) all.add(a.alloc());
    expect(all.size).toBe(slotCount);
    expect(a.alloc()).toBe(-1);
  },
);
