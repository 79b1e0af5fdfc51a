//! The one integration-test binary (style.md, "Tests"): every module below starts real PostgreSQL
//! servers through `support::cluster` and, where it tests pgpool behaviour, our daemon through
//! `support::daemon`. Tests that do not change the cluster's topology share
//! `support::cluster::shared_cluster()`; the others make their own `Cluster`.

mod support;

mod auth;
mod cli;
mod cluster_smoke;
mod commands;
mod daemon_smoke;
mod extended;
mod failover;
mod hba;
mod lifecycle;
mod logical;
mod pcp_server;
mod pcp_tools;
mod pipelines;
mod pooling;
mod protocol;
mod psycopg;
mod routing;
mod sr_check;
mod tls;
