//! Failover, failback and promotion (spec/failover.md): `request` is the submitting side that
//! any process calls (health checks, children, the worker, PCP workers); `procedure` is the
//! main process popping the queue and carrying the requests out; `command` expands and runs
//! the operator's scripts; `follow` the follow-primary step; `lock` the follow-primary lock.

pub mod command;
pub mod follow;
pub mod lock;
pub mod procedure;
pub mod request;
