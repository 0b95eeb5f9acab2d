-- Version 3: a write that changes a row's JSON but not its revision gets a new one
-- here. A client of schema 1 still connected while another client migrated to 2
-- writes rows without `rev` (its upsert keeps the old one); clients of 2 would then
-- keep serving their cached copy of the old row. With this trigger no writer, old or
-- new, can change a row behind anyone's cache.
CREATE FUNCTION pod_registry_new_rev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."row" IS DISTINCT FROM OLD."row" AND NEW.rev = OLD.rev THEN
        NEW.rev := nextval('pod_registry_rev');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER pod_registry_new_rev BEFORE UPDATE ON pod_registry_allocations
    FOR EACH ROW EXECUTE FUNCTION pod_registry_new_rev();
