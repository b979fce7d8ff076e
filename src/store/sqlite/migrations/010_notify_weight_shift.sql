-- The shift engagement weights are stored on (store/notify-records.ts): weights are 2^((t − epoch)/half-life − shift),
-- and a rebase multiplies every weight by a power of two and moves the shift with them, before they overflow.
CREATE TABLE notify_weight_shift (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  shift INTEGER NOT NULL
);
INSERT INTO notify_weight_shift (id, shift) VALUES (1, 0);
-- Weights that overflowed to Infinity before there was a shift hold no count any more: they start again from 0.
UPDATE notify_engagement SET shown_w = CASE WHEN shown_w >= 9e999 THEN 0 ELSE shown_w END, clicked_w = CASE WHEN clicked_w >= 9e999 THEN 0 ELSE clicked_w END
  WHERE shown_w >= 9e999 OR clicked_w >= 9e999;
UPDATE notify_type_stats SET shown_w = CASE WHEN shown_w >= 9e999 THEN 0 ELSE shown_w END, clicked_w = CASE WHEN clicked_w >= 9e999 THEN 0 ELSE clicked_w END
  WHERE shown_w >= 9e999 OR clicked_w >= 9e999;
