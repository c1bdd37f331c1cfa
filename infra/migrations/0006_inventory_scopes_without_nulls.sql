-- The inventory contract refuses a NULL inside `scopes` at write time: a sync job that writes
-- one gets an error naming this constraint instead of a drift run refusing the row later.
--
-- NOT VALID: rows already in the table are not checked here (a migration that failed on old
-- data would stop every function from starting); the drift run refuses such a row by name,
-- and the next full refresh of the inventory replaces it.
ALTER TABLE oauth_grant_inventory
    ADD CONSTRAINT oauth_grant_inventory_scopes_no_null
    CHECK (array_position(scopes, NULL) IS NULL) NOT VALID;

COMMENT ON COLUMN oauth_grant_inventory.scopes IS
    'As the provider reports them; normalised (trimmed, split, deduplicated, ordered) on read. No NULL element; an empty array means the grant holds no scopes.';
