//! The users file (`--users FILE`, TOML): one role and an Argon2 password hash per user —
//! never the password itself.
//!
//! ```toml
//! [users.alice]
//! role = "analyst"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserEntry {
    pub role: Role,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsersFile {
    #[serde(default)]
    pub users: BTreeMap<String, UserEntry>,
}

impl UsersFile {
    /// Reads the file; a missing file is an error (the server must not start without users it
    /// was told to use).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read users file {}", path.display()), e))?;
        toml::from_str(&text).map_err(|e| {
            Error::invalid(format!("{}: {}", path.display(), e.to_string().trim_end()))
        })
    }

    /// Reads the file, or starts an empty one if it does not exist yet.
    pub fn load_or_new(path: &Path) -> Result<Self> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::default())
        }
    }

    /// Writes the file whole (temporary file + rename), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| Error::invalid(format!("cannot write users file: {e}")))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
        }
        std::fs::rename(&tmp, path)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    /// Adds or replaces a user.
    pub fn add(&mut self, name: &str, role: Role, password: &str) -> Result<()> {
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "'{name}' is not a valid user name: use letters, digits, '.', '_' or '-'"
            )));
        }
        if password.is_empty() {
            return Err(Error::invalid("the password must not be empty"));
        }
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| Error::invalid(format!("cannot make a salt: {e}")))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::invalid(format!("cannot hash the password: {e}")))?
            .to_string();
        self.users.insert(
            name.to_string(),
            UserEntry {
                role,
                password_hash: hash,
            },
        );
        Ok(())
    }

    /// The user's role when the password is right.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let entry = self.users.get(name)?;
        let hash = PasswordHash::new(&entry.password_hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|_| entry.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let mut users = UsersFile::load_or_new(&path).expect("new");
        users
            .add("alice", Role::Analyst, "s3cret:with colon")
            .expect("add");
        users.save(&path).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("$argon2id$"), "{text}");
        let users = UsersFile::load(&path).expect("load");
        assert_eq!(
            users.verify("alice", "s3cret:with colon"),
            Some(Role::Analyst)
        );
        assert_eq!(users.verify("alice", "wrong"), None);
        assert_eq!(users.verify("bob", "s3cret"), None);
        assert!(users.clone().add("a b", Role::Viewer, "x").is_err());
    }
}
