//! What a resolution pins: one artifact of a project's resolved tree (from a lockfile or
//! a package manager's dry run), as the install wrappers check it — looked up in the
//! verdict store by name, version and hash, or analyzed — before the real install may
//! fetch exactly those bytes. Each ecosystem makes its own (`npm::pinned_artifacts`,
//! `pypi::InstallReport::pinned`); what differs between them goes through the seam.

use airlock_events::{Ecosystem, PackageRef};

use crate::artifact::Input;
use crate::seam::by_id;

/// One artifact of the resolved tree.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    /// What the store is searched by and the analysis must match: npm's integrity
    /// string, or a PyPI file's sha256 hex.
    pub hash: Option<String>,
    /// How the sandbox gets it.
    pub input: Input,
    /// npm registry the tarball comes from.
    pub registry: Option<String>,
    /// Who pulls it in, from the root project.
    pub path: Vec<String>,
    /// A reason airlock cannot analyze it (not from a registry).
    pub unanalyzable: Option<String>,
    /// Download this exact file (checked against `hash`) and analyze it, instead of
    /// fetching `input` (pip's resolved distributions).
    pub fetch_url: Option<String>,
}

impl Pinned {
    /// `name@version`, `name==version`: as the ecosystem writes a pinned requirement.
    pub fn spec(&self) -> String {
        by_id(self.ecosystem).spec(&self.name, &self.version)
    }

    /// Why the analyzed bytes (`analyzed`, the analysis's package) are not the ones the
    /// resolution pinned, if they are not (and it pinned a hash).
    pub fn hash_mismatch(&self, analyzed: &PackageRef) -> Option<String> {
        let want = self.hash.as_deref()?;
        by_id(self.ecosystem).pinned_hash_mismatch(analyzed, want)
    }
}
