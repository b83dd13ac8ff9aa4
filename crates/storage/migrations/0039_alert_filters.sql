-- Which visitors a rule alerts on (issue 19: "a visitor on a chosen page or from a
-- campaign"): JSON `{"pageContains", "campaign"}`, applied to `visitor.connected` events.
-- NULL: every visitor.
ALTER TABLE alert_rules ADD COLUMN visitor_filter TEXT;
