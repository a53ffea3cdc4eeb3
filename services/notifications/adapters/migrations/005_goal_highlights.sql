-- The program team's digest also tells of goals reached (successes to celebrate).
ALTER TABLE digest_items DROP CONSTRAINT IF EXISTS digest_items_kind_check;
ALTER TABLE digest_items
    ADD CONSTRAINT digest_items_kind_check CHECK (kind IN ('goal_achieved', 'unmatched', 'unschedulable', 'dead_letter'));
