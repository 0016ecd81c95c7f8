//! Signed-in sessions: a random id in an HttpOnly, SameSite=Strict cookie names the person's
//! token and the CSRF token every form carries. Sessions live in this process and end at a
//! fixed time after sign-in or at sign-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;

/// The cookie that carries the session id.
pub const COOKIE: &str = "clearance_session";

/// One signed-in person.
#[derive(Clone)]
pub struct Session {
    pub id: String,
    /// The name the services know the person by (the token's `sub`).
    pub subject: String,
    /// How the person is shown on pages.
    pub display_name: String,
    pub roles: Vec<String>,
    /// The bearer token the reviewer service is called with.
    pub token: String,
    /// Every form posts this back; a post without it is refused.
    pub csrf: String,
    pub expires: Instant,
}

impl Session {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The sessions of this process.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create(
        &self,
        person: SignedInPerson,
        lifetime: Duration,
    ) -> Result<Session, getrandom::Error> {
        let SignedInPerson {
            subject,
            display_name,
            roles,
            token,
        } = person;
        let session = Session {
            id: random_token()?,
            subject,
            display_name,
            roles,
            token,
            csrf: random_token()?,
            expires: Instant::now() + lifetime,
        };
        let mut sessions = self.lock();
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// The live session the request's cookie names.
    pub fn find(&self, headers: &HeaderMap) -> Lookup {
        let Some(id) = cookie(headers) else {
            return Lookup::None;
        };
        let mut sessions = self.lock();
        match sessions.get(&id) {
            Some(s) if s.expires > Instant::now() => Lookup::Live(s.clone()),
            Some(_) => {
                sessions.remove(&id);
                Lookup::Expired
            }
            None => Lookup::Expired,
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// Who signed in, and the token to call the reviewer service with.
pub struct SignedInPerson {
    pub subject: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub token: String,
}

/// What a request's cookie leads to.
pub enum Lookup {
    Live(Session),
    /// A cookie naming a session that ended (expired, signed out, or another process's).
    Expired,
    None,
}

/// 256 random bits, URL-safe.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, COOKIE)
}

/// The value of cookie `name` in the request, if any.
pub fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The Set-Cookie value that starts a session.
pub fn set_cookie(session: &Session, lifetime: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        session.id,
        lifetime.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The cookie that ties a sign-in in progress to the browser that started it, so a sign-in
/// form or callback forged by another site (login CSRF) is refused. SameSite=Lax: the
/// identity provider's redirect back is a cross-site navigation.
pub const SIGN_IN_COOKIE: &str = "clearance_sign_in";

/// The Set-Cookie value for a sign-in in progress (ten minutes at most).
pub fn set_sign_in_cookie(value: &str, secure: bool) -> String {
    format!(
        "{SIGN_IN_COOKIE}={value}; Path=/sign-in; Max-Age=600; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The Set-Cookie value that ends a sign-in in progress.
pub fn clear_sign_in_cookie(secure: bool) -> String {
    format!(
        "{SIGN_IN_COOKIE}=; Path=/sign-in; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The Set-Cookie value that ends one.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub use clearance_auth::same_secret;

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str) -> SignedInPerson {
        SignedInPerson {
            subject: name.into(),
            display_name: name.into(),
            roles: vec![],
            token: "t".into(),
        }
    }

    #[test]
    fn sessions_end_at_their_time_and_at_sign_out() {
        let sessions = Sessions::default();
        let s = sessions
            .create(person("alice"), Duration::from_secs(60))
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={}", s.id).parse().unwrap(),
        );
        assert!(matches!(sessions.find(&headers), Lookup::Live(_)));
        sessions.end(&s.id);
        assert!(matches!(sessions.find(&headers), Lookup::Expired));
        let short = sessions.create(person("bob"), Duration::ZERO).unwrap();
        headers.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE}={}", short.id).parse().unwrap(),
        );
        assert!(matches!(sessions.find(&headers), Lookup::Expired));
        assert!(matches!(sessions.find(&HeaderMap::new()), Lookup::None));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert_ne!(random_token().unwrap(), random_token().unwrap());
        assert!(
            set_cookie(
                &Session {
                    id: "x".into(),
                    subject: String::new(),
                    display_name: String::new(),
                    roles: vec![],
                    token: String::new(),
                    csrf: String::new(),
                    expires: Instant::now()
                },
                Duration::from_secs(5),
                true
            )
            .contains("HttpOnly; SameSite=Strict; Secure")
        );
    }
}
