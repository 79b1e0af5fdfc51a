//! Failover, failback and promotion (spec/failover.md): `request` is the submitting side that
//! any process calls (health checks, children, the worker, PCP workers); the main process pops
//! the queue and carries the requests out.

pub mod request;
