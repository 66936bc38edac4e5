//! What the sink answers to an HTTP request. The goal is that the package takes its next
//! step and shows it to us: a dropper gets something it can run, a token stealer gets a
//! plausible API, a worm gets an npm registry that accepts its publish and a GitHub API
//! that lets it create repositories, and a cloud-credential thief gets the bait
//! credentials from an imitation of the AWS, GCP, Azure and ECS metadata services.
//! Pure function of the request and the [`BaitConfig`], so it is tested without sockets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::json;
use sha2::Digest;

use crate::bait::BaitConfig;
use crate::payloads;

/// The parts of a request the responder looks at.
#[derive(Debug, Clone)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// Host without port, lower case.
    pub host: &'a str,
    /// Path with query.
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Original destination of the connection.
    pub dst: SocketAddr,
    pub tls: bool,
}

impl RequestView<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path_only(&self) -> &str {
        self.path.split(['?', '#']).next().unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn json(status: u16, value: serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }

    fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// Standard reason phrase.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "OK",
    }
}

const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const ECS_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);

pub struct Responder {
    bait: BaitConfig,
}

impl Responder {
    pub fn new(bait: BaitConfig) -> Responder {
        Responder { bait }
    }

    pub fn respond(&self, req: &RequestView) -> Response {
        let dst_ip = req.dst.ip();
        let host = req.host;
        if dst_ip == IpAddr::V4(METADATA_V4)
            || host == "169.254.169.254"
            || host == "metadata.google.internal"
            || host == "metadata"
        {
            return self.metadata(req);
        }
        if dst_ip == IpAddr::V4(ECS_V4) || host == "169.254.170.2" {
            return self.ecs(req);
        }
        if host == "registry.npmjs.org"
            || host == "registry.yarnpkg.com"
            || host == "npm.pkg.github.com"
        {
            return self.npm(req);
        }
        if host == "api.github.com" {
            return self.github(req);
        }
        if host.ends_with("actions.githubusercontent.com") || req.path.contains("/idtoken/") {
            return Response::json(
                200,
                json!({"count": 1, "value": self.bait.actions_id_token}),
            );
        }
        if (host == "upload.pypi.org" || host == "test.pypi.org") && req.method == "POST" {
            return Response::new(200, "text/plain", "OK");
        }
        generic(req)
    }

    fn metadata(&self, req: &RequestView) -> Response {
        let b = &self.bait;
        let path = req.path_only();
        if path.starts_with("/computeMetadata/") {
            if !req
                .header("Metadata-Flavor")
                .is_some_and(|v| v.eq_ignore_ascii_case("Google"))
            {
                return Response::new(403, "text/html", "Missing Metadata-Flavor:Google header.")
                    .with_header("Metadata-Flavor", "Google");
            }
            let sa = "/computeMetadata/v1/instance/service-accounts/default";
            let r = match path.trim_end_matches('/') {
                p if p == format!("{sa}/token") => Response::json(
                    200,
                    json!({"access_token": b.gcp_access_token, "expires_in": 3599, "token_type": "Bearer"}),
                ),
                p if p == format!("{sa}/email") => {
                    Response::new(200, "application/text", b.gcp_service_account.clone())
                }
                p if p == sa => Response::new(
                    200,
                    "application/text",
                    "aliases\nemail\nidentity\nscopes\ntoken\n",
                ),
                "/computeMetadata/v1/instance/service-accounts" => Response::new(
                    200,
                    "application/text",
                    format!("default/\n{}/\n", b.gcp_service_account),
                ),
                "/computeMetadata/v1/project/project-id" => {
                    Response::new(200, "application/text", b.gcp_project_id.clone())
                }
                "/computeMetadata/v1/instance/hostname" => Response::new(
                    200,
                    "application/text",
                    format!("instance-1.c.{}.internal", b.gcp_project_id),
                ),
                _ => Response::new(404, "text/html", "Not Found"),
            };
            return r.with_header("Metadata-Flavor", "Google");
        }
        if path.starts_with("/metadata/") {
            if !req
                .header("Metadata")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                return Response::json(
                    400,
                    json!({"error": "Bad request. Required metadata header not specified"}),
                );
            }
            if path.starts_with("/metadata/identity/oauth2/token") {
                return Response::json(
                    200,
                    json!({"access_token": b.azure_access_token, "expires_in": "3599", "token_type": "Bearer",
                           "resource": "https://management.azure.com/"}),
                );
            }
            return Response::json(
                200,
                json!({"compute": {"location": "eastus", "name": "vm-1", "vmId": b.aws_instance_id}}),
            );
        }
        // AWS IMDS.
        if path == "/latest/api/token" {
            if req.method != "PUT" {
                return Response::new(405, "text/plain", "");
            }
            let ttl = req
                .header("X-aws-ec2-metadata-token-ttl-seconds")
                .unwrap_or("21600")
                .to_string();
            return Response::new(200, "text/plain", b.aws_imds_token.clone())
                .with_header("X-aws-ec2-metadata-token-ttl-seconds", &ttl);
        }
        if b.aws_require_imdsv2
            && req.header("X-aws-ec2-metadata-token") != Some(b.aws_imds_token.as_str())
        {
            return Response::new(401, "text/plain", "");
        }
        let creds_prefix = "/latest/meta-data/iam/security-credentials";
        let text = |s: String| Response::new(200, "text/plain", s);
        match path.trim_end_matches('/') {
            "/latest/meta-data" => text(
                "ami-id\nhostname\niam/\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\nsecurity-groups\n".into(),
            ),
            "/latest/meta-data/iam" => text("info\nsecurity-credentials/\n".into()),
            p if p == creds_prefix => text(b.aws_role.clone()),
            p if p.starts_with(creds_prefix) => Response::json(
                200,
                json!({"Code": "Success", "LastUpdated": "2024-01-01T00:00:00Z", "Type": "AWS-HMAC",
                       "AccessKeyId": b.aws_access_key_id, "SecretAccessKey": b.aws_secret_access_key,
                       "Token": b.aws_session_token, "Expiration": "2099-01-01T00:00:00Z"}),
            ),
            "/latest/meta-data/iam/info" => Response::json(
                200,
                json!({"Code": "Success", "InstanceProfileArn":
                       format!("arn:aws:iam::{}:instance-profile/{}", b.aws_account_id, b.aws_role)}),
            ),
            "/latest/meta-data/instance-id" => text(b.aws_instance_id.clone()),
            "/latest/meta-data/instance-type" => text("t3.medium".into()),
            "/latest/meta-data/ami-id" => text("ami-0a1r10c4000000000".into()),
            "/latest/meta-data/hostname" | "/latest/meta-data/local-hostname" => {
                text("ip-10-0-0-12.ec2.internal".into())
            }
            "/latest/meta-data/local-ipv4" => text("10.0.0.12".into()),
            "/latest/meta-data/placement/region" => text(b.aws_region.clone()),
            "/latest/meta-data/placement/availability-zone" => text(format!("{}a", b.aws_region)),
            "/latest/dynamic/instance-identity/document" => Response::json(
                200,
                json!({"accountId": b.aws_account_id, "instanceId": b.aws_instance_id, "region": b.aws_region,
                       "availabilityZone": format!("{}a", b.aws_region), "instanceType": "t3.medium"}),
            ),
            _ => Response::new(404, "text/html", "<html><body><h1>404 - Not Found</h1></body></html>"),
        }
    }

    fn ecs(&self, req: &RequestView) -> Response {
        let b = &self.bait;
        if req.path_only().starts_with("/v2/credentials") {
            return Response::json(
                200,
                json!({"RoleArn": format!("arn:aws:iam::{}:role/{}", b.aws_account_id, b.aws_role),
                       "AccessKeyId": b.aws_access_key_id, "SecretAccessKey": b.aws_secret_access_key,
                       "Token": b.aws_session_token, "Expiration": "2099-01-01T00:00:00Z"}),
            );
        }
        Response::json(200, json!({}))
    }

    fn npm(&self, req: &RequestView) -> Response {
        let b = &self.bait;
        let path = req.path_only();
        let scheme = if req.tls { "https" } else { "http" };
        if path == "/-/whoami" {
            return Response::json(200, json!({"username": b.npm_username}));
        }
        if path.starts_with("/-/v1/search") {
            let objects: Vec<_> = b
                .npm_packages
                .iter()
                .map(|p| json!({"package": {"name": p, "version": "1.0.0",
                    "maintainers": [{"username": b.npm_username}], "publisher": {"username": b.npm_username}}}))
                .collect();
            let total = objects.len();
            return Response::json(
                200,
                json!({"objects": objects, "total": total, "time": "2024-01-01T00:00:00Z"}),
            );
        }
        if path.starts_with("/-/npm/v1/tokens") {
            return Response::json(200, json!({"objects": [], "total": 0}));
        }
        if path.starts_with("/-/") {
            return Response::json(200, json!({}));
        }
        let name = percent_decode(path.trim_start_matches('/'));
        if req.method == "PUT" || req.method == "POST" {
            // Publish (`PUT /<name>`) or dist-tag/owner changes: accept.
            let pkg = name.split("/-rev/").next().unwrap_or(&name).to_string();
            return Response::json(
                200,
                json!({"ok": true, "id": pkg, "rev": "1-airlock", "success": true}),
            );
        }
        if req.method == "DELETE" {
            return Response::json(200, json!({"ok": true}));
        }
        if let Some((pkg, file)) = name.split_once("/-/") {
            let version = file
                .trim_end_matches(".tgz")
                .rsplit_once('-')
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| "1.0.0".into());
            return Response::new(
                200,
                "application/octet-stream",
                payloads::npm_tarball(pkg, &version),
            );
        }
        let tarball = payloads::npm_tarball(&name, "1.0.0");
        let shasum = hex::encode(sha1::Sha1::digest(&tarball));
        let integrity = {
            use base64::Engine;
            format!(
                "sha512-{}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
            )
        };
        let base = name.rsplit('/').next().unwrap_or(&name);
        Response::json(
            200,
            json!({"_id": name, "name": name, "dist-tags": {"latest": "1.0.0"},
                   "maintainers": [{"name": b.npm_username}],
                   "versions": {"1.0.0": {"name": name, "version": "1.0.0",
                       "dist": {"tarball": format!("{scheme}://{}/{name}/-/{base}-1.0.0.tgz", req.host),
                                "shasum": shasum, "integrity": integrity}}}}),
        )
    }

    fn github(&self, req: &RequestView) -> Response {
        let b = &self.bait;
        let path = req.path_only().trim_end_matches('/');
        let login = b.github_login.as_str();
        let repo_json = |name: &str| {
            json!({"id": 1, "name": name, "full_name": format!("{login}/{name}"), "private": false,
                   "owner": {"login": login, "id": 1},
                   "html_url": format!("https://github.com/{login}/{name}"),
                   "clone_url": format!("https://github.com/{login}/{name}.git"),
                   "default_branch": "main"})
        };
        let scopes = b.github_scopes.clone();
        let r = match (req.method, path) {
            ("GET", "/user") => Response::json(
                200,
                json!({"login": login, "id": 1, "type": "User", "name": login, "email": null}),
            ),
            ("GET", "/user/repos") | ("GET", "/user/orgs") => Response::json(200, json!([])),
            ("POST", "/user/repos") => {
                let name = serde_json::from_slice::<serde_json::Value>(req.body)
                    .ok()
                    .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "repo".into());
                Response::json(201, repo_json(&name))
            }
            ("POST", "/graphql") => Response::json(200, json!({"data": {}})),
            (m, p) if p.starts_with("/repos/") => {
                let parts: Vec<&str> = p.split('/').collect();
                let repo = parts.get(3).copied().unwrap_or("repo");
                if p.contains("/actions/workflows/") && p.ends_with("/dispatches") {
                    Response::new(204, "application/json", "")
                } else if p.contains("/contents/") && m == "PUT" {
                    Response::json(
                        201,
                        json!({"content": {"path": p.split("/contents/").nth(1).unwrap_or(""), "sha": "0000000000000000000000000000000000000001"},
                               "commit": {"sha": "0000000000000000000000000000000000000002"}}),
                    )
                } else if m == "POST" || m == "PUT" || m == "PATCH" {
                    Response::json(
                        201,
                        json!({"sha": "0000000000000000000000000000000000000003", "id": 1}),
                    )
                } else if parts.len() == 4 {
                    Response::json(200, repo_json(repo))
                } else {
                    Response::json(200, json!([]))
                }
            }
            ("GET", _) => Response::json(200, json!({})),
            _ => Response::json(200, json!({})),
        };
        r.with_header("X-OAuth-Scopes", &scopes)
            .with_header("X-GitHub-Media-Type", "github.v3")
    }
}

/// By path extension and Accept: something the client can use and that does nothing.
pub fn generic(req: &RequestView) -> Response {
    let path = req.path_only().to_ascii_lowercase();
    let last = path.rsplit('/').next().unwrap_or("");
    let ext = last.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let accept = req.header("Accept").unwrap_or("").to_ascii_lowercase();
    if req.method == "HEAD" || req.method == "OPTIONS" {
        return Response::new(200, "text/plain", "");
    }
    match ext {
        "sh" | "bash" => return Response::new(200, "text/x-shellscript", payloads::SHELL_SCRIPT),
        "ps1" | "bat" | "cmd" => return Response::new(200, "text/plain", "exit 0\r\n"),
        "py" => return Response::new(200, "text/x-python", "pass\n"),
        "js" | "mjs" | "cjs" => {
            return Response::new(200, "application/javascript", "module.exports = {};\n")
        }
        "exe" | "dll" | "scr" => {
            return Response::new(200, "application/octet-stream", payloads::mz_stub())
        }
        "bin" | "elf" | "run" | "out" | "so" | "x86_64" | "amd64" | "arm64" | "aarch64" => {
            return Response::new(200, "application/octet-stream", payloads::tiny_elf())
        }
        "zip" | "jar" | "whl" | "nupkg" | "apk" => {
            return Response::new(200, "application/zip", payloads::empty_zip())
        }
        "tgz" | "gz" | "tar" => {
            return Response::new(200, "application/gzip", payloads::empty_targz())
        }
        "json" => return Response::json(200, json!({})),
        "txt" => return Response::new(200, "text/plain", ""),
        _ => {}
    }
    if accept.contains("application/octet-stream") && ext.is_empty() {
        return Response::new(200, "application/octet-stream", payloads::tiny_elf());
    }
    if accept.contains("json")
        || path.starts_with("/api")
        || path.contains("/v1/")
        || path.contains("/v2/")
        || matches!(req.method, "POST" | "PUT" | "PATCH" | "DELETE")
    {
        return Response::json(200, json!({}));
    }
    Response::new(
        200,
        "text/html; charset=utf-8",
        "<!doctype html><html><head><title>OK</title></head><body></body></html>\n",
    )
}

/// Decodes `%xx` escapes (npm scoped names arrive as `@scope%2fname`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hexval = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hexval(bytes[i + 1]), hexval(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        host: &'a str,
        path: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> RequestView<'a> {
        RequestView {
            method,
            host,
            path,
            headers,
            body,
            dst: "198.18.0.1:443".parse().unwrap(),
            tls: true,
        }
    }

    fn h(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn imds_v2_flow_serves_configured_credentials() {
        let bait = BaitConfig {
            aws_access_key_id: "ASIACANARY42".into(),
            aws_require_imdsv2: true,
            ..Default::default()
        };
        let r = Responder::new(bait.clone());
        let mut q = req("PUT", "169.254.169.254", "/latest/api/token", &[], b"");
        q.dst = "169.254.169.254:80".parse().unwrap();
        let ttl = [h("X-aws-ec2-metadata-token-ttl-seconds", "60")];
        q.headers = &ttl;
        let token = r.respond(&q);
        assert_eq!(token.status, 200);
        let token = String::from_utf8(token.body).unwrap();
        // Without the token: refused when v2 is required.
        q.method = "GET";
        q.headers = &[];
        q.path = "/latest/meta-data/iam/security-credentials/";
        assert_eq!(r.respond(&q).status, 401);
        let with = [h("X-aws-ec2-metadata-token", &token)];
        q.headers = &with;
        let role = r.respond(&q);
        assert_eq!(String::from_utf8(role.body).unwrap(), bait.aws_role);
        let p = format!(
            "/latest/meta-data/iam/security-credentials/{}",
            bait.aws_role
        );
        q.path = &p;
        let creds: serde_json::Value = serde_json::from_slice(&r.respond(&q).body).unwrap();
        assert_eq!(creds["AccessKeyId"], "ASIACANARY42");
        assert_eq!(
            creds["SecretAccessKey"],
            bait.aws_secret_access_key.as_str()
        );
    }

    #[test]
    fn gcp_needs_flavor_header() {
        let r = Responder::new(BaitConfig {
            gcp_access_token: "ya29.CANARY".into(),
            ..Default::default()
        });
        let path = "/computeMetadata/v1/instance/service-accounts/default/token";
        let q = req("GET", "metadata.google.internal", path, &[], b"");
        assert_eq!(r.respond(&q).status, 403);
        let hs = [h("Metadata-Flavor", "Google")];
        let q = req("GET", "metadata.google.internal", path, &hs, b"");
        let resp = r.respond(&q);
        assert_eq!(resp.status, 200);
        assert!(String::from_utf8(resp.body)
            .unwrap()
            .contains("ya29.CANARY"));
    }

    #[test]
    fn npm_worm_shapes() {
        let r = Responder::new(BaitConfig {
            npm_username: "victim".into(),
            ..Default::default()
        });
        let who = r.respond(&req("GET", "registry.npmjs.org", "/-/whoami", &[], b""));
        let v: serde_json::Value = serde_json::from_slice(&who.body).unwrap();
        assert_eq!(v["username"], "victim");
        let publ = r.respond(&req(
            "PUT",
            "registry.npmjs.org",
            "/@scope%2fpkg",
            &[],
            b"{}",
        ));
        let v: serde_json::Value = serde_json::from_slice(&publ.body).unwrap();
        assert_eq!(
            (publ.status, v["ok"].as_bool(), v["id"].as_str()),
            (200, Some(true), Some("@scope/pkg"))
        );
        let doc = r.respond(&req("GET", "registry.npmjs.org", "/left-pad", &[], b""));
        let v: serde_json::Value = serde_json::from_slice(&doc.body).unwrap();
        let tarball = v["versions"]["1.0.0"]["dist"]["tarball"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            tarball,
            "https://registry.npmjs.org/left-pad/-/left-pad-1.0.0.tgz"
        );
        let tgz = r.respond(&req(
            "GET",
            "registry.npmjs.org",
            "/left-pad/-/left-pad-1.0.0.tgz",
            &[],
            b"",
        ));
        assert_eq!(
            hex::encode(sha1::Sha1::digest(&tgz.body)),
            v["versions"]["1.0.0"]["dist"]["shasum"].as_str().unwrap()
        );
    }

    #[test]
    fn github_shapes() {
        let r = Responder::new(BaitConfig {
            github_login: "octo".into(),
            ..Default::default()
        });
        let u = r.respond(&req("GET", "api.github.com", "/user", &[], b""));
        assert!(u
            .headers
            .iter()
            .any(|(k, v)| k == "X-OAuth-Scopes" && v.contains("repo")));
        let body = br#"{"name":"Shai-Hulud","private":false}"#;
        let created = r.respond(&req("POST", "api.github.com", "/user/repos", &[], body));
        assert_eq!(created.status, 201);
        let v: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
        assert_eq!(v["full_name"], "octo/Shai-Hulud");
        let put = r.respond(&req(
            "PUT",
            "api.github.com",
            "/repos/octo/x/contents/data.json",
            &[],
            b"{}",
        ));
        assert_eq!(put.status, 201);
        let d = r.respond(&req(
            "POST",
            "api.github.com",
            "/repos/octo/x/actions/workflows/a.yml/dispatches",
            &[],
            b"{}",
        ));
        assert_eq!(d.status, 204);
    }

    #[test]
    fn generic_by_extension_and_accept() {
        let r = Responder::new(BaitConfig::default());
        let g = |path: &str, hs: &[(String, String)]| {
            r.respond(&req("GET", "cdn.example", path, hs, b""))
        };
        assert_eq!(g("/install.sh", &[]).body, payloads::SHELL_SCRIPT);
        assert_eq!(&g("/payload.bin", &[]).body[..4], b"\x7fELF");
        assert_eq!(&g("/x.exe", &[]).body[..2], b"MZ");
        assert_eq!(g("/a.zip", &[]).body, payloads::empty_zip());
        assert_eq!(g("/api/thing", &[]).body, b"{}");
        assert_eq!(
            g("/x", &[h("Accept", "application/json")]).content_type,
            "application/json"
        );
        assert!(g("/", &[]).content_type.starts_with("text/html"));
        assert_eq!(
            &g(
                "/download/agent",
                &[h("Accept", "application/octet-stream")]
            )
            .body[..4],
            b"\x7fELF"
        );
        assert_eq!(percent_decode("@a%2Fb%zz%"), "@a/b%zz%");
    }
}
