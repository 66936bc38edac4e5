//! The bait the sink serves: fake cloud credentials for the metadata services, the
//! identities the npm registry and GitHub API answer with, and DNS policy. The
//! orchestrator writes this as JSON (`--config`) with the run's canary values, so a
//! package that steals them from the metadata service and sends them out is caught by
//! the canary search. Every field is optional; the defaults are harmless and obviously
//! fake.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::SinkError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaitConfig {
    /// IAM role name the AWS metadata service lists.
    pub aws_role: String,
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
    pub aws_session_token: String,
    pub aws_region: String,
    pub aws_account_id: String,
    pub aws_instance_id: String,
    /// Token handed out by `PUT /latest/api/token` (IMDSv2).
    pub aws_imds_token: String,
    /// When true, IMDSv1 requests (no token header) are refused with 401 as on hardened
    /// instances; default false so that a v1 thief gets, and reveals, the credentials.
    pub aws_require_imdsv2: bool,
    pub gcp_project_id: String,
    pub gcp_service_account: String,
    pub gcp_access_token: String,
    pub azure_access_token: String,
    /// Value returned for a GitHub Actions OIDC token request.
    pub actions_id_token: String,
    /// `GET /-/whoami` answer of the npm registry.
    pub npm_username: String,
    /// Packages the fake npm user maintains (search results), so a worm proceeds to
    /// download and re-publish one and we see the publish.
    pub npm_packages: Vec<String>,
    /// `GET /user` login of the GitHub API.
    pub github_login: String,
    /// `X-OAuth-Scopes` the GitHub API reports for any token.
    pub github_scopes: String,
    /// DNS suffixes answered NXDOMAIN (sandbox checks look up names that must not exist).
    pub dns_nxdomain_suffixes: Vec<String>,
}

impl Default for BaitConfig {
    fn default() -> Self {
        BaitConfig {
            aws_role: "airlock-instance-role".into(),
            aws_access_key_id: "ASIAAIRLOCKFAKEKEY00".into(),
            aws_secret_access_key: "airlockFakeSecretAccessKey0000000000000000".into(),
            aws_session_token: "airlock-fake-session-token".into(),
            aws_region: "us-east-1".into(),
            aws_account_id: "000000000000".into(),
            aws_instance_id: "i-0a1r10c4000000000".into(),
            aws_imds_token: "airlock-fake-imds-token".into(),
            aws_require_imdsv2: false,
            gcp_project_id: "airlock-project".into(),
            gcp_service_account: "default@airlock-project.iam.gserviceaccount.com".into(),
            gcp_access_token: "ya29.airlock-fake-gcp-token".into(),
            azure_access_token: "airlock-fake-azure-token".into(),
            actions_id_token: "airlock.fake.oidc-token".into(),
            npm_username: "airlock-user".into(),
            npm_packages: vec!["airlock-example-utils".into()],
            github_login: "airlock-user".into(),
            github_scopes: "repo, workflow, write:packages, read:org".into(),
            dns_nxdomain_suffixes: vec![".invalid".into(), ".local".into(), ".onion".into()],
        }
    }
}

impl BaitConfig {
    /// Reads the JSON config; missing fields take their defaults.
    pub fn load(path: &Path) -> Result<BaitConfig, SinkError> {
        let text = std::fs::read_to_string(path).map_err(|source| SinkError::Config {
            path: path.to_path_buf(),
            message: source.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| SinkError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_config_keeps_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bait.json");
        std::fs::write(
            &path,
            r#"{"aws_access_key_id":"ASIACANARY123","npm_username":"victim"}"#,
        )
        .unwrap();
        let c = BaitConfig::load(&path).unwrap();
        assert_eq!(c.aws_access_key_id, "ASIACANARY123");
        assert_eq!(c.npm_username, "victim");
        assert_eq!(c.aws_role, BaitConfig::default().aws_role);
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            BaitConfig::load(&path),
            Err(SinkError::Config { .. })
        ));
    }
}
