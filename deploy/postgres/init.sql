-- Run once by the postgres image on an empty volume: one database per service.
-- Written from services/*/ by `python -m sanicms services --write` (do not edit by hand).
CREATE DATABASE "city";
CREATE DATABASE "role";
CREATE DATABASE "user";
