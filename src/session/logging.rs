//! What a session logs, and tells its client, besides its replies: `log_statement`,
//! `log_per_node_statement`, `notice_per_node_statement`, `log_client_messages`,
//! `log_backend_messages`, and `client_min_messages` (pgpool's own messages to the client, queued
//! by `logger::client` for the session engine to write). Taken from the child's settings when
//! the session starts, from the session's configuration after PGPOOL SET / RESET and reloads.

use super::backend_log::{self, BackendLog};
use super::client_log::{self, ClientLog};
use crate::child::settings::ChildSettings;
use crate::config::Config;
use crate::logger::Severity;

/// One session's logging.
#[derive(Debug)]
pub(crate) struct Logging {
    /// `log_statement`
    pub statement: bool,
    /// `log_per_node_statement`
    pub per_node: bool,
    /// `notice_per_node_statement`
    pub notice_per_node: bool,
    /// `log_client_messages`
    pub client: Option<ClientLog>,
    /// `log_backend_messages`
    pub backend: Option<BackendLog>,
}

impl Logging {
    /// A session starts: the child's settings apply, and pgpool's messages that pass
    /// `client_min_messages` are queued for its client until the session ends (drop).
    pub(crate) fn start(s: &ChildSettings) -> Logging {
        crate::logger::client::open(s.client_min_messages);
        Logging {
            statement: s.log_statement,
            per_node: s.log_per_node_statement,
            notice_per_node: s.notice_per_node_statement,
            client: ClientLog::when(s.log_client_messages),
            backend: BackendLog::when(&s.log_backend_messages),
        }
    }

    /// The session's configuration changed (PGPOOL SET / RESET, reload): follow it, keeping
    /// the message logs' state where they stay on.
    pub(crate) fn follow(&mut self, cfg: &Config) {
        self.statement = cfg.get_bool("log_statement");
        self.per_node = cfg.get_bool("log_per_node_statement");
        self.notice_per_node = cfg.get_bool("notice_per_node_statement");
        client_log::follow(&mut self.client, cfg.get_bool("log_client_messages"));
        backend_log::follow(&mut self.backend, cfg.get_enum("log_backend_messages"));
        crate::logger::client::open(client_min_messages(cfg));
    }

    /// What the reset at the session's end logs.
    pub(crate) fn statement_logging(&self) -> super::StatementLogging {
        super::StatementLogging {
            statement: self.statement,
            per_node: self.per_node,
        }
    }
}

impl Drop for Logging {
    fn drop(&mut self) {
        crate::logger::client::close();
    }
}

/// The `client_min_messages` of `cfg`.
pub(crate) fn client_min_messages(cfg: &Config) -> Severity {
    crate::logger::severity_from_name(cfg.get_enum("client_min_messages"))
        .unwrap_or(Severity::Notice)
}
