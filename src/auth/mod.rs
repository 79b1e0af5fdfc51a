//! Authentication: pool_passwd password forms and AES (`passwords`), SCRAM-SHA-256 on both
//! sides (`scram`), the password exchange of a new session with the client and every backend
//! (`session_auth`), and re-authentication of a client that reuses a pooled connection
//! (`reauth`). pool_hba.conf matching (enable_pool_hba = on) is not here yet.

pub mod passwords;
pub mod scram;
