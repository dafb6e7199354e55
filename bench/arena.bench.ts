// Packet arena: allocate and free a batch of slots (the cost every packet pays twice).
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { PacketArena, PacketBatch } from "../core/packet.js";

export async function arenaBench(): Promise<void> {
  const arena = new PacketArena({ slotCount: 4096 });
  const batch = new PacketBatch(256);
  const cycle = () => {
    for (let i = 0; i < 256; i++) batch.push(arena.alloc());
    batch.freeAll(arena);
  };
  await runSuite("packet arena", [{ name: "arena alloc+free", packets: 256, setup: () => cycle }]);
  reportAllocation("arena alloc+free batch of 256", await measureAllocation(cycle, 200_000));
}
