-- The half-life engagement weights were written under (store/notify-records.ts WeightScale), next to their shift: a
-- gateway started with another notify.half_life_days rebases them once instead of reading them under the new one.
-- NULL until a gateway records it: weights kept before were written under the half-life then configured.
ALTER TABLE notify_weight_shift ADD COLUMN half_life_ms REAL;
