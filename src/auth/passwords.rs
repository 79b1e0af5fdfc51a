//! Password material: the forms a pool_passwd value takes (plain, `TEXT…`, `md5…`, `AES…`,
//! `SCRAM-SHA-256$…`; spec/auth.md §7.3), decrypting `AES…` values with the pool key
//! (AES-256-CBC, key/IV from OpenSSL's EVP_BytesToKey with SHA-1; spec/config.md §7.3),
//! reading the pool key file, and the md5 arithmetic of the PostgreSQL protocol (§14.2).
//! Looking a user up in the pool_passwd file belongs to `config`; protocol exchanges to
//! `session_auth`/`reauth`.

use std::path::Path;

use base64::Engine as _;
use md5::{Digest as _, Md5};

use crate::logger::Severity;

/// A pool_passwd value, typed by its prefix (spec/auth.md §7.3).
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    /// Clear text (also `TEXT…` with the prefix removed, and `md5…` of a length other than 35).
    Plain(String),
    /// `md5` + 32 characters: `"md5" + md5hex(password ‖ user)`. Holds the whole value.
    Md5(String),
    /// `AES` + base64 of the encrypted password. Holds the base64 part.
    Aes(String),
    /// A SCRAM verifier: accepted in the file, unusable for any exchange (as in pgpool 4.6).
    Scram(String),
}

impl std::fmt::Debug for StoredPassword {
    // Never print secrets into logs or test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredPassword::Plain(_) => "Plain(..)",
            StoredPassword::Md5(_) => "Md5(..)",
            StoredPassword::Aes(_) => "Aes(..)",
            StoredPassword::Scram(_) => "Scram(..)",
        })
    }
}

impl StoredPassword {
    /// Type a stored value by its prefix.
    pub fn parse(stored: &str) -> StoredPassword {
        if stored.starts_with("md5") && stored.len() == 35 {
            StoredPassword::Md5(stored.to_string())
        } else if let Some(b64) = stored.strip_prefix("AES") {
            StoredPassword::Aes(b64.to_string())
        } else if stored.starts_with("SCRAM-SHA-256$") {
            StoredPassword::Scram(stored.to_string())
        } else if let Some(p) = stored.strip_prefix("TEXT") {
            StoredPassword::Plain(p.to_string())
        } else {
            StoredPassword::Plain(stored.to_string())
        }
    }

    /// Resolve `AES` with the pool key: plain stays plain, AES becomes plain (or an error),
    /// md5 and SCRAM stay as they are. A value that is not base64 or does not decrypt is
    /// logged as pgpool does (WARNING "base64 decoding failed" / "decryption failed",
    /// spec/auth.md §7.4) before the caller reports its own error; a missing key is not.
    pub fn decrypted(&self, pool_key: Option<&str>) -> Result<StoredPassword, AesError> {
        match self {
            StoredPassword::Aes(b64) => {
                let key = pool_key.ok_or(AesError::NoKey)?;
                aes_decrypt(b64, key)
                    .map(StoredPassword::Plain)
                    .inspect_err(|e| {
                        crate::pglog!(Severity::Warning, "{}", e);
                    })
            }
            other => Ok(other.clone()),
        }
    }

    /// The `"md5" + md5hex(password ‖ user)` form, when this value can give one (plain or md5;
    /// AES must be decrypted first).
    pub fn md5_form(&self, user: &str) -> Option<String> {
        match self {
            StoredPassword::Plain(p) => Some(md5_password_hash(p, user)),
            StoredPassword::Md5(m) => Some(m.clone()),
            _ => None,
        }
    }
}

/// Why an `AES…` value could not be decrypted (spec/auth.md §7.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AesError {
    #[error("no pool key available")]
    NoKey,
    #[error("base64 decoding failed")]
    Base64,
    #[error("decryption failed")]
    Decrypt,
}

/// 32 lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `md5hex(x)`: 32 lowercase hex digits of MD5(x).
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// The stored md5 form `"md5" + md5hex(password ‖ user)`.
pub fn md5_password_hash(password: &str, user: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(user.as_bytes());
    format!("md5{}", hex(&h.finalize()))
}

/// The answer to an md5 challenge: `"md5" + md5hex(H ‖ salt)` where `md5_form` is the stored
/// form `"md5" + H` (the `md5` prefix is skipped).
pub fn md5_salted(md5_form: &str, salt: [u8; 4]) -> String {
    let h = md5_form.strip_prefix("md5").unwrap_or(md5_form);
    let mut d = Md5::new();
    d.update(h.as_bytes());
    d.update(salt);
    format!("md5{}", hex(&d.finalize()))
}

/// Compare two secrets without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// OpenSSL `EVP_BytesToKey(aes-256-cbc, sha1, no salt, 1 round, key)`: 32-byte key, 16-byte IV.
fn evp_bytes_to_key(pass: &[u8]) -> ([u8; 32], [u8; 16]) {
    use sha1::{Digest, Sha1};
    let mut material = Vec::with_capacity(60);
    let mut prev: Vec<u8> = Vec::new();
    while material.len() < 48 {
        let mut h = Sha1::new();
        h.update(&prev);
        h.update(pass);
        prev = h.finalize().to_vec();
        material.extend_from_slice(&prev);
    }
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&material[..32]);
    iv.copy_from_slice(&material[32..48]);
    (key, iv)
}

/// Decrypt the base64 part of an `AES…` value with the pool key (spec/config.md §7.3).
pub fn aes_decrypt(b64: &str, pool_key: &str) -> Result<String, AesError> {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
    let ct = base64::engine::general_purpose::STANDARD
        .decode(b64.trim_end())
        .map_err(|_| AesError::Base64)?;
    let (key, iv) = evp_bytes_to_key(pool_key.as_bytes());
    let pt = cbc::Decryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(&ct)
        .map_err(|_| AesError::Decrypt)?;
    String::from_utf8(pt).map_err(|_| AesError::Decrypt)
}

/// Encrypt a password as `pg_enc` does; returns the base64 text (without the `AES` prefix).
pub fn aes_encrypt(password: &str, pool_key: &str) -> String {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
    let (key, iv) = evp_bytes_to_key(pool_key.as_bytes());
    let ct = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec::<Pkcs7>(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ct)
}

/// Read the pool key file (spec/auth.md §7.4): the first line, without its newline, at most
/// 255 characters. A missing file gives `None` silently; a non-regular file gives `None` with
/// a WARNING; group/other permission bits only warn.
pub fn read_pool_key_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        crate::pglog!(
            Severity::Warning,
            "pool key file \"{}\" is not a plain file",
            path.display()
        );
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        crate::pglog!(
            Severity::Warning,
            "pool key file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
    }
    let text = std::fs::read(path).ok()?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = &line[..line.len().min(255)];
    Some(String::from_utf8_lossy(line).into_owned())
}

/// Where the pool key file is: `-k FILE`, else `$PGPOOLKEYFILE`, else `~/.pgpoolkey`.
pub fn pool_key_path(cli: Option<&Path>) -> Option<std::path::PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PGPOOLKEYFILE") {
        return Some(p.into());
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpoolkey"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_are_typed_by_prefix() {
        let md5 = md5_password_hash("pw", "u");
        assert_eq!(
            StoredPassword::parse(&md5),
            StoredPassword::Md5(md5.clone())
        );
        assert_eq!(
            StoredPassword::parse("md5short"),
            StoredPassword::Plain("md5short".into())
        );
        assert_eq!(
            StoredPassword::parse("TEXTsecret"),
            StoredPassword::Plain("secret".into())
        );
        assert_eq!(
            StoredPassword::parse("AESabc="),
            StoredPassword::Aes("abc=".into())
        );
        assert!(matches!(
            StoredPassword::parse("SCRAM-SHA-256$4096:x$y:z"),
            StoredPassword::Scram(_)
        ));
        assert_eq!(
            StoredPassword::parse("plain"),
            StoredPassword::Plain("plain".into())
        );
        assert_eq!(
            format!("{:?}", StoredPassword::parse("secret")),
            "Plain(..)"
        );
    }

    #[test]
    fn md5_known_vectors() {
        // md5('postgres' || 'postgres'), the well-known PostgreSQL stored form.
        assert_eq!(
            md5_password_hash("postgres", "postgres"),
            "md53175bce1d3201d16594cebf9d7eb3f9d"
        );
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        // Cross-check the salted answer with postgres-protocol's client implementation.
        let salt = *b"\x01\x02\x03\x04";
        let want = postgres_protocol::authentication::md5_hash(b"alice", b"s3cret", salt);
        assert_eq!(
            md5_salted(&md5_password_hash("s3cret", "alice"), salt),
            want
        );
        let stored = StoredPassword::parse(&md5_password_hash("s3cret", "alice"));
        assert_eq!(
            stored.md5_form("alice").map(|m| md5_salted(&m, salt)),
            Some(want.clone())
        );
        assert_eq!(
            StoredPassword::Plain("s3cret".into())
                .md5_form("alice")
                .map(|m| md5_salted(&m, salt)),
            Some(want)
        );
    }

    #[test]
    fn aes_matches_pg_enc() {
        // spec/config.md §7.3: `pg_enc -K mykey secret` prints this.
        assert_eq!(aes_encrypt("secret", "mykey"), "V7IMV7YNworqqZU1Z46Wgw==");
        assert_eq!(
            aes_decrypt("V7IMV7YNworqqZU1Z46Wgw==", "mykey").unwrap(),
            "secret"
        );
        // A wrong key fails the padding check (or, rarely, yields garbage): never the secret.
        assert_ne!(
            aes_decrypt("V7IMV7YNworqqZU1Z46Wgw==", "other"),
            Ok("secret".to_string())
        );
        assert_eq!(aes_decrypt("***", "mykey"), Err(AesError::Base64));
        let s = StoredPassword::parse("AESV7IMV7YNworqqZU1Z46Wgw==");
        assert_eq!(
            s.decrypted(Some("mykey")).unwrap(),
            StoredPassword::Plain("secret".into())
        );
        assert_eq!(s.decrypted(None), Err(AesError::NoKey));
    }

    #[test]
    fn constant_time_eq_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn pool_key_file_first_line() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"mykey\nsecond\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_pool_key_file(&p).as_deref(), Some("mykey"));
        assert_eq!(read_pool_key_file(&dir.path().join("missing")), None);
        assert_eq!(read_pool_key_file(dir.path()), None);
        assert_eq!(pool_key_path(Some(&p)), Some(p.clone()));
    }
}
