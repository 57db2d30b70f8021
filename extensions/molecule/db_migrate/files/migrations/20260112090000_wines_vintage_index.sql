-- pourtrait:no-transaction
-- CREATE INDEX CONCURRENTLY cannot run in a transaction: this file runs
-- statement by statement. The DROP first lets a re-run replace an INVALID
-- index left by a failed attempt.
DROP INDEX CONCURRENTLY IF EXISTS public.wines_vintage_idx;
CREATE INDEX CONCURRENTLY wines_vintage_idx ON public.wines (vintage);
