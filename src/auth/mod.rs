//! Authentication: pool_passwd password forms and AES (`passwords`), SCRAM-SHA-256 on both
//! sides (`scram`), pgpool's own password checks of a client (`frontend`), the password
//! exchange of a new session with the client and every backend (`session_auth`), and
//! re-authentication of a client that reuses a pooled connection (`reauth`). Shared types are
//! in `error`. pool_hba.conf client authentication (enable_pool_hba = on) is `hba`; writing a
//! pool_passwd entry (pg_enc -m, pg_md5 -m) is `pool_passwd_file`.

pub mod error;
pub mod frontend;
pub mod hba;
pub mod passwords;
pub mod pool_passwd_file;
pub mod reauth;
pub mod scram;
pub mod session_auth;

pub use error::{AuthContext, AuthError, AuthKind, AuthOutcome};
pub use reauth::reauthenticate;
pub use session_auth::authenticate_new_session;

#[cfg(test)]
mod tests;
