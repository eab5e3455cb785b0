-- One database per service: no service reads another's (DESIGN.md §3).
-- Run by the postgres image only when its data volume is empty (the first start).
CREATE DATABASE gateway;
CREATE DATABASE contacts;
CREATE DATABASE deals;
CREATE DATABASE billing;
CREATE DATABASE notifications;
CREATE DATABASE analytics;
