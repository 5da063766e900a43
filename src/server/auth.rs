//! Logging in: a Flight handshake with `authorization: Basic …` gets a bearer token that expires;
//! every later call carries `authorization: Bearer <token>`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, PAD_INDIFFERENT};
use tonic::Status;
use tonic::metadata::MetadataMap;

use super::users::UsersFile;
use crate::access::{Principal, Role};

/// Standard base64 that accepts missing padding (Go's Flight SQL client, used by ADBC, sends
/// `user:password` unpadded).
const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PAD_INDIFFERENT);

/// Who may log in, and the tokens handed out.
pub struct Auth {
    /// `None`: no users file — the server only listens on loopback and everyone is admin.
    users: Option<UsersFile>,
    ttl: Duration,
    min_group_size: u64,
    hide_drafts: bool,
    tokens: Mutex<HashMap<String, (Principal, Instant)>>,
}

/// Why a login failed (the user name, for the audit log).
pub struct LoginFailure {
    pub user: String,
    pub status: Status,
}

impl Auth {
    pub fn new(
        users: Option<UsersFile>,
        ttl: Duration,
        min_group_size: u64,
        hide_drafts: bool,
    ) -> Self {
        Self {
            users,
            ttl,
            min_group_size,
            hide_drafts,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn principal(&self, name: &str, role: Role) -> Principal {
        Principal {
            name: name.to_string(),
            role,
            min_group_size: if role == Role::Viewer {
                self.min_group_size
            } else {
                0
            },
            hide_drafts: self.hide_drafts,
        }
    }

    /// Checks `authorization: Basic …` and issues a token.
    pub fn login(&self, metadata: &MetadataMap) -> Result<(Principal, String), LoginFailure> {
        let (user, password) = match basic_credentials(metadata) {
            Some(c) => c,
            None if self.users.is_none() => (crate::access::audit::os_user(), String::new()),
            None => {
                return Err(LoginFailure {
                    user: String::new(),
                    status: Status::unauthenticated(
                        "log in with a user name and password (Basic authorization)",
                    ),
                });
            }
        };
        let role = match &self.users {
            None => Role::Admin,
            Some(users) => match users.verify(&user, &password) {
                Some(role) => role,
                None => {
                    return Err(LoginFailure {
                        user,
                        status: Status::unauthenticated("wrong user name or password"),
                    });
                }
            },
        };
        let principal = self.principal(&user, role);
        let token: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tokens.retain(|_, (_, expires)| *expires > now);
        tokens.insert(token.clone(), (principal.clone(), now + self.ttl));
        Ok((principal, token))
    }

    /// The principal of a call, from its bearer token. Without a users file a call without a
    /// token acts as the OS user (admin), so clients that skip the handshake still work.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        let bearer = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = bearer else {
            if self.users.is_none() {
                return Ok(self.principal(&crate::access::audit::os_user(), Role::Admin));
            }
            return Err(Status::unauthenticated(
                "no bearer token: log in first (Flight handshake with user name and password)",
            ));
        };
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match tokens.get(token) {
            Some((principal, expires)) if *expires > Instant::now() => Ok(principal.clone()),
            Some(_) => Err(Status::unauthenticated(
                "the session token has expired: log in again",
            )),
            None => Err(Status::unauthenticated(
                "unknown session token: log in again",
            )),
        }
    }
}

/// `user:password` from `authorization: Basic base64(user:password)`.
fn basic_credentials(metadata: &MetadataMap) -> Option<(String, String)> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str, padded: bool) -> MetadataMap {
        let mut m = MetadataMap::new();
        let engine = if padded {
            base64::engine::general_purpose::STANDARD
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD
        };
        let value = format!("Basic {}", engine.encode(user_pass));
        m.insert("authorization", value.parse().expect("header"));
        m
    }

    #[test]
    fn basic_login_issues_tokens_that_expire() {
        let mut users = UsersFile::default();
        users.add("ann", Role::Viewer, "pw:1").expect("add");
        let auth = Auth::new(Some(users), Duration::from_millis(200), 5, false);
        // Unpadded base64 (Go clients) and a colon in the password.
        let (p, token) = auth.login(&basic("ann:pw:1", false)).ok().expect("login");
        assert_eq!((p.role, p.min_group_size), (Role::Viewer, 5));
        let mut call = MetadataMap::new();
        call.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        assert_eq!(auth.authenticate(&call).expect("token").name, "ann");
        assert!(auth.login(&basic("ann:nope", true)).is_err());
        assert!(auth.authenticate(&MetadataMap::new()).is_err());
        std::thread::sleep(Duration::from_millis(250));
        let expired = auth.authenticate(&call).expect_err("expired");
        assert!(expired.message().contains("expired"));
    }
}
