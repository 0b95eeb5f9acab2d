-- Version 2: a revision per row, new (from one sequence, never reused) at every write
-- of the row's JSON. A client keeps the rows it decoded with their revisions and, in
-- each operation, re-reads only the rows whose revision it has not seen (ARCHITECTURE
-- §5 "Incremental"). Lease renewals do not change it: they touch no JSON.
CREATE SEQUENCE pod_registry_rev;
ALTER TABLE pod_registry_allocations
    ADD COLUMN rev bigint NOT NULL DEFAULT nextval('pod_registry_rev');
