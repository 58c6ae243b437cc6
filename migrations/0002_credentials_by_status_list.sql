-- Which issuer owns a status list, for the operator's publication view of lists never signed yet
-- (the published status_lists row appears only with the first signed revision).
CREATE INDEX credentials_by_status_list ON credentials (status_list_id) WHERE status_list_id IS NOT NULL;
