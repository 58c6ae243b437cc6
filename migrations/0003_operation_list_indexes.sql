-- GET /v1/operations orders by (created_at, id) under any filter. Without an index starting with
-- the filter's equality columns followed by (created_at, id), a page read and sorted the whole
-- table (or every operation of the parent). test/list-query-plans.test.ts checks every list
-- query's plan.
CREATE INDEX operations_by_created ON operations (created_at, id);            -- no filter
CREATE INDEX operations_by_parent_created ON operations (parent, created_at, id); -- parent only
