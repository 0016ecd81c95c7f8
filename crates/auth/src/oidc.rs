//! Signing people in through an OpenID Connect provider: the authorization code flow with
//! PKCE (RFC 7636, S256), a `state` bound to the browser that started it and a `nonce` bound
//! to the ID token. The ID token is verified against the provider's published keys; its claims
//! name the person and their Clearance roles. The access token from the same exchange is what
//! the services are called with, so they, not the caller of this module, decide what the
//! person may do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use clearance_domain::access::Role;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::jwks::{JwksSource, KeySet};
use crate::verifier::{Verifier, VerifierConfig};

/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery document or token response read.
const MAX_PROVIDER_RESPONSE_BYTES: usize = 256 * 1024;

/// The relying party's registration with the provider, and how its claims name roles.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Sent with the code exchange (client_secret_post) when set; a public client relies on
    /// PKCE alone.
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back, registered with it.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The claim that lists the person's roles or groups; dots reach into objects, e.g.
    /// `realm_access.roles`.
    pub roles_claim: String,
    /// The provider's role or group names that mean a Clearance role, e.g.
    /// `"export-senior" = "senior_reviewer"`. Names not listed count as themselves.
    pub role_names: HashMap<String, String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(redacted)"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("roles_claim", &self.roles_claim)
            .field("role_names", &self.role_names)
            .finish()
    }
}

/// Why signing in through the provider failed. The messages are safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or answered unexpectedly: {0}")]
    Provider(String),
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the identity token does not check out: {0}")]
    Token(String),
    #[error("signing in failed: {0}")]
    Local(String),
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// A provider found through discovery, with its keys loaded.
pub struct OidcProvider {
    settings: OidcSettings,
    authorization_endpoint: reqwest::Url,
    token_endpoint: String,
    id_tokens: Verifier,
    http: reqwest::Client,
    _key_refresh: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self._key_refresh.abort();
    }
}

/// A sign-in on its way through the provider: what the callback must match and send.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

/// Who signed in, and the token to call the services with.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The `sub` claim: the name the services know the person by.
    pub subject: String,
    /// `name`, else `preferred_username`, else the subject.
    pub display_name: String,
    /// The Clearance roles the ID token's claims map to (unknown names left out).
    pub roles: Vec<Role>,
    pub access_token: String,
    /// Seconds the access token is valid for, when the provider says.
    pub expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// 256 random bits, base64url without padding (43 characters, as PKCE wants).
fn random_value() -> Result<String, OidcError> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| OidcError::Local(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 code challenge of a PKCE verifier.
pub fn code_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, OidcError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_PROVIDER_RESPONSE_BYTES as u64)
    {
        return Err(OidcError::Provider("the answer is too large".into()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| OidcError::Provider(e.to_string()))?;
    if bytes.len() > MAX_PROVIDER_RESPONSE_BYTES {
        return Err(OidcError::Provider("the answer is too large".into()));
    }
    Ok(bytes.to_vec())
}

impl OidcProvider {
    /// Reads the provider's discovery document and key set.
    pub async fn discover(settings: OidcSettings) -> Result<OidcProvider, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // The token endpoint must answer itself, not send the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Local(e.to_string()))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let response = http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| OidcError::Provider(format!("discovery at {url}: {e}")))?;
        let discovery: Discovery = serde_json::from_slice(&read_limited(response).await?)
            .map_err(|e| OidcError::Provider(format!("discovery at {url}: {e}")))?;
        // OpenID Connect Discovery §4.3: the document speaks for exactly this issuer.
        if discovery.issuer != settings.issuer {
            return Err(OidcError::Provider(format!(
                "discovery names issuer '{}', not the configured '{}'",
                discovery.issuer, settings.issuer
            )));
        }
        if let Some(methods) = &discovery.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(OidcError::Provider(
                "the provider does not support PKCE with S256".into(),
            ));
        }
        let authorization_endpoint = reqwest::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Provider(format!("authorization_endpoint: {e}")))?;
        let key_set = Arc::new(
            KeySet::load(
                JwksSource::Url(discovery.jwks_uri.clone()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| OidcError::Provider(e.to_string()))?,
        );
        let key_refresh = key_set.spawn_refresh(Duration::from_secs(300));
        let id_tokens = Verifier::new(VerifierConfig {
            issuer: settings.issuer.clone(),
            audience: settings.client_id.clone(),
            keys: Vec::new(),
            leeway_seconds: 60,
            development_mode: false,
            key_set: Some(key_set),
        })
        .map_err(|e| OidcError::Local(e.to_string()))?;
        Ok(OidcProvider {
            settings,
            authorization_endpoint,
            token_endpoint: discovery.token_endpoint,
            id_tokens,
            http,
            _key_refresh: key_refresh,
        })
    }

    /// A new sign-in: what to remember until the callback, and where to send the browser.
    pub fn begin(&self) -> Result<(PendingSignIn, String), OidcError> {
        let pending = PendingSignIn {
            state: random_value()?,
            nonce: random_value()?,
            code_verifier: random_value()?,
        };
        let mut url = self.authorization_endpoint.clone();
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(
            self.settings
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .cloned(),
        );
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &code_challenge(&pending.code_verifier))
            .append_pair("code_challenge_method", "S256");
        Ok((pending, url.to_string()))
    }

    /// Exchanges the callback's code for tokens and reads who signed in from the ID token.
    pub async fn finish(&self, code: &str, pending: &PendingSignIn) -> Result<SignedIn, OidcError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("client_id", self.settings.client_id.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let response = self
            .http
            .post(&self.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("token endpoint: {e}")))?;
        let status = response.status();
        let body = read_limited(response).await?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorResponse>(&body) {
                Ok(e) => OidcError::Refused(match e.error_description {
                    Some(d) => format!("{}: {}", e.error, d.chars().take(200).collect::<String>()),
                    None => e.error,
                }),
                Err(_) => OidcError::Provider(format!("token endpoint answered {status}")),
            });
        }
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Provider(format!("token response: {e}")))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| OidcError::Provider("the token response has no id_token".into()))?;
        let claims: serde_json::Value = self
            .id_tokens
            .verified_claims(&id_token)
            .await
            .map_err(|e| OidcError::Token(e.to_string()))?;
        self.signed_in(&claims, pending, tokens.access_token, tokens.expires_in)
    }

    fn signed_in(
        &self,
        claims: &serde_json::Value,
        pending: &PendingSignIn,
        access_token: String,
        expires_in: Option<u64>,
    ) -> Result<SignedIn, OidcError> {
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
        // The nonce ties the token to this browser's sign-in: a token replayed from another
        // sign-in carries another.
        match text("nonce") {
            Some(nonce) if crate::same_secret(nonce, &pending.nonce) => {}
            _ => return Err(OidcError::Token("its nonce is not this sign-in's".into())),
        }
        // OpenID Connect Core §3.1.3.7: with several audiences, azp must name this client.
        if let Some(azp) = text("azp")
            && azp != self.settings.client_id
        {
            return Err(OidcError::Token(
                "it was issued to another client (azp)".into(),
            ));
        }
        let subject = text("sub")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| OidcError::Token("it names no subject".into()))?
            .to_owned();
        let display_name = text("name")
            .or_else(|| text("preferred_username"))
            .unwrap_or(&subject)
            .chars()
            .take(100)
            .collect();
        Ok(SignedIn {
            roles: roles_in(claims, &self.settings),
            subject,
            display_name,
            access_token,
            expires_in,
        })
    }
}

/// The Clearance roles the configured claim lists, through the configured names; names that
/// mean no Clearance role (a provider's other groups) are left out.
pub fn roles_in(claims: &serde_json::Value, settings: &OidcSettings) -> Vec<Role> {
    let mut value = Some(claims);
    for part in settings.roles_claim.split('.') {
        value = value.and_then(|v| v.get(part));
    }
    let names: Vec<&str> = match value {
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        Some(serde_json::Value::String(one)) => one.split_whitespace().collect(),
        _ => Vec::new(),
    };
    let mut roles = Vec::new();
    for name in names {
        let mapped = settings
            .role_names
            .get(name)
            .map(String::as_str)
            .unwrap_or(name);
        if let Some(role) = Role::parse(mapped)
            && !roles.contains(&role)
        {
            roles.push(role);
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example".into(),
            client_id: "console".into(),
            client_secret: Some("s3cret".into()),
            redirect_url: "https://console.example/sign-in/callback".into(),
            scopes: vec!["profile".into()],
            roles_claim: "realm_access.roles".into(),
            role_names: HashMap::from([("export-senior".into(), "senior_reviewer".into())]),
        }
    }

    #[test]
    fn roles_come_from_the_configured_claim_through_the_configured_names() {
        let claims = serde_json::json!({
            "realm_access": {"roles": ["offline_access", "export-senior", "auditor", "auditor"]}
        });
        assert_eq!(
            roles_in(&claims, &settings()),
            vec![Role::SeniorReviewer, Role::Auditor]
        );
        let mut flat = settings();
        flat.roles_claim = "scope_roles".into();
        let claims = serde_json::json!({"scope_roles": "reviewer unknown"});
        assert_eq!(roles_in(&claims, &flat), vec![Role::Reviewer]);
        assert!(roles_in(&serde_json::json!({}), &settings()).is_empty());
        assert!(roles_in(&serde_json::json!({"realm_access": 5}), &settings()).is_empty());
    }

    #[test]
    fn pkce_challenges_follow_rfc_7636() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = random_value().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_value().unwrap());
    }

    #[test]
    fn the_client_secret_is_not_printed() {
        assert!(!format!("{:?}", settings()).contains("s3cret"));
    }
}
