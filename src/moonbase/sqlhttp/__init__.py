"""PlanetScale's HTTP SQL API (what the serverless driver ``@planetscale/database`` speaks),
served by Moonbase for MySQL branches: :mod:`.endpoints` (HTTP, authentication),
:mod:`.gateway` (sessions, MariaDB connections), :mod:`.wire` (Vitess's JSON shapes)."""
