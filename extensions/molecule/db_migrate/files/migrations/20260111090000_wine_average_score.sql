-- The average tasting score of a wine (NULL without notes). The body is
-- dollar-quoted: its semicolons do not end the statement.
CREATE OR REPLACE FUNCTION public.wine_average_score(p_wine_id bigint)
RETURNS numeric
LANGUAGE sql
STABLE
AS $$
  SELECT round(avg(score)::numeric, 1) FROM public.tasting_notes WHERE wine_id = p_wine_id;
$$;

ALTER TABLE public.wines ADD COLUMN IF NOT EXISTS tasting_note_count integer NOT NULL DEFAULT 0;
