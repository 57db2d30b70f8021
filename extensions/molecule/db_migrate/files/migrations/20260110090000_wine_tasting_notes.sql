-- Tasting notes: what a user wrote about a wine, with a 0-100 score.
CREATE TABLE public.tasting_notes (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES public.user_profiles (id) ON DELETE CASCADE,
  wine_id bigint NOT NULL REFERENCES public.wines (id) ON DELETE CASCADE,
  score smallint CHECK (score BETWEEN 0 AND 100),
  note text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasting_notes_wine_id_idx ON public.tasting_notes (wine_id);

COMMENT ON TABLE public.tasting_notes IS 'A user''s tasting note on a wine; score 0-100';
