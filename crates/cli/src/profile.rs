//! Where to connect and with which token: flags < environment < profile < defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// One named profile of `~/.config/clearance/config.toml`:
///
/// ```toml
/// [profiles.default]
/// application_endpoint = "http://127.0.0.1:50051"
/// reviewer_endpoint = "http://127.0.0.1:50052"
/// token_file = "/home/me/.config/clearance/token"
/// timeout_seconds = 30
/// # https endpoints signed by a private CA:
/// # ca_file = "/home/me/.config/clearance/ca.pem"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub application_endpoint: Option<String>,
    pub reviewer_endpoint: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub timeout_seconds: Option<u64>,
    /// CA certificate (PEM) that signed the server's certificate, for https endpoints signed
    /// by a private CA; without it the public web roots are trusted.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, Profile>,
}

/// The default location of the profiles file.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("clearance").join("config.toml"))
}

/// Reads profile `name` from `path` (absent file: empty profile; absent name: error unless
/// it is `default`).
pub fn load(path: Option<&std::path::Path>, name: &str) -> anyhow::Result<Profile> {
    let Some(path) = path.map(PathBuf::from).or_else(default_path) else {
        return Ok(Profile::default());
    };
    if !path.exists() {
        anyhow::ensure!(
            name == "default",
            "profile '{name}' requested but {} does not exist",
            path.display()
        );
        return Ok(Profile::default());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{} cannot be read: {e}", path.display()))?;
    let file: File =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match file.profiles.get(name) {
        Some(p) => Ok(p.clone()),
        None if name == "default" => Ok(Profile::default()),
        None => anyhow::bail!("no profile '{name}' in {}", path.display()),
    }
}

/// Connection settings after every layer.
#[derive(Debug, Clone)]
pub struct Settings {
    pub application_endpoint: String,
    pub reviewer_endpoint: String,
    pub token: Option<String>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

impl Profile {
    pub fn settings(
        self,
        application_endpoint: Option<String>,
        reviewer_endpoint: Option<String>,
        token: Option<String>,
        ca_file: Option<PathBuf>,
    ) -> anyhow::Result<Settings> {
        let token = match (token, self.token, self.token_file) {
            (Some(t), _, _) => Some(t),
            (None, Some(t), _) => Some(t),
            (None, None, Some(file)) => Some(
                std::fs::read_to_string(&file)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "the profile's token_file {} cannot be read: {e}",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        };
        Ok(Settings {
            application_endpoint: application_endpoint
                .or(self.application_endpoint)
                .unwrap_or_else(|| "http://127.0.0.1:50051".into()),
            reviewer_endpoint: reviewer_endpoint
                .or(self.reviewer_endpoint)
                .unwrap_or_else(|| "http://127.0.0.1:50052".into()),
            token,
            timeout: Duration::from_secs(self.timeout_seconds.unwrap_or(30)),
            ca_file: ca_file.or(self.ca_file),
        })
    }
}
