//! The `pam` method (spec/auth.md §8.6): one PAM transaction per login through libpam —
//! service from `pamservice` (default `pgpool`), user = startup user, a conversation that
//! answers the single echo-off prompt with the client's clear-text password (asked with
//! AuthenticationCleartextPassword), then pam_authenticate and pam_acct_mgmt. Every failure is
//! pgpool's FATAL "failed authentication against PAM" naming the failing step.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use crate::logger::Severity;
use crate::protocol::pgerror::{sqlstate, PgError};
use crate::protocol::Conn;

use super::super::error::{AuthContext, AuthError};
use super::super::frontend::password_text;

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_USER: c_int = 2;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_ERROR_MSG: c_int = 3;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[repr(C)]
struct PamHandle {
    _private: [u8; 0],
}

#[link(name = "pam")]
extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
    fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

/// What the conversation callback works with.
struct Conversation<'a, 'c> {
    client: &'a mut Conn,
    ctx: &'a AuthContext<'c>,
    /// Set when talking to the client failed (it left, or sent garbage).
    client_error: Option<AuthError>,
}

impl Conversation<'_, '_> {
    /// The client's password for the echo-off prompt (AuthenticationCleartextPassword, then
    /// the answer, with its own reader: no 1024-byte limit, spec/auth.md §14.1); `None` makes
    /// the conversation fail. Another message than a PasswordMessage, or an empty password,
    /// is logged and fails the conversation (pgpool's FATAL "pam_authenticate failed:
    /// Conversation error" follows); a client that left or sent garbage ends the login.
    fn password(&mut self) -> Option<String> {
        let answer = send_auth_cleartext(self.client).and_then(|()| {
            self.client
                .read_message(MAX_PAM_PASSWORD_PACKET, self.ctx.timeout)
                .map_err(AuthError::client)
        });
        let msg = match answer {
            Ok(m) => m,
            Err(e) => {
                self.client_error = Some(e);
                return None;
            }
        };
        if msg.tag != b'p' {
            crate::pglog!(
                Severity::Log,
                "unexpected password response received. expected 'p' received '{}'",
                msg.tag as char
            );
            return None;
        }
        match password_text(msg.body) {
            Ok(p) if p.is_empty() => {
                crate::pglog!(Severity::Log, "empty password returned by client");
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                self.client_error = Some(e);
                None
            }
        }
    }
}

/// Largest password packet the PAM conversation reads (pgpool's has no limit).
const MAX_PAM_PASSWORD_PACKET: usize = 64 * 1024;

fn send_auth_cleartext(client: &Conn) -> Result<(), AuthError> {
    let mut out = Vec::with_capacity(16);
    crate::protocol::messages::auth_cleartext(&mut out);
    client
        .write_all(&out)
        .map_err(|e| AuthError::client(crate::protocol::ProtocolError::Io(e)))
}

extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg != 1 || msg.is_null() || resp.is_null() || appdata.is_null() {
        crate::pglog!(Severity::Log, "unsupported PAM conversation");
        return PAM_CONV_ERR;
    }
    // SAFETY: libpam passes back the appdata pointer we gave pam_start, which points to a
    // Conversation that outlives the PAM transaction; `msg` holds `num_msg` (= 1) valid
    // message pointers for the duration of this call.
    let (conv, m) = unsafe { (&mut *(appdata as *mut Conversation), &**msg) };
    match m.msg_style {
        PAM_PROMPT_ECHO_OFF => {}
        PAM_ERROR_MSG => {
            let text = if m.msg.is_null() {
                String::new()
            } else {
                // SAFETY: a non-null PAM message text is a NUL-terminated string.
                unsafe { CStr::from_ptr(m.msg) }
                    .to_string_lossy()
                    .into_owned()
            };
            crate::pglog!(Severity::Log, detail = text; "PAM Error");
            return PAM_CONV_ERR;
        }
        _ => {
            crate::pglog!(Severity::Log, "unsupported PAM conversation");
            return PAM_CONV_ERR;
        }
    }
    let Some(password) = conv.password() else {
        return PAM_CONV_ERR;
    };
    let Ok(cpw) = CString::new(password) else {
        return PAM_CONV_ERR;
    };
    // SAFETY: libpam frees the response array and its strings with free(3), so both are
    // allocated with the C allocator; the sizes are those of one PamResponse.
    unsafe {
        let r = libc::calloc(1, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
        if r.is_null() {
            return PAM_BUF_ERR;
        }
        (*r).resp = libc::strdup(cpw.as_ptr());
        (*r).resp_retcode = 0;
        if (*r).resp.is_null() {
            libc::free(r as *mut c_void);
            return PAM_BUF_ERR;
        }
        *resp = r;
    }
    PAM_SUCCESS
}

fn strerror(h: *mut PamHandle, rc: c_int) -> String {
    // SAFETY: pam_strerror returns a static NUL-terminated string (never null in Linux-PAM).
    let p = unsafe { pam_strerror(h, rc) };
    if p.is_null() {
        return format!("PAM error {rc}");
    }
    // SAFETY: checked non-null above; the string is static.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The FATAL of every PAM failure; the caller logs it (once, as a FATAL).
fn failed(detail: String) -> AuthError {
    AuthError::Refused(
        PgError::fatal(
            sqlstate::INTERNAL_ERROR,
            "failed authentication against PAM",
        )
        .with_detail(detail),
    )
}

/// Authenticate the client through PAM service `service` (§8.6). Sends
/// AuthenticationCleartextPassword when PAM asks for the password.
pub fn pam_authenticate_client(
    client: &mut Conn,
    ctx: &AuthContext,
    service: &str,
) -> Result<(), AuthError> {
    let service_c = CString::new(service).map_err(|_| failed("invalid PAM service name".into()))?;
    let user_c = CString::new(ctx.user).map_err(|_| failed("invalid user name".into()))?;
    let mut conv_state = Conversation {
        client,
        ctx,
        client_error: None,
    };
    let conv = PamConv {
        conv: Some(conversation),
        appdata_ptr: &mut conv_state as *mut Conversation as *mut c_void,
    };
    let mut h: *mut PamHandle = std::ptr::null_mut();
    // SAFETY: the strings and `conv` live until pam_end below; `h` receives the handle.
    let rc = unsafe { pam_start(service_c.as_ptr(), std::ptr::null(), &conv, &mut h) };
    if rc != PAM_SUCCESS {
        return Err(failed(format!(
            "unable to create PAM authenticator: {}",
            strerror(h, rc)
        )));
    }
    let step = (|| {
        // SAFETY: `h` is the live handle from pam_start; PAM copies the user string.
        let rc = unsafe { pam_set_item(h, PAM_USER, user_c.as_ptr() as *const c_void) };
        if rc != PAM_SUCCESS {
            return Err((
                rc,
                format!("pam_set_item(PAM_USER) failed: {}", strerror(h, rc)),
            ));
        }
        // SAFETY: as above; the conversation callback runs inside this call.
        let rc = unsafe { pam_authenticate(h, 0) };
        if rc != PAM_SUCCESS {
            return Err((rc, format!("pam_authenticate failed: {}", strerror(h, rc))));
        }
        // SAFETY: as above.
        let rc = unsafe { pam_acct_mgmt(h, 0) };
        if rc != PAM_SUCCESS {
            return Err((
                rc,
                format!("system call pam_acct_mgmt failed : {}", strerror(h, rc)),
            ));
        }
        Ok(())
    })();
    let end_status = match &step {
        Ok(()) => PAM_SUCCESS,
        Err((rc, _)) => *rc,
    };
    // SAFETY: `h` is live and ended exactly once.
    let rc = unsafe { pam_end(h, end_status) };
    if let Some(e) = conv_state.client_error.take() {
        return Err(e);
    }
    step.map_err(|(_, d)| failed(d))?;
    if rc != PAM_SUCCESS {
        return Err(failed(format!(
            "unable to release PAM authenticator: {}",
            strerror(std::ptr::null_mut(), rc)
        )));
    }
    Ok(())
}
