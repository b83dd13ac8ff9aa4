-- Issue 18: an assistant chooses which of its widget's knowledge sources and which of the
-- tenant's integrations it uses (a JSON list of ids; NULL: all of them), and the AI provider
-- has its own answer timeout (seconds; the first answers used a fixed 20).
ALTER TABLE assistants ADD COLUMN source_ids TEXT;
ALTER TABLE assistants ADD COLUMN integration_ids TEXT;
ALTER TABLE ai_providers ADD COLUMN timeout_secs BIGINT NOT NULL DEFAULT 20;
