-- Fails at statement 3 (a typo in the table name): the file runs in one
-- transaction, so the table of statement 1 must not survive.
CREATE TABLE public.molecule_must_vanish (id integer PRIMARY KEY);
INSERT INTO public.molecule_must_vanish VALUES (1);
ALTER TABLE public.winez ADD COLUMN cellar text;
