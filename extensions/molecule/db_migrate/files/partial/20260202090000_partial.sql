-- pourtrait:no-transaction
-- Fails at statement 2 after statement 1 committed on its own (partial): the
-- ratings it cleared stay cleared unless the backup is restored.
UPDATE public.wines SET rating = NULL WHERE id <= 10;
CREATE INDEX CONCURRENTLY wines_rating_idx ON public.winez (rating);
