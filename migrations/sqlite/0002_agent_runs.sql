-- Which pipeline answered (baseline | agents), and for agent runs what the run did:
-- the route, the path through the pipeline graph, candidates, patterns, each specialist's
-- opinions and tool calls, and the consensus vote (JSON).
ALTER TABLE analyses ADD COLUMN pipeline TEXT NOT NULL DEFAULT 'baseline';
ALTER TABLE analyses ADD COLUMN details TEXT;
