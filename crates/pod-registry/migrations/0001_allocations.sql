-- Version 1 of the PostgreSQL registry (ARCHITECTURE §5 "PostgreSQL backend").
-- One row per allocation. `row` is the same JSON the file backend stores for an
-- allocation (scope rules, delegations, reservation); the columns beside it are what
-- only a shared database needs: who (machine, boot) holds it, the fencing token, and
-- the lease, all judged by this server's clock.
CREATE TABLE pod_registry_allocations (
    name              text PRIMARY KEY,
    row               jsonb NOT NULL,
    machine_id        text,
    boot_id           text,
    fence             bigint NOT NULL,
    lease_expires_at  timestamptz,
    -- Insertion order: conflict reports name the same row as the file backend.
    position          bigint NOT NULL
);
-- Fencing tokens: one sequence for the whole registry, so the token of every new
-- grant of a name is larger than any earlier grant's (monotonic per allocation name).
CREATE SEQUENCE pod_registry_fence;
