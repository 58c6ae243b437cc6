import { describe, expect, it } from "vitest";
import { checkPolicy, PolicySchema, schemaIdsOf, subjectsOf } from "../../signer/src/policy.js";

describe("signer policy", () => {
  const jwtVc = {
    sub: "did:example:alice",
    vc: {
      credentialSubject: { id: "did:example:alice" },
      credentialSchema: [{ id: "s1" }, { id: "s2" }],
    },
  };
  const vcJwt = {
    credentialSubject: [{ id: "did:example:a" }, { id: "did:example:b" }],
    credentialSchema: { id: "s1" },
  };

  it("finds subjects and schema ids in jwt_vc and vc+jwt payloads", () => {
    expect(subjectsOf(jwtVc)).toEqual(["did:example:alice", "did:example:alice"]);
    expect(schemaIdsOf(jwtVc)).toEqual(["s1", "s2"]);
    expect(subjectsOf(vcJwt)).toEqual(["did:example:a", "did:example:b"]);
    expect(schemaIdsOf(vcJwt)).toEqual(["s1"]);
  });

  it("allows only listed kinds, subjects and schemas; every one must be listed", () => {
    expect(checkPolicy({}, "credential", jwtVc)).toBeUndefined();
    expect(checkPolicy({ schemaIds: ["s1"] }, "credential", jwtVc)).toMatch(/schema "s2"/);
    expect(checkPolicy({ schemaIds: ["s1", "s2"] }, "credential", jwtVc)).toBeUndefined();
    expect(checkPolicy({ subjects: ["did:example:a"] }, "credential", vcJwt)).toMatch(/did:example:b/);
    expect(checkPolicy({ schemaIds: ["s1"] }, "credential", { sub: "x" })).toMatch(/no credentialSchema/);
    expect(checkPolicy({ kinds: ["credential"] }, "status-list", {})).toMatch(/kind "status-list"/);
    // Subject/schema rules do not apply to status lists, or revocation would stop.
    expect(checkPolicy({ subjects: ["did:example:a"] }, "status-list", {})).toBeUndefined();
  });

  it("counts every subject: sub and each credentialSubject id; one without an id never passes", () => {
    const policy = { subjects: ["did:example:alice"] };
    const smuggled = {
      sub: "did:example:alice",
      vc: { credentialSubject: { id: "did:example:bob" } },
    };
    expect(subjectsOf(smuggled)).toEqual(["did:example:alice", "did:example:bob"]);
    expect(checkPolicy(policy, "credential", smuggled)).toMatch(/did:example:bob/);
    const idless = {
      sub: "did:example:alice",
      vc: { credentialSubject: [{ id: "did:example:alice" }, { name: "Bob" }] },
    };
    expect(checkPolicy(policy, "credential", idless)).toMatch(/subject "" not allowed/);
    expect(checkPolicy({ schemaIds: ["s1"] }, "credential", { credentialSchema: [{ id: "s1" }, {}] })).toMatch(/schema "" not allowed/);
  });

  it("refuses unknown policy keys, so a typo does not open the door", () => {
    expect(PolicySchema.safeParse({ subject: ["x"] }).success).toBe(false);
  });
});
