-- The Pourtrait schema and a Supabase-like skeleton, for the sandbox and tests.
-- Idempotent per database; roles are cluster-wide and created only when missing.

-- Supabase skeleton: roles ------------------------------------------------
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_admin') THEN
    CREATE ROLE supabase_admin LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT anon, authenticated, service_role TO authenticator;
  END IF;
END
$$;

-- Supabase skeleton: schemas ----------------------------------------------
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS storage;
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA public, extensions TO anon, authenticated, service_role;

-- auth.users with GoTrue's columns (supabase/auth migrations); ids and created_at default here for tests
-- that insert bare rows (GoTrue itself sets both).
CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid NOT NULL DEFAULT extensions.gen_random_uuid() CONSTRAINT users_pkey PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz,
  phone text UNIQUE DEFAULT NULL,
  phone_confirmed_at timestamptz,
  phone_change text DEFAULT '',
  phone_change_token varchar(255) DEFAULT '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
  email_change_token_current varchar(255) DEFAULT '',
  email_change_confirm_status smallint DEFAULT 0
    CHECK (email_change_confirm_status >= 0 AND email_change_confirm_status <= 2),
  banned_until timestamptz,
  reauthentication_token varchar(255) DEFAULT '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean NOT NULL DEFAULT false,
  deleted_at timestamptz,
  is_anonymous boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_partial_key ON auth.users (email) WHERE (is_sso_user = false);
CREATE INDEX IF NOT EXISTS users_instance_id_idx ON auth.users (instance_id);

CREATE TABLE IF NOT EXISTS storage.buckets (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS storage.objects (
  id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
  bucket_id text REFERENCES storage.buckets (id),
  name text NOT NULL,
  owner uuid,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Pourtrait ----------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.wines (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  producer text,
  vintage integer,
  region text,
  country text,
  varietal text,
  price_cents integer,
  rating numeric(3, 1),
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS wines_region_idx ON public.wines (region);
CREATE INDEX IF NOT EXISTS wines_varietal_idx ON public.wines (varietal);
CREATE INDEX IF NOT EXISTS wines_name_lower_idx ON public.wines (lower(name));

CREATE TABLE IF NOT EXISTS public.user_profiles (
  id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
  auth_user_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  email text NOT NULL UNIQUE,
  display_name text,
  preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.recommendations (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES public.user_profiles (id) ON DELETE CASCADE,
  wine_id bigint NOT NULL REFERENCES public.wines (id) ON DELETE CASCADE,
  score numeric(4, 3) NOT NULL,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS recommendations_user_id_idx ON public.recommendations (user_id);
CREATE INDEX IF NOT EXISTS recommendations_wine_id_idx ON public.recommendations (wine_id);

CREATE TABLE IF NOT EXISTS public.notifications (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES public.user_profiles (id) ON DELETE CASCADE,
  title text NOT NULL,
  body text,
  read boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notifications_user_read_idx ON public.notifications (user_id, read);
CREATE INDEX IF NOT EXISTS notifications_created_at_idx ON public.notifications (created_at);

-- Monitoring data the app writes, and the runbook's cleanup function.
CREATE TABLE IF NOT EXISTS public.performance_metrics (
  id bigserial PRIMARY KEY,
  metric_name text NOT NULL,
  value double precision NOT NULL,
  tags jsonb NOT NULL DEFAULT '{}'::jsonb,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS performance_metrics_recorded_at_idx ON public.performance_metrics (recorded_at);

CREATE TABLE IF NOT EXISTS public.error_logs (
  id bigserial PRIMARY KEY,
  level text NOT NULL DEFAULT 'error',
  message text NOT NULL,
  context jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS error_logs_created_at_idx ON public.error_logs (created_at);

CREATE OR REPLACE FUNCTION public.cleanup_monitoring_data()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public
AS $$
DECLARE
  removed bigint := 0;
  n bigint;
BEGIN
  DELETE FROM public.performance_metrics WHERE recorded_at < now() - interval '30 days';
  GET DIAGNOSTICS n = ROW_COUNT;
  removed := removed + n;
  DELETE FROM public.error_logs WHERE created_at < now() - interval '90 days';
  GET DIAGNOSTICS n = ROW_COUNT;
  removed := removed + n;
  RETURN removed;
END
$$;

-- Seed data (only into empty tables, so reseeding is harmless) --------------
INSERT INTO auth.users (instance_id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data,
                        raw_user_meta_data, created_at, updated_at, last_sign_in_at)
SELECT '00000000-0000-0000-0000-000000000000', 'authenticated', 'authenticated', 'user' || g || '@example.com',
       '$2a$10$' || md5('user' || g), now() - (g || ' days')::interval,
       '{"provider": "email", "providers": ["email"]}', '{}', now() - (g || ' days')::interval,
       now() - (g || ' days')::interval, now() - (g || ' hours')::interval
FROM generate_series(1, 50) AS g
WHERE NOT EXISTS (SELECT 1 FROM auth.users);

INSERT INTO public.user_profiles (auth_user_id, email, display_name, created_at)
SELECT u.id, u.email, split_part(u.email, '@', 1), u.created_at
FROM auth.users u
WHERE NOT EXISTS (SELECT 1 FROM public.user_profiles);

INSERT INTO public.wines (name, producer, vintage, region, country, varietal, price_cents, rating, description)
SELECT 'Wine ' || g,
       'Producer ' || (g % 37),
       1990 + (g % 33),
       (ARRAY['Bordeaux', 'Burgundy', 'Rioja', 'Napa', 'Barossa', 'Mosel', 'Piedmont'])[1 + g % 7],
       (ARRAY['France', 'France', 'Spain', 'USA', 'Australia', 'Germany', 'Italy'])[1 + g % 7],
       (ARRAY['Cabernet Sauvignon', 'Pinot Noir', 'Tempranillo', 'Riesling', 'Nebbiolo', 'Shiraz'])[1 + g % 6],
       1500 + (g * 37) % 20000,
       round(7 + (g % 30)::numeric / 10, 1),
       repeat('Notes of dark fruit and oak. ', 1 + g % 4)
FROM generate_series(1, 500) AS g
WHERE NOT EXISTS (SELECT 1 FROM public.wines);

INSERT INTO public.recommendations (user_id, wine_id, score, reason, created_at)
SELECT p.id, 1 + (g * 7) % 500, ((g % 1000)::numeric / 1000), 'similar to favourites',
       now() - ((g % 120) || ' days')::interval
FROM generate_series(1, 2000) AS g
JOIN LATERAL (SELECT id FROM public.user_profiles ORDER BY email OFFSET (g % 50) LIMIT 1) p ON true
WHERE NOT EXISTS (SELECT 1 FROM public.recommendations);

-- Notifications: some read and older than 90 days (the monthly job deletes those).
INSERT INTO public.notifications (user_id, title, body, read, created_at)
SELECT p.id, 'New pairing idea #' || g, 'Try it with dinner tonight.', (g % 3 <> 0),
       now() - ((g % 200) || ' days')::interval
FROM generate_series(1, 1200) AS g
JOIN LATERAL (SELECT id FROM public.user_profiles ORDER BY email OFFSET (g % 50) LIMIT 1) p ON true
WHERE NOT EXISTS (SELECT 1 FROM public.notifications);

INSERT INTO public.performance_metrics (metric_name, value, tags, recorded_at)
SELECT (ARRAY['api.latency_ms', 'db.query_ms', 'ai.latency_ms'])[1 + g % 3], (g % 900) + 0.5,
       jsonb_build_object('route', '/api/wines'), now() - ((g % 60) || ' days')::interval
FROM generate_series(1, 1500) AS g
WHERE NOT EXISTS (SELECT 1 FROM public.performance_metrics);

INSERT INTO public.error_logs (level, message, context, created_at)
SELECT 'error', 'Upstream timeout #' || g, jsonb_build_object('route', '/api/ai/chat'),
       now() - ((g % 150) || ' days')::interval
FROM generate_series(1, 300) AS g
WHERE NOT EXISTS (SELECT 1 FROM public.error_logs);

INSERT INTO storage.buckets (id, name, public)
VALUES ('wine-labels', 'wine-labels', true)
ON CONFLICT DO NOTHING;

ANALYZE;
