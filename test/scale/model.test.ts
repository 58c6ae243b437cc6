/** The capacity model's answers for the target workload (docs/SCALE.md), so a change to it is a visible change to the note. */
import { describe, expect, it } from "vitest";
import { DESIGNS, d1StatementsPerCredential, evaluate, shardsFor, type Workload } from "../../scripts/capacity/model";

const target: Workload = { issuers: 100_000, credentials: 100_000_000, rate: 5_000, largest: 10_000_000, batch: 100 };

describe("capacity model", () => {
  // A credential's one D1 row is its compact index row, which stands for its operation too (no
  // `operations` row since migrations/0014): 596 bytes per credential (1,564 with the operation row,
  // which stayed in shard 0 whatever the shard count: 6.4 million; 2,495 with the body-free
  // credentials row: 4.0 million; 10,445 with bodies: 0.96 million before D1 bound).
  // A cold credential leaves 377 bytes in its object (cold row and compact status entry; job,
  // operation and audit in R2): one issuer's object binds at about 15.7 million (7.3 million with
  // the status entry in status_entries, 819 bytes; 2.2 million while the archive moved the claims only).
  it("today: D1's 10 GB binds first, at about 16.8 million credentials; one issuer's object at about 15.7 million", () => {
    const r = evaluate(DESIGNS.today, target);
    expect(r.binding.store).toBe("D1 (hottest shard)");
    expect(r.binding.what).toBe("size");
    expect(r.binding.bindsAt).toBe("16,778,523 credentials");
    const object = r.checks.find((c) => c.store.startsWith("Issuer object") && c.what.startsWith("size"))!;
    expect(object.bindsAt).toBe("15,718,833 credentials in one issuer");
    expect(object.use).toBeLessThan(0.8);
    // Spread over many issuers, D1 is the wall; one issuer alone meets its object's first.
    const many = evaluate(DESIGNS.today, { issuers: 1_000, credentials: 16_770_000, rate: 100, largest: 16_770, batch: 100 });
    expect(many.binding.store).toBe("D1 (hottest shard)");
    expect(many.binding.use).toBeGreaterThan(0.99);
    expect(many.binding.use).toBeLessThan(1);
  });

  it("today with index shards: every D1 byte of a credential shards, so 52 shards hold the target and the largest issuer's object binds", () => {
    const shards = shardsFor(DESIGNS.today, target)!;
    expect(shards).toBe(52);
    const r = evaluate({ ...DESIGNS.today, shards }, target);
    const d1 = r.checks.find((c) => c.store === "D1 (hottest shard)" && c.what === "size")!;
    expect(d1.use).toBeLessThan(0.7);
    expect(r.binding.store).toBe("Issuer object (largest)");
    expect(r.binding.bindsAt).toBe("15,718,833 credentials in one issuer");
  });

  // With a 4 GB hot budget the 10 M issuer's object is at 75% of its 10 GB and binds at about
  // 16.6 million (8.0 million with the status entry in status_entries).
  it("proposed: the target needs 63 shards at a 70% fill; the largest issuer's object binds first, at about 16.6 million (75%)", () => {
    const shards = shardsFor(DESIGNS.proposed, target)!;
    expect(shards).toBe(63);
    const r = evaluate({ ...DESIGNS.proposed, shards }, target);
    expect(r.binding.store).toBe("Issuer object (largest)");
    expect(r.binding.bindsAt).toBe("16,603,706 credentials in one issuer");
    for (const c of r.checks) {
      if (c.store === "Issuer object (largest)" && c.what.startsWith("size")) expect(c.use).toBeLessThan(0.8);
      else expect(c.use, `${c.store} ${c.what}`).toBeLessThan(0.7);
    }
  });

  it("one issuer cannot outgrow one shard: no shard count holds an issuer whose index alone is past the fill", () => {
    expect(shardsFor(DESIGNS.proposed, { ...target, largest: 20_000_000 })).toBeNull();
  });

  it("statements per credential follow the outbox's 250-row grouping", () => {
    expect(d1StatementsPerCredential(DESIGNS.today, 1)).toBe(1);
    expect(d1StatementsPerCredential(DESIGNS.today, 100)).toBe(0.01);
    expect(d1StatementsPerCredential(DESIGNS.today, 1000)).toBe(0.004);
  });

  it("one create per request: the largest issuer's object is the wall, past 100% busy", () => {
    const r = evaluate({ ...DESIGNS.proposed, shards: 11 }, { ...target, batch: 1 });
    expect(r.binding.store).toBe("Issuer object (largest)");
    expect(r.binding.use).toBeGreaterThan(1);
  });
});
