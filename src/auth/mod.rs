//! PLACEHOLDER on main until the protocol branch lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Trust,
    ClearText,
    Md5,
    Scram,
}
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    pub kind: AuthKind,
    pub client_password: Option<String>,
}
