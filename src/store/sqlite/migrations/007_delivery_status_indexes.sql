-- A delivery's status changes twice in its life (pending → sending → sent), and every index that has the status
-- in its key moves the row each time: deliveries_status (status, created_at) and deliveries_endpoint
-- (endpoint_id, status, created_at) cost four index writes per change, and their pages were a quarter of the WAL
-- a delivery writes. Now the status is only in the WHERE of small partial indexes, each holding the rows of one
-- status: a lease moves a row from pending to sending (three index writes), a success only drops it from sending.
DROP INDEX deliveries_status;
DROP INDEX deliveries_endpoint;
-- An endpoint's deliveries, newest first without a sort (listing; deleting the endpoint): written once.
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
-- An endpoint's pending deliveries in creation order: the claim's per-endpoint walk.
CREATE INDEX deliveries_endpoint_pending ON deliveries (endpoint_id, created_at) WHERE status = 'pending';
-- An endpoint's failed deliveries by creation time: the 5-day disable rule and `endpoints recover`.
CREATE INDEX deliveries_endpoint_failed ON deliveries (endpoint_id, created_at) WHERE status = 'failed';
-- Leases, for the reaper.
CREATE INDEX deliveries_sending ON deliveries (locked_until) WHERE status = 'sending';
